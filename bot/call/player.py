"""The bot's voice going out: one utterance at a time, handed out in 20 ms frames.

The transport pulls a frame every 20 ms (pacing is the transport's job); nothing is queued
ahead, so a barge-in stops the bot within one frame.
"""
from __future__ import annotations

import numpy as np

from bot.audio.frames import AudioFrame, samples_per_frame


class Player:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._frame = samples_per_frame(rate)
        self._audio = np.zeros(0, np.int16)
        self._pos = 0
        self.utterance_id: str | None = None

    @property
    def speaking(self) -> bool:
        return self.utterance_id is not None

    def start(self, utterance_id: str, audio: np.ndarray) -> None:
        self._audio, self._pos, self.utterance_id = audio, 0, utterance_id

    def stop(self) -> str | None:
        """Stop at once; returns the id of the utterance cut off (None if silent)."""
        stopped, self.utterance_id = self.utterance_id, None
        self._audio, self._pos = np.zeros(0, np.int16), 0
        return stopped

    def next_frame(self) -> tuple[AudioFrame | None, str | None]:
        """The next 20 ms of speech (None when silent), and the id of an utterance that just ended."""
        if self.utterance_id is None:
            return None, None
        chunk = self._audio[self._pos:self._pos + self._frame]
        self._pos += self._frame
        if chunk.size < self._frame:
            chunk = np.concatenate([chunk, np.zeros(self._frame - chunk.size, np.int16)])
        finished = None
        if self._pos >= self._audio.size:
            finished, self.utterance_id = self.utterance_id, None
        return AudioFrame.from_samples(chunk, self.rate), finished
