"""`bot call` with the real brain: a question paused in the middle is one question (issue 15)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bench.paused import RATE, Recording, paused
from bot.audio.files import write_wav
from tests.call.conftest import speech
from tests.conftest import ROOT, needs_speech

pytestmark = [pytest.mark.slow, needs_speech]
BRAIN_PORT = 15920
BOT = str(ROOT / ".venv/bin/bot")


def test_bot_call_hears_a_paused_question_as_one(live_brain, tmp_path):
    settings, _ = live_brain
    q = paused(Recording(Path(speech("vieneu/ly_female_north.wav")), "", "dev"), 1.0)
    wav = tmp_path / "paused.wav"
    write_wav(wav, q.audio, RATE)
    env = {**os.environ, "BOT_RASA_PORT": str(settings.rasa.port), "BOT_RASA_ACTIONS_PORT": str(settings.rasa.actions_port),
           "BOT_PRIVACY_RECORDS_DIR": str(tmp_path / "records"), "BOT_PRIVACY_KEEP_TRANSCRIPTS": "true"}
    done = subprocess.run([BOT, "call", "--jsonl", "--script", str(wav)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    texts = [e for e in events if e["event"] == "caller_text"]
    whole = texts[-1]["text"]
    assert "chúng ta" in whole and "người khác" in whole, texts  # both halves, in one question
    assert texts[-1].get("mended") or len(texts) == 1
    (record,) = [json.loads(line) for path in (tmp_path / "records").glob("*.jsonl")
                 for line in path.read_text(encoding="utf-8").splitlines()]
    assert [e["text"] for e in record["events"] if e["event"] == "caller_text"] == [whole]
    assert record["summary"]["turns"] == 1
