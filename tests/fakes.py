"""Stand-ins for the parts a test is not about, in one place.

- `KeywordBrain`: answers one FAQ entry (`ANSWER`) to anything it hears; counts what it was asked.
- `FakeAsr`: a recogniser (`AsrEngine`) that "hears" scripted transcripts, one per turn.
- `FakeVad`: speech wherever the frame is loud (no model).
- `FakeVoice`: a voice (`TtsEngine`) that speaks a tone of a plausible length (~70 ms a letter),
  so prompts take as long as a real voice's and nothing is synthesised.
- `fake_engines()`: `Engines` made of the three, for tests that only move frames and keys (the
  `fakes` fixture of tests/transports/; `recogniser_factory` for a `CallHost` on them).
- `CallerLine` / `RecordingPeer`: a caller's phone line and a transport's side of a `LiveCall`,
  in memory (also used by bench/calls.py to drive live calls without a network).

Tests about a component use the real one (tests/asr, tests/vad, tests/tts, and the end-to-end
call and transport tests that deliberately go through the real engines).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bot.asr.base import AsrEngine, AsrStream, Capabilities, as_pcm
from bot.audio.frames import AudioFrame, samples_per_frame
from bot.brain.client import BrainReply
from bot.call.handoff import Handoff
from bot.call.session import Engines
from bot.call.timing import FRAME_MS, FRAME_S
from bot.content.load import load_knowledge_base
from bot.tts.base import TtsEngine
from bot.tts.cache import PromptCache
from bot.vad.base import Vad, is_quiet, quiet_rms
from tests.conftest import ROOT

KB, _ = load_knowledge_base(ROOT / "data/faq")  # the real knowledge base the fakes answer from
ANSWER = KB.faq("hongheo_muc_ho_tro")


# ----- the brain ---------------------------------------------------------------------------------
class KeywordBrain:
    """Answers the poor-household FAQ to anything it hears; counts what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def turn(self, sender: str, text: str) -> BrainReply:
        self.asked.append(text)
        return BrainReply(text, "faq", 0.99, "answer", ANSWER.id, None,
                          f"{ANSWER.answer} {KB.prompt('anything_else')}")


# ----- the engines -------------------------------------------------------------------------------
class FakeAsrStream(AsrStream):
    def __init__(self, engine: FakeAsr) -> None:
        self._engine = engine
        self.samples = 0  # in the current turn
        self.closed = False

    def accept(self, pcm: np.ndarray) -> None:
        self.samples += as_pcm(pcm).size

    def partial(self) -> str:
        return ""

    def final(self) -> str:
        """The next scripted transcript for a turn that had audio ("" when the script is spent)."""
        heard, self.samples = self.samples, 0
        return self._engine.next_transcript() if heard else ""

    def close(self) -> None:
        self.closed = True


class FakeAsr(AsrEngine):
    """Scripted transcripts, one per caller turn across all its streams, in order."""

    name = "fake"
    sample_rate = 8000
    capabilities = Capabilities(streaming=True, partials=False, grammar=False)

    def __init__(self, transcripts: Sequence[str] = ()) -> None:
        self.transcripts = list(transcripts)
        self.streams: list[FakeAsrStream] = []

    def stream(self, grammar: Sequence[str] | None = None) -> FakeAsrStream:
        self._refuse_grammar(grammar)
        stream = FakeAsrStream(self)
        self.streams.append(stream)
        return stream

    def next_transcript(self) -> str:
        return self.transcripts.pop(0) if self.transcripts else ""


class FakeVad(Vad):
    """Speech wherever a frame is louder than -40 dBFS."""

    FLOOR = quiet_rms(-40)

    def is_speech(self, frame: AudioFrame) -> float:
        return 0.0 if is_quiet(frame.samples, self.FLOOR) or not frame.samples.size else 1.0

    def reset(self) -> None:
        pass


class FakeVoice(TtsEngine):
    """A 440 Hz tone, 70 ms per letter: as long as a real voice's prompt (espeak-ng: ~16 s of
    greeting, this: ~15.8 s). Empty text is silence (no samples)."""

    name = "fake-voice"
    sample_rate = 8000
    MS_PER_CHAR = 70

    def __init__(self) -> None:
        self.calls: list[str] = []

    @property
    def voice_key(self) -> str:
        return "fake-voice:tone"

    async def synth(self, text: str) -> np.ndarray:
        self.calls.append(text)
        n = len(text) * self.sample_rate * self.MS_PER_CHAR // 1000
        return (3000 * np.sin(2 * np.pi * 440 * np.arange(n) / self.sample_rate)).astype(np.int16)


def fake_engines(prompt_dir: Path, transcripts: Sequence[str] = ()) -> Engines:
    """Recogniser, VAD and voice all fake (prompts cached in `prompt_dir`), the real knowledge base."""
    voice = FakeVoice()
    return Engines(asr=FakeAsr(transcripts), tts=voice, cache=PromptCache.for_engine(voice, prompt_dir),
                   vad=FakeVad, kb=KB)


def recogniser_factory(engines: Engines) -> Callable[[], AsrEngine] | None:
    """For `CallHost(asr_factory=...)`: with a fake recogniser every extra recognition worker shares
    it (no model is loaded); with real engines None, i.e. the configured recogniser."""
    return (lambda: engines.asr) if isinstance(engines.asr, FakeAsr) else None


# ----- the phone line and the transport ------------------------------------------------------------
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
        self.handoffs: list[Handoff | None] = []  # what each transfer told the agent
        self.hangups: list[str] = []
        self.transfer_result = transfer_result

    async def send_audio(self, frame: AudioFrame | None) -> None:
        self.frames.append(frame)

    async def transfer(self, branch: int, handoff: Handoff | None = None) -> str | None:
        self.transfers.append(branch)
        self.handoffs.append(handoff)
        return self.transfer_result

    async def hangup(self, reason: str) -> None:
        self.hangups.append(reason)

    def voiced_ms(self) -> int:
        return FRAME_MS * sum(f is not None for f in self.frames)


def tone(seconds: float, rate: int = 8000) -> np.ndarray:
    """A 440 Hz tone: speech to the fake VAD, a question to the fake recogniser."""
    n = int(rate * seconds)
    return (3000 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.int16)


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Wait until `predicate()` holds; fail naming `what` after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.05)



async def one_call(host, digit: str | None = None, *, caller: str = "", before_start: bool = False,
                   timeout_s: float = 60.0):
    """One call on `host` (a CallHost) from a silent caller line, driven as a transport drives it:
    `digit` pressed 0.2 s in (or before the call has started, with `before_start`); returns the
    summary, the peer and the call once the call is over."""
    peer = RecordingPeer()
    call = host.open_call(peer, caller)
    if digit is not None and before_start:
        call.dtmf(digit)
    run = asyncio.create_task(call.run())
    line = CallerLine(call)
    try:
        if digit is not None and not before_start:
            await asyncio.sleep(0.2)
            call.dtmf(digit)
        summary = await asyncio.wait_for(run, timeout_s)
    finally:
        line.hang_up()
        run.cancel()
    return summary, peer, call
