"""The call's 20 ms grid: one frame of audio each way per slot, a policy tick every 100 ms.

Both drivers of a call step on it: `LiveCall` (bot/gateway/host.py) in real time, each slot paced
by its deadline, and `run_call` (bot/call/virtual_clock.py) on a virtual clock. `Grid.step` is the
step they share: the bot's next frame goes out, then the session is ticked when a tick is due.
Audio frames (bot/audio/frames.py) and the tests' in-memory phone line (tests/fakes.py) are cut to
the same frame length.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.audio.frames import AudioFrame
    from bot.call.session import CallSession

FRAME_MS = 20  # one slot: 160 samples at 8 kHz
FRAME_S = FRAME_MS / 1000
TICK_MS = 100  # how often the policy is told that time passes (its timeouts)
TICK_S = TICK_MS / 1000


def frame_ceil(ms: float) -> float:
    """The start of the first slot at or after `ms`."""
    return FRAME_MS * -(-ms // FRAME_MS)


class Grid:
    """The slots of one stretch of a call, from `start_ms`: the first tick is one tick later."""

    def __init__(self, start_ms: float) -> None:
        self.next_tick_ms = start_ms + TICK_MS

    async def step(self, session: CallSession, t_ms: float,
                   send: Callable[[AudioFrame | None], Awaitable[None]]) -> None:
        """One slot at `t_ms`: the bot's next 20 ms (None: silence) to `send`, then what follows
        it (`after`). The frame goes out first: what the policy does next never delays it."""
        frame, finished = session.next_frame()
        await send(frame)
        await self.after(session, t_ms, finished, self.tick_due(t_ms))

    def tick_due(self, t_ms: float) -> bool:
        """Whether the slot at `t_ms` carries a tick (each tick is due once)."""
        if t_ms < self.next_tick_ms:
            return False
        self.next_tick_ms += TICK_MS
        return True

    @staticmethod
    async def after(session: CallSession, t_ms: float, finished: str | None, tick: bool) -> None:
        """After a slot's frame: an utterance that ended, then the tick."""
        await session.frame_sent(t_ms, finished)
        if tick:
            await session.tick(t_ms)
