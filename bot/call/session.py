"""CallSession: one call, from caller frames to bot frames, with the policy deciding.

Transport-agnostic: a transport (or the simulator) feeds `audio_in`, `dtmf`, `tick`,
`caller_hung_up`, and pulls `audio_out` every 20 ms. Times are ms on the call's clock; the
`clock` callable tells the session the time after slow work (ASR, brain, TTS), so events and
latencies are stamped when things really happened.

Any engine failure becomes `EngineFailed`: the policy apologises and transfers. The session never
raises into the transport for a caller's problem, and its record is written when it ends.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.danger.live import LiveDangerNet
from bot.danger.model import DangerNet
from bot.asr.base import AsrEngine, AsrStream
from bot.audio.frames import AudioFrame
from bot.call.events import (AnswerEvent, BotSayEvent, CallerTextEvent, CallEvent, DtmfEvent, Emitter,
                             EngineErrorEvent, HangupEvent, Listener, MendedCallerTextEvent, NluEvent, SummaryEvent, TransferEvent,
                             TransferFailedEvent)
from bot.call.handoff import Handoff, HandoffConfig, Share, build_handoff
from bot.call.hearing import CallerStarted, CallerTurn, Hearing
from bot.call.player import Player
from bot.call.records import CallRecorder
from bot.call.timing import FRAME_S
from bot.content.model import KnowledgeBase
from bot.policy.commands import Action, AskBrain, Hangup, Listen, Say, StopSpeaking, Transfer
from bot.policy.events import (BargeIn, BrainDecided, CallerHungUp, CallerSaid, CallStarted, Dtmf, EngineFailed,
                               Event, PlaybackFinished, Tick, TransferFailed)
from bot.policy.policy import CallPolicy, Phase, PolicyConfig
from bot.policy.reasons import Reason, detail_of
from bot.tts.base import TtsEngine
from bot.tts.cache import PromptCache
from bot.vad.base import Vad
from bot.vad.smart_turn import SmartTurnModel
from bot.vad.turns import TurnConfig

if TYPE_CHECKING:
    from bot.gateway.recognition import RemoteHearing

log = logging.getLogger(__name__)


class Brain(Protocol):
    async def turn(self, sender: str, text: str) -> Any: ...


@dataclass
class Engines:
    """Loaded once per process, shared by every call."""

    asr: AsrEngine
    tts: TtsEngine
    cache: PromptCache
    vad: Callable[[], Vad]
    kb: KnowledgeBase
    # The safety net for a new call (bot/danger/live.py keeps it current); None: the kb's own.
    danger: Callable[[], DangerNet | None] | None = None
    # The end-of-turn model (bot/vad/smart_turn.py); None: turns end on silence alone.
    turn_model: SmartTurnModel | None = None
    # Built from the settings by `make_engines`: a recognition worker process builds the same
    # recogniser, VAD and turn model from them. Engines handed in otherwise (tests' fakes, a
    # recogniser wrapped to watch it) exist only here, so their calls are heard in threads.
    from_settings: bool = False


@dataclass(frozen=True)
class CallConfig:
    rate: int = 8000
    turns: TurnConfig = TurnConfig(end_pause_ms=350, max_turn_ms=15000, min_speech_ms=200)
    policy: PolicyConfig = PolicyConfig()
    turn_complete_at: float = 0.5  # the turn model's P(finished) that ends a turn at end_pause_ms
    handoff: HandoffConfig = HandoffConfig()  # what a transfer tells the agent (privacy.share_with_agent)


class CallSession:
    def __init__(self, call_id: str, engines: Engines, brain: Brain, config: CallConfig,
                 clock: Callable[[], float], emit: Emitter | Listener, recorder: CallRecorder | None = None,
                 executor: Executor | None = None, asr_stream: AsrStream | None = None,
                 hearing: RemoteHearing | None = None) -> None:
        """`executor`: where recognition runs (a gateway's recognition worker: the recogniser
        releases the GIL, so the event loop stays free for 20 ms pacing). None: inline, as the
        simulator. `asr_stream`: a stream the caller made on that worker (default: a new one).
        `hearing`: the call's hearing in a recognition process instead (bot/gateway/recognition.py,
        already opened there); its steps are awaited, nothing runs here.
        `emit`: where the call's events go (bot/call/events.py), an `Emitter` or one listener of
        their JSON form."""
        self.call_id = call_id
        self._engines = engines
        self._brain = brain
        self._config = config
        self._clock = clock
        self._events = emit if isinstance(emit, Emitter) else Emitter(emit)
        self._recorder = recorder
        self._recorded = False
        danger = engines.danger() if engines.danger else engines.kb.danger
        self.policy = CallPolicy(engines.kb.prompt, config.policy, danger=danger, branches=engines.kb.branches)
        self._player = Player(config.rate)
        judge = engines.turn_model.complete if engines.turn_model is not None and config.turns.holds else None
        self._remote = hearing
        self._hearing: Hearing | RemoteHearing = hearing if hearing is not None else Hearing(
            engines.vad(), asr_stream or engines.asr.stream(), config.turns, judge, config.turn_complete_at)
        # After a recogniser failure the call is being put through to a person: feeding the broken
        # hearing again would fail again and cut the apology short (the policy ends a call at once
        # when an engine fails while it is already closing).
        self._deaf = False
        self._executor = executor
        self._hearing_closed = False
        self._hearing_step = asyncio.Lock()  # one hearing step at a time, in frame order
        self.transfer: TransferEvent | None = None  # set when the policy hands the call over
        self.handoff: Handoff | None = None  # what goes with that transfer to the agent (bot/call/handoff.py)
        self._last_turn_end: float | None = None
        self.latencies_ms: list[float] = []  # caller's end of speech -> first frame of the reply
        self.ended = False
        self._closed = False

    # ----- state the simulator and transports read -------------------------------------------
    @property
    def bot_busy(self) -> bool:
        """The bot is speaking or deciding: a polite caller waits."""
        return self._player.speaking or self.policy.phase in (Phase.THINKING, Phase.SPEAKING)

    @property
    def turn_stats(self) -> tuple[list[float], int]:
        """The turn model's answers in this call, and how many turns ended only at the hold pause."""
        return list(self._hearing.judged), self._hearing.held

    @property
    def done(self) -> bool:
        return self.ended and not self._player.speaking

    # ----- inputs ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self._handle(CallStarted(self._s()))

    async def audio_in(self, frame: AudioFrame, t_ms: float) -> None:
        await self.audio_in_many([(frame, t_ms)])

    async def audio_in_many(self, frames: list[tuple[AudioFrame, float]]) -> None:
        """Caller frames in order (a transport that fell behind hands over its backlog at once)."""
        if self.ended or self._deaf or not frames:
            return
        async with self._hearing_step:
            if self._closed or self._deaf:
                return
            try:
                events = await self._step("feed_many", frames)
            except Exception as exc:  # noqa: BLE001 - an engine failure must not end the process
                log.exception("ASR/VAD failed")
                self._deaf = True
                self._emit(EngineErrorEvent("asr", type(exc).__name__))
                await self._handle(EngineFailed(self._s(), f"asr:{type(exc).__name__}"))
                return
        await self._on_heard(events)

    async def dtmf(self, digits: str, t_ms: float) -> None:
        self._emit(DtmfEvent(digits), t_ms)
        for digit in digits:
            await self._handle(Dtmf(t_ms / 1000, digit))

    async def tick(self, t_ms: float) -> None:
        await self._handle(Tick(t_ms / 1000))

    async def caller_hung_up(self, t_ms: float) -> None:
        if self.ended:
            return
        async with self._hearing_step:
            try:
                events = [] if self._closed or self._deaf else await self._step("flush", t_ms)
            except Exception:  # noqa: BLE001
                log.exception("ASR flush failed")
                events = []
        await self._on_heard(events)
        self._emit(HangupEvent("caller", Reason.CALLER_HUNG_UP.text()), t_ms)
        self.policy.handle(CallerHungUp(t_ms / 1000))
        self.ended = True
        self._player.stop()

    async def transfer_failed(self, why: str, t_ms: float) -> None:
        """The transport could not hand the call over: the caller hears which number to dial."""
        self._emit(TransferFailedEvent(why), t_ms)
        self.ended = False
        self.transfer = None
        self.handoff = None
        await self._handle(TransferFailed(t_ms / 1000, why))

    def next_frame(self) -> tuple[AudioFrame | None, str | None]:
        """The next 20 ms of the bot's voice (None: silence) and the id of an utterance it ends.
        Taking a frame never waits: a live call sends it in its slot, then `frame_sent`."""
        return self._player.next_frame()

    async def frame_sent(self, t_ms: float, finished: str | None) -> None:
        """After the frame of the slot at `t_ms`: the policy hears that an utterance ended (and may
        start the next one, which can wait for the voice)."""
        if finished is not None:
            await self._handle(PlaybackFinished(t_ms / 1000 + FRAME_S, finished))

    async def aclose(self) -> SummaryEvent:
        """`close` once no recognition step is running, freeing the stream on its worker (native
        recognisers are not thread-safe: everything touching one runs on one thread). The record
        is written first: freeing the recogniser can wait for a step in progress (over a second
        in one measured run), and a gateway killed meanwhile would leave a call that ended well
        recorded as `gateway_died`."""
        self._record(self.summary())
        async with self._hearing_step:
            if not self._closed and (self._executor is not None or self._remote is not None):
                try:
                    await self._step("close")
                except Exception:  # noqa: BLE001 - the record must still be written
                    log.exception("closing the recogniser failed")
                self._hearing_closed = True
            return self.close()

    def close(self) -> SummaryEvent:
        """End of the call: free the recogniser, write the record, return the summary.
        With an executor, use `aclose`."""
        summary = self.summary()
        if not self._closed:
            self._closed = True
            if not self._hearing_closed and self._remote is None:  # a remote one closes in `aclose`
                self._hearing.close()
            self._record(summary)
        return summary

    def _record(self, summary: SummaryEvent) -> None:
        """Write the call's record, once."""
        if self._recorder is None or self._recorded:
            return
        self._recorded = True
        try:
            self._recorder.close(summary)
        except OSError:
            log.exception("could not write the call record")  # logged; the call is unaffected

    def summary(self) -> SummaryEvent:
        s = self.policy.summary()
        return SummaryEvent(outcome=s.outcome, branch=s.branch, turns=s.turns, reason=s.reason, danger=s.danger,
                            answers=list(s.answers), duration_s=round(s.duration_s, 3),
                            latency_ms=[round(x) for x in self.latencies_ms])

    # ----- internals ---------------------------------------------------------------------------
    async def _step(self, name: str, *args: Any) -> Any:
        """A hearing step (`feed_many`, `flush`, `close`): awaited in its recognition process, or
        run on the call's worker thread."""
        if self._remote is not None:
            return await getattr(self._remote, name)(*args)
        return await self._on_worker(getattr(self._hearing, name), *args)

    async def _on_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a recogniser step on the call's worker thread (inline without an executor)."""
        if self._executor is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _s(self) -> float:
        return self._clock() / 1000

    def _emit(self, event: CallEvent, t_ms: float | None = None) -> None:
        """Into the record and out to the listeners, stamped with the call time (default: now)."""
        t = (self._clock() if t_ms is None else t_ms) / 1000
        if self._recorder is not None:
            self._recorder.add(event, t)
        self._events(event, t)

    async def _on_heard(self, events: list[CallerStarted | CallerTurn]) -> None:
        for event in events:
            if isinstance(event, CallerStarted):
                await self._handle(BargeIn(event.t_ms / 1000))
            else:
                self._last_turn_end = event.ended_ms
                actions = self.policy.handle(CallerSaid(self._s(), event.text))
                # A continuation of the question the bot took for finished: the whole question.
                mended = next((a for a in actions if isinstance(a, AskBrain) and a.mended), None)
                said = MendedCallerTextEvent(mended.text) if mended else CallerTextEvent(event.text)
                self._emit(said, event.ended_ms)
                await self._run(actions)

    async def _handle(self, event: Event) -> None:
        await self._run(self.policy.handle(event))

    async def _run(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Say):
                await self._say(action)
            elif isinstance(action, StopSpeaking):
                self._player.stop()
            elif isinstance(action, AskBrain):
                await self._ask(action.text)
            elif isinstance(action, Transfer):
                self.transfer = TransferEvent(action.branch, action.reason, list(action.recent))
                self.handoff = build_handoff(self.call_id, action.branch, action.reason, action.faq_id,
                                             action.recent, self._config.handoff)
                self._emit(self.transfer)
                self.ended = True
            elif isinstance(action, Hangup):
                self._emit(HangupEvent("bot", action.reason))
                self.ended = True
            elif isinstance(action, Listen):
                pass

    async def _say(self, say: Say) -> None:
        try:
            audio = await self._engines.cache.audio(say.text, self._engines.tts)
        except Exception as exc:  # noqa: BLE001 - the policy apologises, or transfers at once
            log.exception("TTS failed")
            self._emit(EngineErrorEvent("voice", type(exc).__name__))
            await self._handle(EngineFailed(self._s(), f"tts:{type(exc).__name__}"))
            return
        self._player.start(say.utterance_id, audio)
        now = self._clock()
        if self._last_turn_end is not None:
            self.latencies_ms.append(now - self._last_turn_end)
            self._last_turn_end = None
        self._emit(BotSayEvent(say.text, round(1000 * audio.size / self._config.rate)), now)

    async def _ask(self, text: str) -> None:
        reply = await self._brain.turn(self.call_id, text)  # never raises: it falls back itself
        if Reason.BRAIN_UNAVAILABLE.matches(reply.reason):  # bot/brain/client.py's fallback
            self._emit(EngineErrorEvent("brain", detail_of(reply.reason) or "unavailable"))
        self._emit(NluEvent(reply.intent, reply.confidence))
        if reply.action == "answer" and reply.faq_id:
            self._emit(AnswerEvent(reply.faq_id))
        await self._handle(BrainDecided(self._s(), reply))


