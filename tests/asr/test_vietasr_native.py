"""viet-asr's own library (engine "vietasr-native", kept to measure the default against): the
workaround for its forgetting of long turns. Its accuracy and speed: bench asr."""
import numpy as np
import pytest

from bot.asr.base import AsrError
from bot.asr.metrics import error_rates, normalise
from bot.asr.registry import make_asr

from .conftest import long_turn, needs_speech, phone_line, stream_in_frames, transcripts


def _short_phrases_with_pauses():
    """28 s: ten short phrases (silence trimmed), each followed by a 1.2 s pause."""
    items = [item for item in transcripts("vivos") if item[0].stat().st_size < 16000 * 2 * 3.2][:10]
    pause = np.zeros(int(8000 * 1.2), np.int16)
    pieces = []
    for path, _ in items:
        x = phone_line(path)
        loud = np.nonzero(np.abs(x) > 500)[0]
        pieces += [x[max(0, loud[0] - 400):loud[-1] + 400], pause]
    return items, np.concatenate(pieces)


def _raw_native(engine, samples: np.ndarray) -> str:
    """The library alone, streamed in 20 ms chunks (fed in one call it keeps everything)."""
    session = engine._pipeline.stream(sample_rate=8000.0)
    try:
        for i in range(0, samples.size, 160):
            session.accept(samples[i:i + 160])
        return normalise(session.final().text)
    finally:
        session.close()


@needs_speech
def test_a_long_turn_loses_no_text(vietasr_native_engine):
    turn = long_turn(vietasr_native_engine)
    whole, separately, at_once, references = turn.whole, turn.separately, turn.at_once, turn.references
    assert whole.size / 8000 > 30
    # Measured on these 31 s: CER 0.006 against the pieces transcribed one by one, 0.060 against
    # the references (0.054 for the pieces); the library alone: 0.25, it forgets the first ~8 s.
    assert error_rates([(separately, at_once)])[1] < 0.06
    assert error_rates([(references, at_once)])[1] < error_rates([(references, separately)])[1] + 0.02
    assert at_once.startswith(separately.split()[0])
    assert error_rates([(references, _raw_native(vietasr_native_engine, whole))])[1] > 0.15, (
        "vietasr no longer forgets long turns: the workaround in vietasr_native_engine.py may be removed")


@needs_speech
def test_many_short_phrases_lose_no_text(vietasr_native_engine):
    """The library forgets after ~5 pauses, long before any time cap: 28 s here."""
    items, audio = _short_phrases_with_pauses()
    references = " ".join(ref for _, ref in items)
    at_once = stream_in_frames(vietasr_native_engine, audio)
    # Measured: CER 0.052; the library alone 0.59.
    assert error_rates([(references, at_once)])[1] < 0.09, at_once
    assert at_once.startswith(normalise(items[0][1]).split()[0])
    assert error_rates([(references, _raw_native(vietasr_native_engine, audio))])[1] > 0.4


def _native_turn_cuts(engine, samples: np.ndarray, max_turn_s=15.0, soft_turn_s=12.0) -> list[float]:
    """Stream `samples` in 20 ms frames; return where (s from the start) native turns ended."""
    from bot.asr.vietasr_native_engine import VietAsrStream

    cuts, position = [], [0.0]
    with VietAsrStream(engine._pipeline.stream(sample_rate=8000.0), 8000, max_turn_s, soft_turn_s) as stream:
        original = stream._end_native_turn

        def spy():
            position[0] += stream._samples / 8000
            cuts.append(round(position[0], 3))
            original()

        stream._end_native_turn = spy
        for i in range(0, samples.size, 160):
            stream.accept(samples[i:i + 160])
        stream.final()
    return cuts


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(8000 * seconds)) / 8000
    return (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)


def test_a_half_second_pause_ends_the_native_turn(vietasr_native_engine):
    audio = np.concatenate([_tone(3), np.zeros(8000 * 6 // 10, np.int16), _tone(3)])
    assert _native_turn_cuts(vietasr_native_engine, audio) == [3.5, 6.6]


def test_long_turns_are_cut_at_the_first_quiet_frame_after_the_soft_limit(vietasr_native_engine):
    """A synthetic 'voice' with a 100 ms gap every second (at 0.9-1.0 s); caps 3 s / 2 s here."""
    audio = _tone(7)
    audio[(np.arange(audio.size) / 8000 % 1.0) >= 0.9] = 0
    assert _native_turn_cuts(vietasr_native_engine, audio, max_turn_s=3, soft_turn_s=2) == [2.92, 4.94, 6.96, 7.0]


def test_long_turns_without_pauses_are_cut_at_the_hard_limit(vietasr_native_engine):
    assert _native_turn_cuts(vietasr_native_engine, _tone(7), max_turn_s=3, soft_turn_s=2) == [3.0, 6.0, 7.0]
    # The defaults: 15 s.
    assert _native_turn_cuts(vietasr_native_engine, _tone(16))[0] == 15.0


def test_registry_builds_the_native_engine():
    engine = make_asr("vietasr-native", None)
    try:
        assert engine.name == "vietasr-native" and engine.sample_rate == 8000
        assert engine.capabilities.streaming and engine.capabilities.partials
    finally:
        engine.close()
    with pytest.raises(AsrError, match="closed"):
        engine.stream()
