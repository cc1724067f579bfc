#!/bin/sh
# Install branch 7's systemd units for a checkout (docs/operations.md, "Running it as a service").
#   deploy/systemd/install.sh [--dir /opt/branch7] [--user branch7] [--dest /etc/systemd/system] [--units-only]
# The units name /opt/branch7 and the user branch7; this rewrites both, creates the folders the
# service may write (var/, .rasa/, data/recordings/) owned by that user, and writes the units to
# --dest. It starts nothing: then `systemctl daemon-reload && systemctl enable --now branch7-gateway`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$(cd "$here/../.." && pwd)
user=branch7
dest=/etc/systemd/system
folders=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$(cd "$2" && pwd); shift 2 ;;
    --user) user=$2; shift 2 ;;
    --dest) dest=$2; shift 2 ;;
    --units-only) folders=no; shift ;;   # only write the units (tests, a review before installing)
    *) echo "usage: $0 [--dir DIR] [--user USER] [--dest UNIT_DIR] [--units-only]" >&2; exit 2 ;;
  esac
done
case "$dir$user" in *[!A-Za-z0-9/._-]*) echo "error: --dir and --user: letters, digits, / . _ - only" >&2; exit 2 ;; esac
if ! id "$user" >/dev/null 2>&1; then
  echo "error: no user '$user' (create it: useradd --system --home-dir $dir --shell /usr/sbin/nologin $user)" >&2
  exit 2
fi
[ -x "$dir/.venv/bin/bot" ] || echo "warning: $dir/.venv/bin/bot is missing: run 'make install' in $dir first" >&2
mkdir -p "$dest"
if [ "$folders" = yes ]; then
  mkdir -p "$dir/var/home" "$dir/.rasa" "$dir/data/recordings"
  if [ "$(id -u)" = 0 ]; then chown -R "$user:" "$dir/var" "$dir/.rasa" "$dir/data/recordings"; fi
fi
group=$(id -gn "$user")
for unit in branch7-gateway.service branch7-rasa.service; do
  sed -e "s#/opt/branch7#$dir#g" -e "s#^User=branch7\$#User=$user#" -e "s#^Group=branch7\$#Group=$group#" \
    "$here/$unit" > "$dest/$unit"
  echo "wrote $dest/$unit"
done
echo "next: systemctl daemon-reload && systemctl enable --now branch7-gateway (and branch7-rasa, optional)"
