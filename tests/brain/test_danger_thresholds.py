"""The safety net's thresholds (actions/nlu/danger.py): put through at `threshold`, asked from
`ask_threshold`, and from the lower `unanswered_ask_threshold` when the FAQ has no answer for the
turn (the caller would otherwise hear "no information")."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa/bin/python"


@pytest.fixture(scope="module")
def decided() -> dict:
    if not RASA_PYTHON.exists():
        pytest.skip("the Rasa environment is not installed (make install)")
    done = subprocess.run([str(RASA_PYTHON), str(Path(__file__).with_name("danger_probe.py"))], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_below_both_ask_thresholds_nothing_is_suspected(decided):
    assert decided["0.1"] == [None, None]


def test_between_them_only_an_unanswered_turn_is_asked_about(decided):
    answered, unanswered = decided["0.17"]
    assert answered is None
    assert unanswered is not None and unanswered[0] == "fire" and unanswered[2] == "model"


def test_above_ask_threshold_both_are_suspected_and_above_threshold_put_through(decided):
    for p in ("0.3", "0.6"):
        assert all(found is not None and found[0] == "fire" for found in decided[p])
    assert decided["0.6"][0][1] >= 0.5 > decided["0.3"][0][1]
