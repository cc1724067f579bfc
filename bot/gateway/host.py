"""The live side of calls: what every transport (SIP, AudioSocket, browser) plugs into.

A transport only moves audio frames, keypad digits and hang-ups. For each call it implements a
`CallPeer` (send a 20 ms frame, hand the call over to a branch, hang up) and feeds a `LiveCall`
with what arrives. `LiveCall.run()` does the rest: the call's `CallSession`, recognition in the
host's worker threads (the recogniser releases the GIL, so the event loop stays free to pace
audio), outgoing audio paced on a 20 ms grid by deadline (no drift), ticks, the transfer, the
record. A call never raises into its transport, and one call's failure never touches another.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.asr.base import AsrEngine, AsrError
from bot.audio.frames import AudioFrame
from bot.audio.jitter import Playout
from bot.call.events import CallEndedEvent, Emitter, Listener, SummaryEvent
from bot.call.handoff import Handoff
from bot.call.records import CallRecorder, mask_phone
from bot.call.session import Brain, CallConfig, CallSession, Engines
from bot.call.timing import FRAME_MS, FRAME_S, Grid
from bot.config import Settings
from bot.gateway.recognition import RecognitionDied, RecognitionProcess, RemoteHearing, WorkerSpec
from bot.ops.logs import call_id_var
from bot.policy.reasons import Reason

log = logging.getLogger(__name__)


class CallPeer(Protocol):
    """The transport's half of one call. Called from the event loop; must not block."""

    async def send_audio(self, frame: AudioFrame | None) -> None:
        """The next 20 ms of the bot's voice at the line rate (None: the bot is silent; send
        silence or nothing, as the wire format prefers)."""

    async def transfer(self, branch: int, handoff: Handoff | None = None) -> str | None:
        """Hand the call over to `branch` (1-6) after the announcement has finished playing, with
        `handoff`, what the agent is told (bot/call/handoff.py: only what privacy allows), as the
        transport can carry it. Return None once the call is handed over (the transport then ends
        its leg), or a short reason why not (refused, timeout, no transfer path): the bot then
        tells the caller which number to dial and hangs up."""

    async def hangup(self, reason: str) -> None:
        """The bot ends the call (goodbye, no input, failed transfer)."""


@dataclass
class HostStats:
    calls_started: int = 0
    calls_refused: int = 0
    late_frames: int = 0      # outgoing frames sent after their 20 ms slot ended
    frames_sent: int = 0
    recognition_restarts: int = 0  # recognition processes that died and were replaced
    lateness_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


class RecognitionWorker:
    """One thread with its own recogniser. Native recognisers are not thread-safe (vietasr
    crashed with several threads on one model: measured, docs/benchmarks.md), so a call's
    stream is made, fed and freed on the one worker that owns its model."""

    def __init__(self, index: int, engine: AsrEngine, owned: bool) -> None:
        self.engine = engine
        self.owned = owned  # made by the host (closed with it), or the process's shared engine
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"asr{index}")
        self.calls = 0

    def close(self) -> None:
        if self.owned:
            try:
                self.executor.submit(self.engine.close).result(timeout=10)
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.exception("closing a recogniser failed")
        self.executor.shutdown(wait=False, cancel_futures=True)


def _transport_name(peer: object) -> str:
    """The transport's name for records ("sip", "audiosocket", "web"): its package in bot/transports/."""
    parts = type(peer).__module__.split(".")
    return parts[2] if parts[:2] == ["bot", "transports"] and len(parts) > 2 else "other"


class NoHearing:
    """Stands in for the recogniser a call could not get (every recognition process dead, a model
    that failed to load): each step raises, as a failing recogniser would."""

    def __init__(self, why: BaseException) -> None:
        self.why = why

    async def feed_many(self, frames: list[Any]) -> list[Any]:
        raise AsrError(f"no recogniser for this call: {self.why}")

    async def flush(self, t_ms: float) -> list[Any]:
        raise AsrError(f"no recogniser for this call: {self.why}")

    async def close(self) -> None:
        return None


