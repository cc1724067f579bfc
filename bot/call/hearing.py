"""The caller's side of one call: VAD -> turn detection -> streaming ASR.

Audio reaches the recogniser while the caller speaks (from the onset, with pre-roll), so the
text of a turn is ready ~tens of ms after its end instead of a whole re-recognition later.
Silence between turns never reaches the recogniser (CPU per call, and no stray words).
A turn cut at the maximum length (the recogniser's safe limit) goes on: its text is kept and the
caller's whole utterance is handed over at the next pause, so long-winded callers lose nothing.

End of turn (`TurnConfig.hold_pause_ms`): at a short pause a turn model (bot/vad/smart_turn.py)
hears the turn so far; a finished-sounding question ends the turn there, anything else waits for
the caller to go on, up to the hold pause. Without a model a short pause ends the turn, as before.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.asr.base import AsrStream
from bot.audio.frames import AudioFrame
from bot.call.timing import FRAME_MS
from bot.vad.base import Vad
from bot.vad.turns import PauseHeard, SpeechEnded, SpeechStarted, TurnConfig, TurnDetector

# (the turn so far as int16 samples, their rate) -> P(the caller has finished)
TurnJudge = Callable[[np.ndarray, int], float]


@dataclass(frozen=True)
class CallerStarted:
    t_ms: float


@dataclass(frozen=True)
class CallerTurn:
    text: str
    started_ms: float
    ended_ms: float  # end of the last speech frame: the latency clock starts here
    reason: str  # pause | max_length | flush


HearingEvent = CallerStarted | CallerTurn


class Hearing:
    def __init__(self, vad: Vad, asr: AsrStream, turns: TurnConfig, judge: TurnJudge | None = None,
                 complete_at: float = 0.5) -> None:
        """`judge`: the turn model, asked at each short pause when `turns.hold_pause_ms` is set;
        `complete_at`: the probability from which a turn counts as finished."""
        self._vad = vad
        self._judge = judge
        self._complete_at = complete_at
        self.judged: list[float] = []  # the model's answers in this call (benchmarks read them)
        self.held = 0  # turns that ended only at the hold pause (the caller waited longer)
        self._asr = asr
        self._turns = TurnDetector(turns)
        keep_ms = turns.pre_roll_ms + turns.min_speech_ms + 40
        self._recent: deque[tuple[float, AudioFrame]] = deque(maxlen=max(1, int(keep_ms // FRAME_MS) + 1))
        self._in_turn = False
        self._ending_now = False  # a turn being ended at the short pause (not held)
        self._cut_text: list[str] = []  # text of max-length cuts within the current utterance
        self._cut_start: float | None = None

    def feed(self, frame: AudioFrame, t_ms: float) -> list[HearingEvent]:
        probability = self._vad.is_speech(frame)
        self._recent.append((t_ms, frame))
        if self._in_turn:
            self._asr.accept(frame.samples)
        out: list[HearingEvent] = []
        for event in self._turns.feed(frame, probability, t_ms):
            out += self._on_turn_event(event)
        return out

    def feed_many(self, frames: list[tuple[AudioFrame, float]]) -> list[HearingEvent]:
        out: list[HearingEvent] = []
        for frame, t_ms in frames:
            out += self.feed(frame, t_ms)
        return out

    def flush(self, t_ms: float) -> list[HearingEvent]:
        out: list[HearingEvent] = []
        for event in self._turns.flush(t_ms):
            out += self._on_turn_event(event)
        return out

    def _on_turn_event(self, event: SpeechStarted | SpeechEnded | PauseHeard) -> list[HearingEvent]:
        if isinstance(event, PauseHeard):
            if self._judge is not None:
                audio = self._turns.turn_audio()
                p = self._judge(audio.samples, audio.sample_rate)
                self.judged.append(p)
                if p < self._complete_at:
                    return []  # sounds unfinished: wait for more, up to the hold pause
            out: list[HearingEvent] = []
            self._ending_now = True
            try:
                for ended in self._turns.end_now():
                    out += self._on_turn_event(ended)
            finally:
                self._ending_now = False
            return out
        if isinstance(event, SpeechStarted):
            if not self._in_turn:
                # Catch the recogniser up: pre-roll and the frames that confirmed speech.
                start = event.at_ms - self._turns.config.pre_roll_ms
                for t, frame in self._recent:
                    if t >= start:
                        self._asr.accept(frame.samples)
                self._in_turn = True
                return [CallerStarted(event.at_ms)]
            return []  # a max-length cut continues the same speech: audio already flowing
        if event.reason == "pause" and self._turns.config.holds and not self._ending_now:
            self.held += 1
        text = self._asr.final()
        if event.reason == "max_length":  # speech goes on: keep the text, keep listening
            self._cut_text.append(text)
            self._cut_start = event.started_ms if self._cut_start is None else self._cut_start
            return []
        self._in_turn = False
        whole = " ".join(t for t in [*self._cut_text, text] if t)
        started = self._cut_start if self._cut_start is not None else event.started_ms
        self._cut_text, self._cut_start = [], None
        return [CallerTurn(whole, started, event.ended_ms, event.reason)]

    def close(self) -> None:
        self._asr.close()
