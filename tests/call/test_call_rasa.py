"""Calls against the real brain (trained Rasa model + actions), and the `bot call` CLI."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.call.conftest import KB, speech
from tests.conftest import ROOT, needs_speech

pytestmark = [pytest.mark.slow, needs_speech]
BRAIN_PORT = 5505
BOT = str(ROOT / ".venv/bin/bot")


async def test_real_speech_reaches_the_real_brain(call, brain):
    result = await call([speech("diadiem/KHOONG0001.wav")], brain)  # the caller says "không"
    assert result.of("caller_text")[0]["text"] == "không"
    nlu = result.of("nlu")[0]
    assert nlu["intent"] == "deny"
    says = [e["text"] for e in result.of("bot_say")]
    assert says[1] == KB.intent("deny").response


async def test_bot_call_cli_jsonl(live_brain, tmp_path):
    settings, _ = live_brain
    out = tmp_path / "bot.wav"
    env = {**os.environ, "BOT_RASA_PORT": str(settings.rasa.port), "BOT_RASA_ACTIONS_PORT": str(settings.rasa.actions_port),
           "BOT_PRIVACY_RECORDS_DIR": str(tmp_path / "records")}
    done = subprocess.run([BOT, "call", "--jsonl", "--script", speech("diadiem/DDUSNG0001.wav"), "--script", "dtmf:0",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "bot_say" and kinds[-1] == "summary"
    assert {"caller_text", "nlu", "dtmf", "transfer"} <= set(kinds)
    assert all("t" in e for e in events)
    times = [e["t"] for e in events[:-1]]
    assert times == sorted(times)
    summary = events[-1]
    assert (summary["outcome"], summary["branch"]) == ("transferred", 5)
    import soundfile

    info = soundfile.info(str(out))
    spoken = sum(e["audio_ms"] for e in events if e["event"] == "bot_say") / 1000
    assert info.samplerate == 8000 and info.duration >= spoken * 0.9


def test_bot_call_rejects_a_bad_file_clearly(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    done = subprocess.run([BOT, "call", "--jsonl", "--script", str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert str(bad) in done.stderr and done.stdout == ""
