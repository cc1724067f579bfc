#!/usr/bin/env bash
# Print the path of a Python interpreter of the wanted minor version (e.g. 3.10), or explain how
# to get one. Rasa Open Source 3.6 supports Python 3.8-3.10 only, hence a separate interpreter.
set -u
want=${1:?usage: find-python.sh 3.10}
candidates=("python$want")
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for d in "$root"/versions/"$want".*; do [ -x "$d/bin/python" ] && candidates+=("$d/bin/python"); done
fi
candidates+=("/usr/bin/python$want" "/usr/local/bin/python$want" "python3")
for c in "${candidates[@]}"; do
  p=$(command -v "$c" 2>/dev/null) || continue
  v=$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
  if [ "$v" = "$want" ]; then echo "$p"; exit 0; fi
done
cat >&2 <<MSG
No Python $want found (looked for python$want on PATH and in pyenv).
Get one, then run 'make install' again:
  - with pyenv:  pyenv install $want      (https://github.com/pyenv/pyenv#installation)
  - on Ubuntu:   sudo add-apt-repository ppa:deadsnakes/ppa && sudo apt-get install python$want-venv
  - or any build of CPython $want whose 'python$want' is on PATH.
MSG
exit 1