def make_engines(settings: Any, kb: KnowledgeBase) -> Engines:
    """Load the configured engines (once per process)."""
    from bot.asr.registry import make_asr
    from bot.tts import make_tts
    from bot.tts.recordings import RecordedPrompts
    from bot.vad.registry import make_vad

    v = settings.voice
    vad = make_vad(v.vad_engine)
    if settings.gateway.in_processes:
        from bot.asr.registry import OnDemandAsr

        asr: AsrEngine = OnDemandAsr(v.asr_engine, v.asr_model_dir or None)  # the workers load their own
    else:
        asr = make_asr(v.asr_engine, v.asr_model_dir or None)
    tts = make_tts(v.tts_engine, v.tts_model_dir or None)
    cache = PromptCache.for_engine(tts, settings.path(v.prompt_cache_dir), recordings=RecordedPrompts(settings.path(v.recordings_dir)))
    danger = LiveDangerNet(settings.path(settings.content.dir), kb.branches, kb.danger)
    from bot.vad.smart_turn import load_turn_model

    turn_model = load_turn_model(settings.path(v.turn_model)) if v.turn_model and v.hold_pause_ms else None
    return Engines(asr=asr, tts=tts, cache=cache, vad=vad, kb=kb, danger=danger.current, turn_model=turn_model,
                   from_settings=True)


def call_config(settings: Any) -> CallConfig:
    v, d, p = settings.voice, settings.dialogue, settings.privacy
    return CallConfig(
        rate=v.line_rate,
        turns=TurnConfig(end_pause_ms=v.end_pause_ms, max_turn_ms=v.max_turn_s * 1000, min_speech_ms=v.min_speech_ms,
                         hold_pause_ms=v.hold_pause_ms),
        policy=PolicyConfig(human_branch=d.human_branch, no_input_timeout_s=v.no_input_timeout_s,
                            max_call_s=v.max_call_s, mend_window_s=v.mend_window_s),
        turn_complete_at=v.turn_complete_at,
        handoff=HandoffConfig(share=Share.parse(p.share_with_agent), summary_chars=p.summary_chars))


__all__ = ["CallSession", "Engines", "CallConfig", "make_engines", "call_config"]
