"""Run a probe script in the Rasa environment (.venv-rasa) and read the JSON line it prints last:
the tests here run under the gateway's Python, which has no Rasa."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa/bin/python"


def run_probe(script: Path) -> dict:
    if not RASA_PYTHON.exists():
        pytest.skip("the Rasa environment is not installed (make install)")
    done = subprocess.run([str(RASA_PYTHON), str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
