"""The gateway's Prometheus metrics (`http://127.0.0.1:9108/metrics` by default, docs/operations.md).

Made from two sources, so the call path gets no new code of its own:
- the call events every live call sends to `CallHost.listeners` (bot/call/events.py): a call's
  `call_ended` carries the same summary as its record, so calls by outcome, transfers by branch and
  reason, answers by FAQ entry and reply latencies agree with `bot report` over the same calls;
  `engine_error` counts recogniser / brain / voice failures;
- the host's own counters (`HostStats`: refused calls, late frames) and its calls in progress,
  read when Prometheus scrapes (a custom collector: nothing to keep in step).
Model swaps: the brain's health route names its loaded model; it is read every `brain_poll_s`
and a change of model id counts one swap (`bot train` hot-swaps models into a running brain).

Each host has its own `CollectorRegistry` (tests make many hosts in one process). The HTTP server
is prometheus-client's own, in a daemon thread: a scrape never runs on the event loop.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.policy.reasons import counted_as

if TYPE_CHECKING:
    from bot.gateway.host import CallHost

log = logging.getLogger(__name__)

# Reply latency (caller's end of speech -> first audio of the reply): ~0.4 s typical, 1.5 s is slow.
LATENCY_BUCKETS_S = (0.1, 0.25, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
ENGINES = ("asr", "brain", "voice")


class _HostCollector(Collector):
    """The host's counters, read at scrape time (plain ints: reading them from this thread is safe)."""

    def __init__(self, host: CallHost) -> None:
        self.host = host

    def collect(self) -> Iterator[Any]:
        stats = self.host.stats
        yield GaugeMetricFamily("branch7_calls_in_progress", "Calls being answered now", value=len(self.host.calls))
        yield CounterMetricFamily("branch7_calls_started", "Calls taken by the bot", value=stats.calls_started)
        yield CounterMetricFamily("branch7_calls_refused", "Calls refused because all lines were busy "
                                  "(gateway.max_calls)", value=stats.calls_refused)
        yield CounterMetricFamily("branch7_audio_frames_sent", "20 ms frames of the bot's voice sent",
                                  value=stats.frames_sent)
        yield CounterMetricFamily("branch7_audio_frames_late", "Frames sent after their 20 ms slot had ended",
                                  value=stats.late_frames)
        records = self.host.records
        if records is not None:  # the records writer's counters (bot/records/store.py), plain ints too
            yield CounterMetricFamily("branch7_records_unwritten", "Call records or JSON lines that could not be "
                                      "written when they came (full disk): kept in memory", value=records.stats.unwritten)
            yield GaugeMetricFamily("branch7_records_held", "Call records and JSON lines waiting in memory for "
                                    "room on the disk", value=records.held)
            yield CounterMetricFamily("branch7_records_lost", "Call records dropped: more than records.held_max "
                                      "waited in memory", value=records.stats.lost)
            yield CounterMetricFamily("branch7_records_gateway_died", "Calls of dead gateways closed as "
                                      "gateway_died by this gateway's sweeps", value=records.stats.died_closed)


