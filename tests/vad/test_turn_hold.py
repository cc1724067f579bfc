"""Waiting through a caller's pause: the short pause asks, the hold pause ends (bot/vad/turns.py)."""
import pytest

from bot.vad.turns import PauseHeard, SpeechEnded, SpeechStarted, State, TurnConfig, TurnDetector
from tests.vad.test_turns import frame, frame_ids, run, silence, speech

HOLD = TurnConfig(end_pause_ms=200, hold_pause_ms=1200)


def test_a_short_pause_asks_once_and_the_turn_goes_on():
    detector = TurnDetector(HOLD)
    events = run(speech(800) + silence(300), detector)
    assert [type(e) for _, e in events] == [SpeechStarted, PauseHeard]
    i, asked = events[1]
    assert asked.speech_end_ms == 800 and asked.at_ms == 1000 and i == 49  # 200 ms after the last speech
    assert detector.state is State.SPEAKING  # still the caller's turn


def test_speech_after_the_question_continues_the_same_turn():
    detector = TurnDetector(HOLD)
    events = run(speech(800) + silence(900) + speech(600) + silence(1300), detector)
    assert [type(e) for _, e in events] == [SpeechStarted, PauseHeard, PauseHeard, SpeechEnded]
    ended = events[-1][1]
    assert ended.started_ms == 0 and ended.ended_ms == 800 + 900 + 600
    assert events[-1][0] == (800 + 900 + 600 + 1200) // 20 - 1  # at the hold pause
    # The whole question, pause included, is one turn's audio: nothing lost, nothing repeated.
    assert frame_ids(ended.audio) == list(range(0, events[-1][0] + 1))


def test_end_now_ends_the_turn_at_its_last_speech():
    detector = TurnDetector(HOLD)
    run(speech(800) + silence(200), detector)
    (ended,) = detector.end_now()
    assert isinstance(ended, SpeechEnded) and ended.reason == "pause" and ended.ended_ms == 800
    assert detector.state is State.IDLE and detector.end_now() == []
    # The pause heard so far becomes the next turn's pre-roll, as after any pause.
    later = run(speech(400) + silence(1300), detector, start=50)
    assert later[0][1].at_ms == 1000


def test_turn_audio_is_the_turn_so_far():
    detector = TurnDetector(HOLD)
    run(silence(400) + speech(600) + silence(200), detector)
    # 200 ms of pre-roll (frames 10-19), the speech (20-49), the pause so far (50-59).
    assert frame_ids(detector.turn_audio()) == list(range(10, 60))


def test_without_a_hold_pause_nothing_changes():
    events = run(speech(800) + silence(600), TurnDetector(TurnConfig(end_pause_ms=200)))
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded]


def test_a_hold_pause_must_be_longer_than_the_end_pause():
    with pytest.raises(ValueError):
        TurnConfig(end_pause_ms=500, hold_pause_ms=400)
    assert not TurnConfig(end_pause_ms=500).holds and TurnConfig(end_pause_ms=200, hold_pause_ms=900).holds
