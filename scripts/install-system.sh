#!/usr/bin/env bash
# System packages the project needs: espeak-ng (default TTS voice), libsndfile1 (soundfile),
# sox (audio checks in benchmarks), and the real clients the telephony tests drive: sip-tester (sipp),
# chromium + chromium-driver (the browser page), baresip (a second SIP user agent), postgresql (call
# records on PostgreSQL: its tests start a throwaway cluster with initdb/pg_ctl), kamailio (the SIP load
# balancer of `make cluster`; run as the current user, its system service is not used). Installs only what is missing.
set -eu
need=()
for p in espeak-ng libsndfile1 sox sip-tester chromium chromium-driver baresip postgresql kamailio; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && { echo "System packages: all present"; exit 0; }
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Please install with your package manager: ${need[*]}" >&2; exit 1
fi
echo "System packages: installing ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian enables Kamailio's system service, which would take port 5060 from `make run`; `make cluster`
# runs its own Kamailio as the current user instead.
if [[ " ${need[*]} " == *" kamailio "* ]] && command -v systemctl >/dev/null 2>&1; then
  $sudo systemctl disable --now kamailio >/dev/null 2>&1 || true
fi
