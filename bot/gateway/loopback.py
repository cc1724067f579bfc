"""A caller's phone line and a transport peer in memory: drive a `LiveCall` in real time without
a network (benchmarks, tests, and a model of what a transport does)."""
from __future__ import annotations

import asyncio

import numpy as np

from bot.audio.frames import AudioFrame, samples_per_frame
from bot.call.timing import FRAME_MS, FRAME_S


class CallerLine:
    """The caller's side: a 20 ms frame every 20 ms (silence unless speaking), as RTP brings it,
    until the caller hangs up."""

    def __init__(self, call, rate: int = 8000) -> None:
        self.call, self.rate = call, rate
        self._queue: list[np.ndarray] = []
        self._spoken = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def say(self, samples: np.ndarray) -> None:
        """Speak `samples` (int16 at the line rate); returns when the last frame is sent."""
        n = samples_per_frame(self.rate)
        self._spoken.clear()
        self._queue += [samples[i:i + n] for i in range(0, samples.size - n + 1, n)]
        await self._spoken.wait()

    def hang_up(self) -> None:
        self._task.cancel()
        self.call.hung_up()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        n = samples_per_frame(self.rate)
        start = loop.time()
        k = 0
        while True:
            frame = self._queue.pop(0) if self._queue else np.zeros(n, np.int16)
            if not self._queue:
                self._spoken.set()
            self.call.audio(AudioFrame.from_samples(frame, self.rate))
            k += 1
            await asyncio.sleep(max(0.0, start + k * FRAME_S - loop.time()))


class RecordingPeer:
    """The transport's side: keeps what the bot sends; answers a transfer as configured."""

    def __init__(self, transfer_result: str | None = None) -> None:
        self.frames: list[AudioFrame | None] = []
        self.transfers: list[int] = []
        self.hangups: list[str] = []
        self.transfer_result = transfer_result

    async def send_audio(self, frame: AudioFrame | None) -> None:
        self.frames.append(frame)

    async def transfer(self, branch: int) -> str | None:
        self.transfers.append(branch)
        return self.transfer_result

    async def hangup(self, reason: str) -> None:
        self.hangups.append(reason)

    def voiced_ms(self) -> int:
        return FRAME_MS * sum(f is not None for f in self.frames)
