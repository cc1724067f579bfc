"""Whole calls through the real engines (ASR, VAD, TTS) and a stand-in brain.

The brain here is a small fake that answers by keyword (tests/fakes.py), so these tests pin down
the call's audio path and policy; tests/call/test_call_rasa.py runs calls against the real brain.
"""
from __future__ import annotations

import json

from tests.call.conftest import speech
from tests.conftest import needs_speech
from tests.fakes import ANSWER, KB, KeywordBrain

pytestmark = needs_speech


class BrokenAsrStream:
    def accept(self, pcm):
        raise RuntimeError("native crash")

    def final(self):
        return ""

    def partial(self):
        return ""

    def close(self):
        pass


async def test_a_real_recording_is_heard_answered_and_hung_up(call):
    brain = KeywordBrain()
    result = await call([speech("vieneu/ly_female_north.wav")], brain)
    greeting, answer = result.of("bot_say")[:2]
    assert greeting["text"] == KB.prompt("greeting")
    heard = result.of("caller_text")[0]["text"]
    assert "logic tương tự" in heard  # the recording's words, through 8 kHz µ-law
    assert brain.asked == [heard]
    assert result.of("answer") == [{"t": result.of("answer")[0]["t"], "event": "answer", "faq_id": ANSWER.id}]
    assert answer["text"].startswith(ANSWER.answer)
    assert result.summary["outcome"] == "answered"
    assert result.of("hangup")[0]["by"] == "caller"
    # The reply starts within half a second of the end of the caller's speech (call clock).
    assert len(result.summary["latency_ms"]) == 1


async def test_keypad_zero_reaches_a_person_after_the_announcement(call):
    result = await call(["dtmf:0"], KeywordBrain())
    say = result.of("bot_say")[-1]
    transfer = result.of("transfer")[0]
    assert transfer["branch"] == 5 and transfer["reason"] == "keypad"
    assert transfer["t"] >= say["t"] + say["audio_ms"] / 1000 - 0.05  # announced first
    assert result.summary["outcome"] == "transferred"


async def test_keypad_branch_digit_and_repeat(call):
    result = await call(["dtmf:9", "dtmf:3"], KeywordBrain())
    says = [e["text"] for e in result.of("bot_say")]
    assert says[0] == says[1] == KB.prompt("greeting")  # 9 repeats
    assert result.of("transfer")[0]["branch"] == 3


async def test_silence_reprompts_twice_then_says_goodbye(call):
    result = await call(["silence:40"], KeywordBrain())
    texts = [e["text"] for e in result.of("bot_say")]
    assert texts.count(KB.prompt("empty_input")) == 2
    assert texts[-1] == KB.prompt("no_input_goodbye")
    assert result.of("hangup")[0] == {**result.of("hangup")[0], "by": "bot", "reason": "no_input"}


async def test_caller_interrupts_the_greeting(call):
    result = await call([f"barge:{speech('vieneu/ly_female_north.wav')}"], KeywordBrain())
    greeting = result.of("bot_say")[0]
    answer = result.of("bot_say")[1]
    # The greeting was cut: the answer began long before the greeting would have ended.
    assert answer["t"] < greeting["audio_ms"] / 1000
    assert result.of("caller_text")


async def test_a_long_turn_loses_no_words(call, engines, tmp_path):
    # Two recordings back to back without a pause: ~30 s, past the recogniser's 15 s turn cap.
    import numpy as np

    from bot.audio.files import read_audio, write_wav
    from bot.audio.phone import through_phone_line
    from tests.conftest import SPEECH

    names = ["vivos/VIVOSSPK01_R001.wav", "vivos/VIVOSSPK01_R002.wav", "vivos/VIVOSSPK01_R003.wav",
             "vivos/VIVOSSPK01_R004.wav", "vivos/VIVOSSPK01_R005.wav", "vivos/VIVOSSPK01_R006.wav"]
    pieces = [read_audio(SPEECH / n, 16000)[0] for n in names]
    long_path = str(tmp_path / "long.wav")
    write_wav(long_path, np.concatenate(pieces), 16000)
    assert sum(p.size for p in pieces) / 16000 > 20
    brain = KeywordBrain()
    await call([long_path], brain)
    alone = [engines.asr.transcribe(through_phone_line(p, 16000), 8000).split() for p in pieces]
    heard = " ".join(brain.asked).split()
    # The beginning and the end both arrive (the recogniser may hear the very first syllable
    # differently when its window starts elsewhere, so one word of slack at the onset).
    first, last = alone[0], alone[-1]
    assert len(set(first[:3]) & set(heard)) >= min(3, len(first)) - 1
    assert set(last[-3:]) <= set(heard)
    # Nothing in between goes missing either: as many words as the pieces recognised one by one.
    assert len(heard) >= 0.9 * sum(len(words) for words in alone)


async def test_an_engine_crash_apologises_and_transfers(call, engines, monkeypatch):
    monkeypatch.setattr(engines.asr, "stream", lambda grammar=None: BrokenAsrStream())
    result = await call([speech("vieneu/ly_female_north.wav")], KeywordBrain())
    texts = [e["text"] for e in result.of("bot_say")]
    assert KB.prompt("system_error", 5) in texts
    assert result.of("transfer")[0]["branch"] == 5
    assert result.of("transfer")[0]["reason"].startswith("engine_failed:asr")


async def test_the_call_record_is_written_and_private(call):
    result = await call([speech("vieneu/ly_female_north.wav")], KeywordBrain())
    lines = (next(result.record_dir.glob("*.jsonl"))).read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[-1])
    assert record["caller"] == "091****678"
    assert record["summary"]["outcome"] == "answered"
    kinds = [e["event"] for e in record["events"]]
    assert "caller_text" in kinds
    assert all("text" not in e for e in record["events"] if e["event"] == "caller_text")


async def test_transcripts_kept_when_configured(call):
    result = await call([speech("vieneu/ly_female_north.wav")], KeywordBrain(), keep_transcripts=True)
    record = json.loads(next(result.record_dir.glob("*.jsonl")).read_text(encoding="utf-8").splitlines()[-1])
    assert any("logic" in e.get("text", "") for e in record["events"] if e["event"] == "caller_text")
