"""A whole call on a virtual clock, from a script: what `bot call` runs.

Script items: a WAV file the caller speaks, `dtmf:DIGITS`, `silence:SECONDS`, or
`barge:FILE` (spoken without waiting for the bot to finish). The caller waits politely for the
bot to finish speaking before each item, and hangs up after the last one once the bot listens.

The clock advances 20 ms per frame, plus the real time any processing took (ASR, brain, TTS), so
reported latencies are what a caller would experience, while silence costs no wall time.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from bot.audio.files import read_audio
from bot.audio.frames import AudioFrame, samples_per_frame
from bot.audio.phone import through_phone_line
from bot.call.session import CallSession
from bot.call.timing import FRAME_MS, Grid, frame_ceil

REPLY_WAIT_MS = 2500  # after speaking, a caller waits this long for the bot to react


@dataclass(frozen=True)
class ScriptItem:
    kind: str  # speak | dtmf | silence
    value: str | float
    barge: bool = False


class ScriptError(ValueError):
    pass


def parse_script(items: list[str]) -> list[ScriptItem]:
    parsed = []
    for item in items:
        if item.startswith("dtmf:"):
            digits = item[5:]
            if not digits or any(d not in "0123456789*#" for d in digits):
                raise ScriptError(f"{item!r}: keypad digits are 0-9, * and #")
            parsed.append(ScriptItem("dtmf", digits))
        elif item.startswith("silence:"):
            try:
                seconds = float(item[8:])
            except ValueError:
                raise ScriptError(f"{item!r}: silence:SECONDS, e.g. silence:10") from None
            parsed.append(ScriptItem("silence", seconds))
        elif item.startswith("barge:"):
            parsed.append(ScriptItem("speak", item[6:], barge=True))
        else:
            parsed.append(ScriptItem("speak", item))
    return parsed


class VirtualClock:
    """Call time in ms: the frame time, plus wall time spent inside the current step."""

    def __init__(self) -> None:
        self.t = 0.0
        self._wall = time.perf_counter()

    def begin_step(self, t: float) -> None:
        self.t, self._wall = t, time.perf_counter()

    def __call__(self) -> float:
        return self.t + (time.perf_counter() - self._wall) * 1000


def caller_audio(path: str, rate: int) -> np.ndarray:
    """What the bot hears of a recording over the phone: 8 kHz µ-law."""
    samples, original_rate = read_audio(path)
    line = through_phone_line(samples, original_rate)
    return line if rate == 8000 else read_audio(path, rate)[0]


def _frames(samples: np.ndarray, rate: int) -> Iterator[np.ndarray]:
    n = samples_per_frame(rate, FRAME_MS)
    for start in range(0, samples.size, n):
        chunk = samples[start:start + n]
        yield chunk if chunk.size == n else np.concatenate([chunk, np.zeros(n - chunk.size, np.int16)])


async def run_call(session: CallSession, script: list[ScriptItem], clock: VirtualClock, rate: int,
                   load: Callable[[str, int], np.ndarray] = caller_audio,
                   bot_audio: list[np.ndarray] | None = None, max_s: float = 900.0) -> dict:
    """Play the script into `session`; returns the summary. `bot_audio` collects the bot's side."""
    silence = np.zeros(samples_per_frame(rate, FRAME_MS), np.int16)

    async def keep(out: AudioFrame | None) -> None:
        if bot_audio is not None:
            bot_audio.append(out.samples if out is not None else silence)

    pending = list(script)
    current: Iterator[np.ndarray] | None = None
    quiet_until: float | None = None
    spoke_at: float | None = None  # end of the caller's last recording, until the bot reacts
    t = 0.0
    grid = Grid(t)
    clock.begin_step(t)
    await session.start()
    while t < max_s * 1000 and not session.done:
        t = max(t, frame_ceil(clock()))  # processing time moves the call forward
        clock.begin_step(t)
        frame = None
        if spoke_at is not None and (session.bot_busy or t - spoke_at > REPLY_WAIT_MS):
            spoke_at = None  # the bot took its turn (or ignored a noise): the caller may go on
        if current is None and quiet_until is None and spoke_at is None and pending:
            item = pending[0]
            if item.barge or not session.bot_busy:
                pending.pop(0)
                if item.kind == "speak":
                    current = _frames(load(str(item.value), rate), rate)
                elif item.kind == "dtmf":
                    await session.dtmf(str(item.value), t)
                else:
                    quiet_until = t + float(item.value) * 1000
        elif current is None and quiet_until is None and spoke_at is None and not session.bot_busy:
            await session.caller_hung_up(t)  # script done, bot listening: the caller hangs up
            break
        if current is not None:
            frame = next(current, None)
            if frame is None:
                current, spoke_at = None, t
        if quiet_until is not None and t >= quiet_until:
            quiet_until = None
        await session.audio_in(AudioFrame.from_samples(frame if frame is not None else silence, rate), t)
        await grid.step(session, t, keep)
        t += FRAME_MS
    return session.close()


def script_problems(items: list[ScriptItem]) -> list[str]:
    """Problems with the script's files, found before the call starts (clear errors, no half call)."""
    problems = []
    for item in items:
        if item.kind == "speak":
            try:
                read_audio(str(item.value))
            except Exception as exc:  # noqa: BLE001 - reported to the user
                problems.append(str(exc))
    return problems
