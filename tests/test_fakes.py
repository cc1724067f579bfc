"""The stand-ins of tests/fakes.py behave like the parts they replace: a whole call runs on them."""
from __future__ import annotations

import numpy as np

from bot.audio.frames import AudioFrame
from bot.call.session import CallSession, call_config
from bot.call.virtual_clock import VirtualClock, parse_script, run_call
from tests.fakes import ANSWER, KB, FakeVoice, KeywordBrain, fake_engines


def tone(seconds: float, rate: int = 8000) -> np.ndarray:
    return (3000 * np.sin(2 * np.pi * 300 * np.arange(int(seconds * rate)) / rate)).astype(np.int16)


async def test_a_whole_call_on_the_fakes_hears_the_script_and_answers(settings, tmp_path):
    engines = fake_engines(tmp_path / "prompts", transcripts=["mức hỗ trợ hộ nghèo"])
    brain, events, clock = KeywordBrain(), [], VirtualClock()
    session = CallSession("fake-1", engines, brain, call_config(settings), clock, events.append)
    summary = await run_call(session, parse_script(["caller.wav", "dtmf:0"]), clock, 8000,
                             load=lambda path, rate: tone(1.5, rate))
    said = [e for e in events if e["event"] == "bot_say"]
    assert said[0]["text"] == KB.prompt("greeting")
    # A voice's pace: ~70 ms a letter (espeak-ng takes ~16 s over the greeting; the cache joins
    # it sentence by sentence, so the spaces between sentences are not spoken).
    letters = len(KB.prompt("greeting"))
    assert 0.95 * letters <= said[0]["audio_ms"] / FakeVoice.MS_PER_CHAR <= letters
    assert [e["text"] for e in events if e["event"] == "caller_text"] == ["mức hỗ trợ hộ nghèo"]
    assert brain.asked == ["mức hỗ trợ hộ nghèo"]
    assert [e["faq_id"] for e in events if e["event"] == "answer"] == [ANSWER.id]
    assert summary.outcome == "transferred" and summary.branch == 5
    assert engines.asr.streams[0].closed  # the call freed its recogniser


async def test_silence_is_not_speech_and_the_script_ends_in_empty_turns(tmp_path):
    engines = fake_engines(tmp_path / "prompts")
    vad, stream = engines.vad(), engines.asr.stream()
    assert vad.is_speech(AudioFrame.from_samples(np.zeros(160, np.int16), 8000)) == 0.0
    assert vad.is_speech(AudioFrame.from_samples(tone(0.02), 8000)) == 1.0
    stream.accept(tone(0.5))
    assert stream.final() == ""  # no transcripts scripted