class GatewayMetrics:
    """The metrics of one `CallHost`. Register `self.listen` as a host listener."""

    def __init__(self, host: CallHost) -> None:
        self.host = host
        self.registry = CollectorRegistry()
        r = self.registry
        r.register(_HostCollector(host))
        self.calls = Counter("branch7_calls", "Calls ended, by outcome (answered, transferred, abandoned, "
                             "hangup = ended by the bot without an answer)", ["outcome"], registry=r)
        self.transfers = Counter("branch7_transfers", "Calls handed to a branch, by branch and reason",
                                 ["branch", "reason"], registry=r)
        self.answers = Counter("branch7_answers", "Answers read out, by FAQ entry", ["faq_id"], registry=r)
        self.latency = Histogram("branch7_reply_latency_seconds", "Caller's end of speech to the first audio "
                                 "of the reply", buckets=LATENCY_BUCKETS_S, registry=r)
        self.errors = Counter("branch7_engine_errors", "Engine failures during calls (asr = recogniser, "
                              "brain = Rasa unavailable, voice = speech synthesis)", ["engine"], registry=r)
        self.model_swaps = Counter("branch7_brain_model_swaps", "Changes of the brain's loaded model seen "
                                   "by the gateway", registry=r)
        self.brain_up = Gauge("branch7_brain_up", "1 when the brain's health route answers 'ok'", registry=r)
        for engine in ENGINES:  # present at 0 from the start, so rate() and alerts work at once
            self.errors.labels(engine)
        self._model: str | None = None
        self._server: Any = None
        self._poll: asyncio.Task[None] | None = None

    # ----- call events ---------------------------------------------------------------------------
    def listen(self, event: dict[str, Any]) -> None:
        """A host listener: called on the event loop for every event of every call; cheap."""
        kind = event.get("event")
        if kind == "call_ended":
            outcome = str(event.get("outcome") or "unknown")
            self.calls.labels(outcome).inc()
            if outcome == "transferred":
                # The same label values as `bot report` (branch, and the reason as counted).
                self.transfers.labels(str(event.get("branch")), counted_as(event.get("reason"))).inc()
            for faq_id in event.get("answers") or []:
                self.answers.labels(faq_id).inc()
            for ms in event.get("latency_ms") or []:
                self.latency.observe(ms / 1000)
        elif kind == "engine_error":
            engine = event.get("engine")
            self.errors.labels(engine if engine in ENGINES else "other").inc()

    # ----- model swaps ---------------------------------------------------------------------------
    def brain_seen(self, health: dict[str, Any] | None) -> None:
        """One reading of the brain's health route (None: no answer)."""
        up = bool(health) and health.get("status") == "ok"
        self.brain_up.set(1 if up else 0)
        model = health.get("model") if health and up else None
        if model:
            if self._model is not None and model != self._model:
                log.info("the brain swapped its model: %s -> %s", self._model, model)
                self.model_swaps.inc()
            self._model = model

    async def _poll_brain(self, read: Callable[[], Awaitable[dict[str, Any] | None]], every_s: float) -> None:
        while True:
            try:
                self.brain_seen(await read())
            except Exception:  # noqa: BLE001 - metrics never stop the gateway
                log.exception("reading the brain's health failed")
            await asyncio.sleep(every_s)

    # ----- the endpoint --------------------------------------------------------------------------
    def start(self, host: str, port: int, brain: Callable[[], Awaitable[dict[str, Any] | None]] | None = None,
              brain_poll_s: float = 0.0) -> tuple[str, int]:
        """Serve /metrics on host:port (port 0 here means any free port: tests) and start reading the
        brain's model every `brain_poll_s` (when given). Returns the bound address."""
        try:
            self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:  # `bot run` prints it as one line: say which setting to change
            raise OSError(exc.errno, f"metrics: cannot listen on {host}:{port} ({exc.strerror}); "
                                     "set metrics.port (0: no metrics)") from exc
        if brain is not None and brain_poll_s > 0:
            self._poll = asyncio.get_running_loop().create_task(self._poll_brain(brain, brain_poll_s),
                                                                name="metrics-brain-poll")
        address = self._server.server_address
        return str(address[0]), int(address[1])

    async def close(self) -> None:
        """Stop serving and polling (like the transports' servers, which `bot run` closes in turn)."""
        if self._poll is not None:
            self._poll.cancel()
            try:
                await self._poll
            except asyncio.CancelledError:
                pass
            self._poll = None
        if self._server is not None:
            server, self._server = self._server, None
            # shutdown() waits for serve_forever's next poll (up to 0.5 s): off the event loop.
            await asyncio.get_running_loop().run_in_executor(None, _stop, server)


def _stop(server: Any) -> None:
    server.shutdown()
    server.server_close()


__all__ = ["GatewayMetrics", "LATENCY_BUCKETS_S"]
