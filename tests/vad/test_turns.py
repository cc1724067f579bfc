"""The turn detector on synthetic probabilities and virtual time (20 ms frames at 8 kHz).

Every frame carries its own index as sample values, so a test can tell exactly which frames a
turn's audio holds (pre-roll, nothing lost, nothing repeated).
"""
import numpy as np
import pytest

from bot.audio.frames import AudioFrame
from bot.vad.turns import SpeechEnded, SpeechStarted, State, TurnConfig, TurnDetector

FRAME_MS = 20
SPEECH, SILENCE = 0.9, 0.05


def frame(index: int) -> AudioFrame:
    return AudioFrame.from_samples(np.full(160, index, np.int16), 8000)


def frame_ids(audio: AudioFrame) -> list[int]:
    return audio.samples.reshape(-1, 160)[:, 0].tolist()


def run(probabilities, detector=None, start=0):
    """Feed one frame per probability; return [(frame index, event), ...]."""
    detector = detector or TurnDetector()
    out = []
    for i, p in enumerate(probabilities, start):
        out += [(i, e) for e in detector.feed(frame(i), p, now_ms=i * FRAME_MS)]
    return out


def speech(duration_ms: float) -> list[float]:
    return [SPEECH] * int(duration_ms // FRAME_MS)


def silence(duration_ms: float) -> list[float]:
    return [SILENCE] * int(duration_ms // FRAME_MS)


def test_one_utterance_gives_one_turn_with_pre_roll_and_pause():
    events = run(silence(1000) + speech(1000) + silence(1000))
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded]
    (i_start, started), (i_end, ended) = events
    assert started.at_ms == 1000 and i_start == 59  # confirmed on the 10th speech frame (200 ms)
    assert ended.reason == "pause" and ended.started_ms == 1000 and ended.ended_ms == 2000
    assert i_end == 124  # after 500 ms of silence: frames 100..124 end at 2500 ms
    # 200 ms of pre-roll (frames 40-49), the speech (50-99), the closing pause (100-124).
    assert frame_ids(ended.audio) == list(range(40, 125))
    assert ended.audio.duration_ms == 1700


def test_noises_shorter_than_200_ms_are_ignored():
    assert run(silence(500) + speech(180) + silence(2000)) == []
    # Two short clicks far apart do not add up to speech either.
    assert run(silence(500) + speech(100) + silence(300) + speech(100) + silence(2000)) == []
    # Exactly 200 ms is speech.
    assert [type(e) for _, e in run(silence(500) + speech(200) + silence(2000))] == [SpeechStarted, SpeechEnded]


def test_a_brief_dip_during_onset_does_not_discard_the_word():
    events = run(silence(300) + speech(120) + silence(60) + speech(120) + silence(1000))
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded]
    assert events[0][1].at_ms == 300


def test_pauses_shorter_than_the_end_pause_stay_in_one_turn():
    events = run(speech(800) + silence(480) + speech(800) + silence(600))
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded]
    assert events[1][1].ended_ms == 800 + 480 + 800


def test_end_pause_is_configurable():
    detector = TurnDetector(TurnConfig(end_pause_ms=300))
    events = run(speech(800) + silence(320) + speech(800) + silence(320), detector)
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded, SpeechStarted, SpeechEnded]


def test_hysteresis_keeps_a_turn_alive_but_does_not_start_one():
    assert run([0.4] * 100) == []
    events = run(speech(400) + [0.4] * 50 + silence(600))
    assert events[1][1].ended_ms == 400 + 50 * FRAME_MS


def test_long_speech_is_cut_at_15_s_without_losing_or_repeating_audio():
    probabilities = silence(400) + speech(40_000) + silence(1000)
    events = run(probabilities)
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["SpeechStarted", "SpeechEnded", "SpeechStarted", "SpeechEnded", "SpeechStarted", "SpeechEnded"]
    turns = [e for _, e in events if isinstance(e, SpeechEnded)]
    assert [t.reason for t in turns] == ["max_length", "max_length", "pause"]
    assert all(t.audio.duration_ms <= 15_000 for t in turns)
    assert turns[0].audio.duration_ms == 15_000
    ids = [i for t in turns for i in frame_ids(t.audio)]
    assert ids == list(range(10, 20 + 2000 + 25))  # pre-roll .. end of pause, each frame once
    # Each continuation starts where the previous turn's audio stopped.
    starts = [e.at_ms for _, e in events if isinstance(e, SpeechStarted)]
    assert starts == [400, 200 + 15_000, 200 + 30_000]


def test_speech_right_at_the_start_has_only_the_pre_roll_there_is():
    events = run(silence(60) + speech(500) + silence(600))
    assert frame_ids(events[1][1].audio)[:4] == [0, 1, 2, 3]


def test_time_comes_from_the_clock_not_from_counting_frames():
    detector = TurnDetector()
    run(speech(400), detector)
    # The next frame arrives 600 ms later (lost packets): the pause is over.
    events = detector.feed(frame(99), SILENCE, now_ms=400 + 600)
    assert len(events) == 1 and events[0].reason == "pause" and events[0].ended_ms == 400


def test_flush_ends_a_turn_and_drops_an_unconfirmed_one():
    detector = TurnDetector()
    run(speech(400), detector)
    [ended] = detector.flush(now_ms=400)
    assert ended.reason == "flush" and frame_ids(ended.audio) == list(range(20))
    assert detector.state is State.IDLE
    run(speech(100), detector, start=20)
    assert detector.state is State.PENDING and detector.flush(now_ms=520) == []
    assert detector.state is State.IDLE


def test_detector_is_reusable_after_a_turn():
    detector = TurnDetector()
    first = run(speech(300) + silence(600), detector)
    second = run(speech(300) + silence(600), detector, start=45)
    assert [type(e) for _, e in first + second] == [SpeechStarted, SpeechEnded] * 2
    assert frame_ids(second[1][1].audio)[0] == 35  # pre-roll from the silence before


@pytest.mark.parametrize("kwargs", [dict(threshold=0.3, release=0.5), dict(end_pause_ms=0),
                                    dict(max_turn_ms=300), dict(pre_roll_ms=-1)])
def test_nonsense_configuration_is_refused(kwargs):
    with pytest.raises(ValueError):
        TurnConfig(**kwargs)
