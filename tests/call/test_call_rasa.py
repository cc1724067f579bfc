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



def test_bot_call_spoken_danger_says_the_number_and_transfers(live_brain, content_copy, tmp_path):
    """Spoken, through the real 8 kHz line, recogniser and policy. No recording of a person in
    danger exists here (espeak-ng's Vietnamese is unintelligible to the recogniser), so an
    editor declares a phrase that a real recording says, as they would for a new danger: the
    recogniser hears "… sâu trúng thuốc rơi xuống …" and the gateway's own net routes it before the
    brain is asked, saying the number in words."""
    path = content_copy / "danger.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("      - ngộ độc\n", "      - ngộ độc\n      - trúng thuốc\n", 1),
                    encoding="utf-8")
    settings, _ = live_brain
    env = {**os.environ, "BOT_RASA_PORT": str(settings.rasa.port), "BOT_RASA_ACTIONS_PORT": str(settings.rasa.actions_port),
           "BOT_PRIVACY_RECORDS_DIR": str(tmp_path / "records"), "BOT_CONTENT_DIR": str(content_copy)}
    done = subprocess.run([BOT, "call", "--jsonl", "--script", speech("vivos/VIVOSSPK01_R042.wav"), "--script", "silence:2"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    heard = " ".join(e["text"] for e in events if e["event"] == "caller_text")
    assert "trúng thuốc" in heard, heard
    poisoning = KB.danger.kind("poisoning")
    says = [e["text"] for e in events if e["event"] == "bot_say"]
    assert says[-1] == poisoning.message and poisoning.number in says[-1]
    assert not any(e["event"] == "nlu" for e in events)  # the gateway decided; the brain was not asked
    transfer = next(e for e in events if e["event"] == "transfer")
    assert (transfer["branch"], transfer["reason"]) == (1, "danger:poisoning")
    summary = events[-1]
    assert (summary["outcome"], summary["danger"]) == ("transferred", "poisoning")