class CallHost:
    """Engines, brain client, recognition workers and the calls of one gateway process."""

    def __init__(self, settings: Settings, engines: Engines, brain: Brain, config: CallConfig,
                 asr_factory: Callable[[], AsrEngine] | None = None) -> None:
        """`asr_factory` loads one more recogniser per extra worker (default: as configured)."""
        self.settings = settings
        self.engines = engines
        self.brain = brain
        self.config = config
        self._asr_factory = asr_factory
        self._workers: list[RecognitionWorker] = []
        # gateway.recognition = processes: the worker processes, by slot (a dead one's slot gets
        # its replacement), and the tasks starting replacements.
        self._procs: list[RecognitionProcess] = []
        self._replacing: set[asyncio.Task] = set()
        self._closing = False
        self.calls: dict[str, LiveCall] = {}
        self.stats = HostStats()
        self.listeners: list[Listener] = []  # every call's events (metrics, tests), from its start
        self.records: Any = None  # a bot.records.store.RecordStore: every call's record also goes there

    @property
    def full(self) -> bool:
        return len(self.calls) >= self.settings.gateway.max_calls

    def open_call(self, peer: CallPeer, caller: str = "", call_id: str | None = None,
                  on_event: Listener | None = None) -> LiveCall:
        """A new call (the transport then awaits `run()`). Check `full` first to refuse politely."""
        call_id = call_id or uuid.uuid4().hex[:16]
        call = LiveCall(self, call_id, peer, caller, on_event)
        self.calls[call_id] = call
        self.stats.calls_started += 1
        log.info("call %s from %s", call_id, mask_phone(caller) if caller else "unknown", extra={"call_id": call_id})
        return call

    @property
    def workers(self) -> list[RecognitionWorker]:
        """Loaded at the first call, or ahead of time by touching this (gateway start-up)."""
        if not self._workers:
            n = self.settings.gateway.asr_workers or os.cpu_count() or 1
            factory = self._asr_factory
            if factory is None:
                from bot.asr.registry import make_asr

                voice = self.settings.voice
                factory = lambda: make_asr(voice.asr_engine, voice.asr_model_dir or None)  # noqa: E731
            # The process's shared engine serves worker 0 only; each other worker loads its own.
            self._workers = [RecognitionWorker(0, self.engines.asr, owned=False)]
            self._workers += [RecognitionWorker(i, factory(), owned=True) for i in range(1, n)]
        return self._workers

    @property
    def uses_processes(self) -> bool:
        """Recognition in worker processes: so configured, and the engines are the configured ones
        (a worker builds its own from the settings; engines made otherwise stay in threads)."""
        return self.settings.gateway.in_processes and self.engines.from_settings and self._asr_factory is None

    async def load_workers(self) -> None:
        """Load every worker's recogniser before the first call, off the event loop: loading a
        model takes ~0.5 s of CPU, and calls already running would miss their 20 ms slots
        (measured: the lazy load at the first call made frames up to 0.2 s late at 10 calls)."""
        if self.uses_processes:
            await self._start_processes()
        else:
            await asyncio.get_running_loop().run_in_executor(None, lambda: self.workers)

    async def _take_worker(self) -> RecognitionWorker | RecognitionProcess:
        if self.uses_processes:
            worker: RecognitionWorker | RecognitionProcess = await self._take_process()
        else:
            worker = min(self.workers, key=lambda w: w.calls)
        worker.calls += 1
        return worker

    # ----- recognition processes (gateway.recognition = processes) --------------------------------
    @property
    def processes(self) -> list[RecognitionProcess]:
        return list(self._procs)

    async def _start_processes(self) -> None:
        if self._procs:
            return
        n = self.settings.gateway.asr_workers or os.cpu_count() or 1
        spec = WorkerSpec.from_settings(self.settings)
        self._procs = [RecognitionProcess(i, spec, self._process_ended) for i in range(n)]
        await asyncio.gather(*(p.start() for p in self._procs))

    async def _take_process(self, wait_s: float = 30.0) -> RecognitionProcess:
        """The least busy live process; while none is (all died at once), wait for a replacement."""
        if not self._procs:
            await self._start_processes()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            alive = [p for p in self._procs if p.ready and not p.dead]
            if alive:
                return min(alive, key=lambda p: p.calls)
            if loop.time() > deadline or self._closing:
                raise RecognitionDied("no recognition process is running")
            await asyncio.sleep(0.1)

    def _process_ended(self, proc: RecognitionProcess) -> None:
        """A worker process died under its calls (they fail over to a person by themselves, see
        bot/gateway/recognition.py): start a replacement in its slot for the next calls."""
        if self._closing:
            return
        log.error("%s; %d calls on it are put through to a person; starting a replacement",
                  proc.error, proc.calls)
        self.stats.recognition_restarts += 1
        task = asyncio.get_running_loop().create_task(self._replace(proc), name=f"replace-recognition-{proc.index}")
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _replace(self, dead: RecognitionProcess) -> None:
        delay = 0.0
        while not self._closing:
            fresh = RecognitionProcess(dead.index, dead.spec, self._process_ended)
            try:
                await fresh.start()
            except RecognitionDied as exc:
                await fresh.aclose()
                delay = min(30.0, max(1.0, 2 * delay))  # a process that cannot load: retry, slower
                log.error("replacement recognition process failed (%s); again in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            if self._closing:
                await fresh.aclose()
                return
            self._procs[dead.index] = fresh
            return

    def _forget(self, call: LiveCall) -> None:
        self.calls.pop(call.call_id, None)

    async def aclose(self) -> None:
        """Free the workers (ending running calls is the transports' job); worker processes exit
        and are reaped here."""
        self._closing = True
        for task in list(self._replacing):
            task.cancel()
        await asyncio.gather(*self._replacing, return_exceptions=True)
        await asyncio.gather(*(p.aclose() for p in self._procs), return_exceptions=True)
        self._procs = []
        for worker in self._workers:
            await asyncio.get_running_loop().run_in_executor(None, worker.close)
        self._workers = []


class LiveCall:
    """One call in real time. Feed it from the transport; `run()` until the call is over."""

    def __init__(self, host: CallHost, call_id: str, peer: CallPeer, caller: str,
                 on_event: Listener | None) -> None:
        self.host = host
        self.call_id = call_id
        self.peer = peer
        self.caller = caller
        self._on_event = on_event
        self._inbox: deque[tuple[str, Any, float]] = deque()
        self._arrived = asyncio.Event()
        self._t0: float | None = None
        self._last_input: float = 0.0
        self._hung_up = False
        self._heard_ms = 0.0
        self.playout = Playout()
        self.summary: SummaryEvent | None = None
        self.session: CallSession | None = None  # once the call is answered
        self.events: list[dict[str, Any]] = []  # this call's events (JSON form), for transports and tests

    # ----- from the transport (never blocks) -----------------------------------------------------
    # The caller's audio goes through the call's `Playout` (bot/audio/jitter.py), pulled on this
    # call's 20 ms pacing in `_speak_until_done`: recognition gets one frame per slot, real or
    # silence, so a caller's turn ends by the clock when their audio stops (silence suppression,
    # comfort noise, a dead line) on every transport. Here rather than in each transport because
    # the pacing loop is already here (no timer per call), and AudioSocket and the browser need
    # the same clock; RTP only adds its sequence numbers (reordering, duplicates, loss).
    def audio(self, frame: AudioFrame, seq: int | None = None, ts: int | None = None,
              marker: bool = False) -> None:
        """One frame of the caller's audio as it arrived; `seq`, `ts`, `marker`: its RTP sequence
        number, timestamp and marker bit when the transport has them (None: in order, reliable)."""
        if self._hung_up:
            return
        self.playout.push(frame, self._touch(), seq, ts, marker)

    def caller_silent(self, level: int | None = None, seq: int | None = None) -> None:
        """The line says the caller is silent (an RFC 3389 comfort-noise packet, `level` in -dBov).
        It keeps the line alive for the media timeout; it is never speech."""
        if self._hung_up:
            return
        self.playout.caller_silent(self._touch(), level, seq)

    def dtmf(self, digit: str) -> None:
        self._put("dtmf", digit)

    def hung_up(self) -> None:
        """The caller hung up or the line died (BYE, socket closed, media timeout)."""
        if not self._hung_up:
            for frame in self.playout.drain():  # their last words, still waiting, are heard first
                self._inbox.append(("audio", frame, self._stamp(self._now_ms())))
        self._put("hangup", None)

    def _touch(self) -> float:
        """Real media arrived now: the line is alive (generated silence never counts)."""
        now = asyncio.get_running_loop().time()
        if self._t0 is not None:
            self._last_input = now
        return now

    def _stamp(self, t_ms: float) -> float:
        """Frames reach recognition in time order, even when a slot hands over a backlog."""
        self._heard_ms = max(self._heard_ms, t_ms)
        return self._heard_ms

    def _play_in(self, now: float) -> None:
        """This slot's caller audio from the playout to recognition (called every 20 ms)."""
        frames = self.playout.pull(now)
        if not frames or self._hung_up:
            return
        t = self._now_ms()
        for i, frame in enumerate(frames):
            self._inbox.append(("audio", frame, self._stamp(t - FRAME_MS * (len(frames) - 1 - i))))
        self._arrived.set()

    def _put(self, kind: str, value: Any) -> None:
        if self._hung_up:
            return
        if kind == "hangup":
            self._hung_up = True
        if self._t0 is not None:
            self._last_input = asyncio.get_running_loop().time()
        self._inbox.append((kind, value, self._now_ms()))
        self._arrived.set()

    # ----- the call ------------------------------------------------------------------------------
    def _now_ms(self) -> float:
        loop = asyncio.get_running_loop()
        return 0.0 if self._t0 is None else (loop.time() - self._t0) * 1000

    async def run(self) -> SummaryEvent:
        """The whole call; returns its summary. Never raises for a caller's or engine's problem."""
        token = call_id_var.set(self.call_id)  # every log line of this call (and its tasks) carries its id
        try:
            summary = await self._run()
            log.info("call %s ended: %s%s, %d turns, %.1f s", self.call_id, summary.outcome,
                     f" to branch {summary.branch} ({summary.reason})" if summary.branch else "",
                     summary.turns, summary.duration_s)
            return summary
        finally:
            call_id_var.reset(token)

    async def _run(self) -> SummaryEvent:
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        self._last_input = self._t0
        host = self.host
        privacy = host.settings.privacy
        recorder = CallRecorder(host.settings.path(privacy.records_dir), self.call_id, self.caller,
                                keep_transcripts=privacy.keep_transcripts, store=host.records,
                                transport=_transport_name(self.peer))
        # Every event of the call, with its id: kept here, to the transport, to the host's listeners.
        emit = Emitter(self.events.append, self._on_event, *host.listeners, call_id=self.call_id)
        worker: RecognitionWorker | RecognitionProcess | None = None
        try:
            worker = await host._take_worker()
            if isinstance(worker, RecognitionProcess):
                hearing = RemoteHearing(worker, self.call_id)
                await hearing.open(host.config.turns, host.config.turn_complete_at)
                session = CallSession(self.call_id, host.engines, host.brain, host.config, self._now_ms, emit,
                                      recorder, hearing=hearing)
            else:
                stream = await loop.run_in_executor(worker.executor, worker.engine.stream)
                session = CallSession(self.call_id, host.engines, host.brain, host.config, self._now_ms, emit,
                                      recorder, executor=worker.executor, asr_stream=stream)
        except Exception as exc:  # noqa: BLE001 - no recogniser: this call cannot be answered, others go on
            # Never silence on the line: the call goes on without ears, so its first recognition
            # step fails and the policy's engine-failure path apologises and puts the caller
            # through to a person (the engine error is counted there, once).
            log.exception("call %s: cannot start recognition", self.call_id)
            if worker is not None:
                worker.calls -= 1
                worker = None
            session = CallSession(self.call_id, host.engines, host.brain, host.config, self._now_ms, emit,
                                  recorder, hearing=NoHearing(exc))
        self.session = session
        listen: asyncio.Task | None = None
        try:
            await session.start()
            # Only now: input that arrived while the greeting was being prepared (a key pressed
            # at once) waits in the inbox instead of reaching a policy that has not answered yet.
            listen = loop.create_task(self._listen(session), name=f"listen-{self.call_id}")
            await self._speak_until_done(session)
            if session.transfer is not None and not self._hung_up:
                why = await self._transfer(session.transfer.branch, session.handoff)
                if why is not None:
                    await session.transfer_failed(why, self._now_ms())
                    await self._speak_until_done(session)
                    await self._hangup(session)
            elif not self._hung_up:
                await self._hangup(session)
        except Exception:  # noqa: BLE001 - this call ends; the process and other calls go on
            log.exception("call %s failed", self.call_id)
            try:
                await self.peer.hangup(Reason.ERROR.text())
            except Exception:  # noqa: BLE001
                log.exception("call %s: hangup failed", self.call_id)
        finally:
            if listen is not None:
                listen.cancel()
                try:
                    await listen
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass
            self.summary = await session.aclose()  # the record is written here, whatever happened
            if worker is not None:
                worker.calls -= 1
            host._forget(self)
            emit(CallEndedEvent.of(self.summary))
        return self.summary

    async def _speak_until_done(self, session: CallSession) -> None:
        """Pace the bot's audio on a 20 ms grid until the call is over (by either side)."""
        loop = asyncio.get_running_loop()
        # What follows a slot's frame (an utterance ended, a tick) runs in order on its own task: the
        # policy may then wait for the voice of its next prompt, and this call's next frames must
        # not (measured: single frames ~60 ms late on the wire while the loop itself was on time).
        lane: deque[tuple[float, str | None, bool]] = deque()
        queued = asyncio.Event()
        closing = False

        async def follow() -> None:
            while True:
                while lane:
                    await Grid.after(session, *lane.popleft())
                if closing:
                    return
                await queued.wait()
                queued.clear()

        follower = loop.create_task(follow(), name=f"follow-{self.call_id}")
        try:
            await self._pace(session, Grid(self._now_ms()), lane, queued, follower)
        except BaseException:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower
            raise
        closing = True  # what is queued still happens (a transfer decided by the last tick)
        queued.set()
        await follower

    async def _pace(self, session: CallSession, grid: Grid, lane: deque, queued: asyncio.Event,
                    follower: asyncio.Task) -> None:
        loop = asyncio.get_running_loop()
        slot = loop.time()
        stats = self.host.stats
        timeout_s = self.host.settings.gateway.media_timeout_s
        while not session.done and not (self._hung_up and session.ended):
            if follower.done():
                follower.result()  # the policy's step failed: the call ends as on any failure
            slot += FRAME_S
            delay = slot - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)  # behind: catch up, but let other calls run
            now = loop.time()
            late_ms = (now - slot) * 1000 - FRAME_MS
            if late_ms > 0:
                stats.late_frames += 1
            stats.frames_sent += 1
            stats.lateness_ms.append(late_ms)
            if late_ms > 200:  # hopelessly behind (machine overloaded): skip, don't burst
                slot = now
            self._play_in(now)
            t_ms = self._now_ms()
            frame, finished = session.next_frame()
            await self.peer.send_audio(frame)
            tick = grid.tick_due(t_ms)
            if finished is not None or tick:
                lane.append((t_ms, finished, tick))
                queued.set()
            if not self._hung_up and timeout_s > 0 and now - self._last_input > timeout_s:
                log.info("call %s: no media for %.0f s, ending", self.call_id, timeout_s)
                self.hung_up()

    async def _listen(self, session: CallSession) -> None:
        """Caller input in arrival order; audio is handed to recognition in batches."""
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._inbox:
                batch: list[tuple[AudioFrame, float]] = []
                while self._inbox and self._inbox[0][0] == "audio":
                    _, frame, t = self._inbox.popleft()
                    batch.append((frame, t))
                if batch:
                    await session.audio_in_many(batch)
                    continue
                kind, value, t = self._inbox.popleft()
                if kind == "dtmf":
                    await session.dtmf(value, t)
                elif kind == "hangup":
                    await session.caller_hung_up(t)
                    return

    @property
    def handoff(self) -> Handoff | None:
        """What the call's transfer tells the agent (None before a transfer, or after one failed)."""
        return self.session.handoff if self.session is not None else None

    async def _transfer(self, branch: int, handoff: Handoff | None) -> str | None:
        try:
            return await self.peer.transfer(branch, handoff)
        except Exception as exc:  # noqa: BLE001 - a failed transfer is told to the caller
            log.exception("call %s: transfer to %s failed", self.call_id, branch)
            return f"error:{type(exc).__name__}"

    async def _hangup(self, session: CallSession) -> None:
        await self.peer.hangup(session.summary().reason or Reason.BYE.text())
