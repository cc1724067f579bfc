"""Turn detection: 20 ms frames + VAD probabilities + timestamps -> SpeechStarted / SpeechEnded.

Pure and clock-driven: no threads, no sleeping, no engines. The caller feeds each frame with its
speech probability (from a `Vad`) and its start time; tests drive it with virtual time.

    idle ──speech──► pending ──≥ min_speech_ms of speech──► speaking ──pause ≥ end_pause_ms──► idle
                        └──── a gap as long as min_speech_ms: a noise, dropped ──► idle

With `hold_pause_ms` > `end_pause_ms` a pause of `end_pause_ms` is only a question: the detector
reports `PauseHeard` and goes on listening; its owner either ends the turn there (`end_now`, when
the question sounds finished) or lets the pause run to `hold_pause_ms` (a caller thinking in
mid-question). Speech before then continues the same turn.
    speaking ──audio reaches max_turn_ms──► SpeechEnded(max_length) + SpeechStarted ──► speaking
    (a new turn at once, with no audio repeated or lost)
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Union

from bot.audio.frames import AudioFrame


@dataclass(frozen=True)
class TurnConfig:
    threshold: float = 0.5       # a frame at or above this starts (or confirms) speech
    release: float = 0.35        # while speaking, frames down to this still count as speech
    end_pause_ms: float = 500    # this much non-speech ends the turn
    max_turn_ms: float = 15000   # no turn's audio is longer than this
    min_speech_ms: float = 200   # shorter bursts of speech are noises (coughs, clicks)
    pre_roll_ms: float = 200     # audio kept from before the onset, so first syllables are whole
    hold_pause_ms: float = 0     # > end_pause_ms: a pause of end_pause_ms asks (PauseHeard), this one ends

    def __post_init__(self) -> None:
        if not 0 < self.release <= self.threshold <= 1:
            raise ValueError("need 0 < release <= threshold <= 1")
        if min(self.end_pause_ms, self.max_turn_ms, self.min_speech_ms) <= 0 or self.pre_roll_ms < 0:
            raise ValueError("durations must be positive (pre_roll_ms may be 0)")
        if self.max_turn_ms <= self.pre_roll_ms + self.min_speech_ms:
            raise ValueError("max_turn_ms must exceed pre_roll_ms + min_speech_ms")
        if self.hold_pause_ms and self.hold_pause_ms <= self.end_pause_ms:
            raise ValueError("hold_pause_ms must be 0 (off) or longer than end_pause_ms")

    @property
    def holds(self) -> bool:
        return self.hold_pause_ms > self.end_pause_ms


@dataclass(frozen=True)
class SpeechStarted:
    at_ms: float  # start of the first speech frame (reported once min_speech_ms is confirmed)


@dataclass(frozen=True)
class SpeechEnded:
    audio: AudioFrame  # pre-roll + the turn + the closing pause
    started_ms: float  # start of the first speech frame
    ended_ms: float    # end of the last speech frame (pause) or of the audio (max_length, flush)
    reason: Literal["pause", "max_length", "flush"]


@dataclass(frozen=True)
class PauseHeard:
    """A pause of `end_pause_ms` in a turn (only with `hold_pause_ms`): finished, or thinking?"""

    at_ms: float         # end of the frame that made the pause end_pause_ms long
    speech_end_ms: float  # end of the last speech frame


TurnEvent = Union[SpeechStarted, SpeechEnded, PauseHeard]


class State(Enum):
    IDLE = "idle"
    PENDING = "pending"
    SPEAKING = "speaking"


class TurnDetector:
    """One per call. Feed frames in time order; each frame's events are returned at once."""

    def __init__(self, config: TurnConfig = TurnConfig()) -> None:
        self.config = config
        self.state = State.IDLE
        self._pre_roll: deque[AudioFrame] = deque()
        self._pre_roll_ms = 0.0
        self._turn: list[AudioFrame] = []
        self._turn_ms = 0.0
        self._onset_ms = 0.0
        self._rate = 0
        self._speech_ms = 0.0        # speech heard while pending
        self._last_speech_end = 0.0  # end time of the latest speech frame
        self._asked = False          # PauseHeard already reported for the current pause

    def feed(self, frame: AudioFrame, probability: float, now_ms: float) -> list[TurnEvent]:
        """`now_ms`: the frame's start time on the caller's clock."""
        end = now_ms + frame.duration_ms
        self._rate = frame.sample_rate
        c = self.config
        if self.state is State.IDLE:
            if probability < c.threshold:
                self._keep_pre_roll(frame)
                return []
            self._turn, self._turn_ms = list(self._pre_roll), self._pre_roll_ms
            self._clear_pre_roll()
            self._append(frame)
            self.state, self._onset_ms, self._speech_ms, self._last_speech_end = State.PENDING, now_ms, 0.0, end
        else:
            self._append(frame)
        speech = probability >= (c.release if self.state is State.SPEAKING else c.threshold)
        if speech:
            self._last_speech_end = end
            self._asked = False
        silence_ms = end - self._last_speech_end

        if self.state is State.PENDING:
            if speech:
                self._speech_ms += frame.duration_ms
            if self._speech_ms >= c.min_speech_ms:
                self.state = State.SPEAKING
                return [SpeechStarted(self._onset_ms)] + self._check_length(end)
            if silence_ms >= c.min_speech_ms:
                self._drop_turn()
            return []
        if silence_ms >= (c.hold_pause_ms if c.holds else c.end_pause_ms):
            return [self._end_turn(self._last_speech_end, "pause", keep_tail=True)]
        if c.holds and silence_ms >= c.end_pause_ms and not self._asked:
            self._asked = True
            return [PauseHeard(end, self._last_speech_end)] + self._check_length(end)
        return self._check_length(end)

    def turn_audio(self) -> AudioFrame:
        """The current turn's audio so far (pre-roll, speech, the pause up to now)."""
        return AudioFrame(b"".join(f.pcm for f in self._turn), self._rate)

    def end_now(self) -> list[TurnEvent]:
        """End the turn at its last speech frame (after a `PauseHeard`: the question is finished)."""
        if self.state is not State.SPEAKING:
            return []
        return [self._end_turn(self._last_speech_end, "pause", keep_tail=True)]

    def flush(self, now_ms: float) -> list[TurnEvent]:
        """The audio stopped (hang-up, end of file): end a turn in progress, drop a pending one."""
        if self.state is State.SPEAKING:
            return [self._end_turn(now_ms, "flush", keep_tail=False)]
        if self.state is State.PENDING:
            self._drop_turn()
        return []

    def _check_length(self, end: float) -> list[TurnEvent]:
        if self._turn_ms < self.config.max_turn_ms:
            return []
        # Cut here and go on speaking in a new turn at once: no pre-roll (it would be heard
        # twice) and no min_speech_ms wait (a short last word would be dropped as a noise).
        ended = self._end_turn(end, "max_length", keep_tail=False)
        self.state, self._onset_ms = State.SPEAKING, end
        return [ended, SpeechStarted(end)]

    def _end_turn(self, ended_ms: float, reason: Literal["pause", "max_length", "flush"],
                  keep_tail: bool) -> SpeechEnded:
        turn = self._turn  # may be empty: a flush just after a max_length cut
        event = SpeechEnded(AudioFrame(b"".join(f.pcm for f in turn), self._rate), self._onset_ms, ended_ms, reason)
        self._reset(turn if keep_tail else [])
        return event

    def _drop_turn(self) -> None:
        self._reset(self._turn)

    def _reset(self, tail: list[AudioFrame]) -> None:
        """Back to idle; the end of `tail` becomes the pre-roll of the next turn."""
        self.state = State.IDLE
        self._asked = False
        self._turn, self._turn_ms = [], 0.0
        self._clear_pre_roll()
        for frame in tail:
            self._keep_pre_roll(frame)

    def _append(self, frame: AudioFrame) -> None:
        self._turn.append(frame)
        self._turn_ms += frame.duration_ms

    def _keep_pre_roll(self, frame: AudioFrame) -> None:
        self._pre_roll.append(frame)
        self._pre_roll_ms += frame.duration_ms
        while self._pre_roll and self._pre_roll_ms - self._pre_roll[0].duration_ms >= self.config.pre_roll_ms:
            self._pre_roll_ms -= self._pre_roll.popleft().duration_ms

    def _clear_pre_roll(self) -> None:
        self._pre_roll.clear()
        self._pre_roll_ms = 0.0
