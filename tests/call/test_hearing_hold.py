"""Hearing with a turn model (fakes: VAD by loudness, scripted recogniser, a judge that answers
what the test says): a finished-sounding turn ends at the short pause, an unfinished one waits."""
from __future__ import annotations

import numpy as np

from bot.audio.frames import AudioFrame
from bot.call.hearing import CallerStarted, CallerTurn, Hearing
from bot.vad.turns import TurnConfig
from tests.fakes import FakeAsr, FakeVad

CONFIG = TurnConfig(end_pause_ms=200, hold_pause_ms=1200, min_speech_ms=200)
LOUD, QUIET = np.full(160, 8000, np.int16), np.zeros(160, np.int16)


class Judge:
    def __init__(self, answers: list[float]) -> None:
        self.answers = answers
        self.heard_ms: list[float] = []

    def __call__(self, samples: np.ndarray, rate: int) -> float:
        self.heard_ms.append(1000 * samples.size / rate)
        return self.answers.pop(0)


def feed(hearing: Hearing, pattern: list[tuple[np.ndarray, int]]) -> list[tuple[float, object]]:
    out, t = [], 0.0
    for samples, ms in pattern:
        for _ in range(ms // 20):
            out += [(t, e) for e in hearing.feed(AudioFrame.from_samples(samples, 8000), t)]
            t += 20
    return out


def turns(events) -> list[CallerTurn]:
    return [e for _, e in events if isinstance(e, CallerTurn)]


def test_a_finished_sounding_turn_ends_at_the_short_pause():
    judge = Judge([0.9])
    hearing = Hearing(FakeVad(), FakeAsr(["lao động tự do được bao nhiêu"]).stream(), CONFIG, judge, 0.5)
    events = feed(hearing, [(LOUD, 1000), (QUIET, 1500)])
    (turn,) = turns(events)
    t_end = next(t for t, e in events if isinstance(e, CallerTurn))
    assert turn.text == "lao động tự do được bao nhiêu" and turn.ended_ms == 1000
    assert t_end == 1000 + 200 - 20  # the frame that completed 200 ms of pause
    assert judge.heard_ms == [1200]  # the turn so far, its pause included
    assert hearing.held == 0 and hearing.judged == [0.9]


def test_an_unfinished_turn_waits_and_the_rest_joins_it():
    judge = Judge([0.1, 0.8])
    hearing = Hearing(FakeVad(), FakeAsr(["cho tôi hỏi là lao động tự do thì được bao nhiêu"]).stream(),
                      CONFIG, judge, 0.5)
    events = feed(hearing, [(LOUD, 800), (QUIET, 900), (LOUD, 700), (QUIET, 400)])
    assert [type(e) for _, e in events] == [CallerStarted, CallerTurn]
    (turn,) = turns(events)
    assert turn.started_ms == 0 and turn.ended_ms == 800 + 900 + 700
    assert judge.answers == [] and hearing.held == 0


def test_a_turn_that_never_sounds_finished_ends_at_the_hold_pause():
    hearing = Hearing(FakeVad(), FakeAsr(["lao động tự do thì"]).stream(), CONFIG, Judge([0.2]), 0.5)
    events = feed(hearing, [(LOUD, 800), (QUIET, 1500)])
    (turn,) = turns(events)
    assert next(t for t, e in events if isinstance(e, CallerTurn)) == 800 + 1200 - 20
    assert turn.ended_ms == 800 and hearing.held == 1


def test_without_a_model_the_short_pause_ends_the_turn():
    hearing = Hearing(FakeVad(), FakeAsr(["lao động tự do"]).stream(), CONFIG, None)
    events = feed(hearing, [(LOUD, 800), (QUIET, 600)])
    assert next(t for t, e in events if isinstance(e, CallerTurn)) == 800 + 200 - 20
