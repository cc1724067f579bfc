"""The browser transport: one static page and a WebSocket, one call per connection.

Wire protocol on `/ws` (see docs/web.md):

browser -> server
  text   {"start": {"rate": 48000}}   begin the call; `rate` is the sample rate of the PCM that follows
  binary int16 little-endian mono PCM at that rate, any whole number of samples (the page sends 20 ms)
  text   {"dtmf": "5"}                a keypad press (0-9)
  text   {"hangup": true}             the caller ends the call (closing the socket does the same)

server -> browser
  binary the bot's voice: 20 ms of int16 little-endian mono PCM at the line rate (8 kHz), paced in
         real time; nothing is sent while the bot is silent
  text   JSON: every call event of `LiveCall` (bot_say, caller_text, nlu, answer, dtmf, transfer,
         transfer_failed, hangup, call_ended) plus this transport's own: hello {line_rate,
         max_message_bytes, reasons}, started, handed_over {branch, message, call_id, reason,
         reason_text, faq_id, faq_question, summary}, bot_hangup {reason}, busy {message},
         error {code, message} (all of them typed in bot/call/events.py)

A browser has nowhere to hand a call over to: `transfer(branch, handoff)` shows the branch on
the page ("Đang chuyển sang nhánh N") with what the agent would be told (the handoff, as
`privacy.share_with_agent` allows), and returns None, so the call counts as handed over and
ends there.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from aiohttp import WSMsgType, web

from bot.audio.frames import AudioFrame, samples_per_frame
from bot.audio.resample import StreamResampler
from bot.call.events import (BotHangupEvent, BusyEvent, Emitter, ErrorEvent, HandedOverEvent, HelloEvent,
                             StartedEvent, SummaryEvent)
from bot.call.handoff import Handoff
from bot.config import Settings
from bot.gateway.host import CallHost, LiveCall
from bot.policy.reasons import LABELS, label

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
FILES = {  # everything the page needs; nothing is fetched from elsewhere
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "capture-worklet.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    "Permissions-Policy": "microphone=(self)",
}

MAX_MESSAGE_BYTES = 64 * 1024   # 20 ms at 48 kHz is 1920 bytes; a JSON command is tiny
MIN_RATE, MAX_RATE = 8000, 96000
AHEAD_S = 2.0                   # audio sent ahead of real time beyond this is dropped
OUT_QUEUE_MAX = 500             # ~10 s of outgoing frames for a browser that stops reading
START_TIMEOUT_S = 60.0          # a connection that never starts a call is closed
SPARE_CONNECTIONS = 8           # sockets beyond gateway.max_calls (pages about to call, or busy)
ERRORS_PER_CODE = 3             # repeated mistakes are reported a few times, then only counted
DIGITS = set("0123456789")

MESSAGES = {
    "bad_json": "Tin nhắn không phải JSON hợp lệ.",
    "bad_command": "Lệnh không hợp lệ: dùng start, dtmf hoặc hangup.",
    "bad_rate": f"Tần số lấy mẫu phải từ {MIN_RATE} đến {MAX_RATE} Hz.",
    "bad_dtmf": "Phím bấm phải là một chữ số từ 0 đến 9.",
    "bad_frame": "Khung âm thanh phải là PCM 16-bit (số byte chẵn).",
    "not_started": "Chưa bắt đầu cuộc gọi: gửi {\"start\": {\"rate\": ...}} trước.",
    "already_started": "Mỗi kết nối chỉ có một cuộc gọi.",
    "too_fast": "Âm thanh gửi nhanh hơn thời gian thực; phần thừa bị bỏ.",
}
BUSY = "Tổng đài đang bận, xin anh chị gọi lại sau ít phút."


class WebServer:
    """The running page and WebSocket. `address` is the page's URL; `close()` ends every call."""

    def __init__(self, host: CallHost, settings: Settings) -> None:
        self.host = host
        self.settings = settings
        self.connections: set[_Connection] = set()
        self._runner: web.AppRunner | None = None
        self._address = ""
        self.app = web.Application(client_max_size=MAX_MESSAGE_BYTES)
        self.app.router.add_get("/", self._index)
        self.app.router.add_get("/static/{name}", self._static)
        self.app.router.add_get("/ws", self._ws)
        # The editors' voice studio at /studio (docs/studio.md): its own login; takes go live on this host.
        from bot.studio.app import mount_studio

        self.studio = mount_studio(self.app, settings, host.engines.cache, host.engines.tts)

    @property
    def address(self) -> str:
        return self._address

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.web.host, self.settings.web.port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]  # the real port when 0 was asked
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self._address = f"http://{shown}:{port}"
        log.info("web page on %s", self._address)

    async def close(self) -> None:
        """Hang up the calls in progress (each writes its record), then stop listening."""
        await asyncio.gather(*(c.shutdown() for c in list(self.connections)), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ----- HTTP ----------------------------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.Response:
        return self._file("index.html")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in FILES:
            raise web.HTTPNotFound()
        return self._file(name)

    def _file(self, name: str) -> web.Response:
        return web.Response(body=(STATIC / name).read_bytes(), headers={**HEADERS, "Content-Type": FILES[name]})

    def _same_origin(self, request: web.Request) -> bool:
        """Browsers send Origin on WebSockets: only our own page may open a call (another site the
        user visits must not). Clients without Origin (scripts, tests) are not browsers' pages."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        return urlsplit(origin).netloc.lower() == request.host.lower()

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if not self._same_origin(request):
            raise web.HTTPForbidden(text="cross-origin WebSocket refused")
        if len(self.connections) >= self.settings.gateway.max_calls + SPARE_CONNECTIONS:
            raise web.HTTPServiceUnavailable(text=BUSY)
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=30.0)
        await ws.prepare(request)
        conn = _Connection(self, ws)
        self.connections.add(conn)
        try:
            await conn.serve()
        finally:
            self.connections.discard(conn)
        return ws


class _Connection:
    """One browser tab's WebSocket: at most one call, and the `CallPeer` of that call."""

    def __init__(self, server: WebServer, ws: web.WebSocketResponse) -> None:
        self.server = server
        self.ws = ws
        self.call: LiveCall | None = None
        self.run_task: asyncio.Task[SummaryEvent] | None = None
        self.line_rate: int = server.host.config.rate
        self._frame = samples_per_frame(self.line_rate)
        self._resampler: StreamResampler | None = None
        self._rate = 0
        self._pending = np.zeros(0, np.int16)
        self._received_s = 0.0
        self._t0 = 0.0
        self._out: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._errors: dict[str, int] = {}
        self._page = Emitter(self._to_page)  # this transport's own events (the call's come as JSON)
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._close_code = 1000  # 1001 (going away) when the server stops

    # ----- the connection ------------------------------------------------------------------------
    async def serve(self) -> None:
        self._writer = asyncio.create_task(self._write(), name="web-writer")
        self._page(HelloEvent(self.line_rate, MAX_MESSAGE_BYTES, {r.value: text for r, text in LABELS.items()}))
        idle = asyncio.get_running_loop().call_later(START_TIMEOUT_S, self._idle)
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self._command(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._audio(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    log.info("web socket error: %s", self.ws.exception())
                    break
                if self._closing:
                    break
        finally:
            idle.cancel()
            await self._finish()

    def _idle(self) -> None:
        if self.call is None:
            self._out.put_nowait(("close", None))

    async def _finish(self) -> None:
        """The socket is gone (or the call over): end the call, wait for its record, stop writing."""
        if self.call is not None:
            self.call.hung_up()
        if self.run_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.run_task)
        self._out.put_nowait(("close", None))
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._writer), 5.0)
            self._writer.cancel()
        if not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def shutdown(self) -> None:
        """The server is stopping: the caller's line drops."""
        self._close_code = 1001
        if self.call is not None:
            self.call.hung_up()
        if self.run_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.run_task), 10.0)
        with contextlib.suppress(Exception):
            await self.ws.close(code=1001)

    async def _write(self) -> None:
        """The one sender, so events and audio reach the page in the order they happened."""
        while True:
            kind, payload = await self._out.get()
            if kind == "close":
                with contextlib.suppress(Exception):
                    await self.ws.close(code=self._close_code)
                return
            try:
                if kind == "bytes":
                    await self.ws.send_bytes(payload)
                else:
                    await self.ws.send_str(payload)
            except (ConnectionError, RuntimeError) as exc:  # the browser went away mid-call
                log.info("web socket send failed: %s", exc)
                if self.call is not None:
                    self.call.hung_up()
                return

    def _to_page(self, event: dict[str, Any]) -> None:
        """An event in its JSON form (the call's, or this transport's own) to the page, in order."""
        self._out.put_nowait(("str", json.dumps(event, ensure_ascii=False, default=str)))

    def _error(self, code: str) -> None:
        n = self._errors[code] = self._errors.get(code, 0) + 1
        if n <= ERRORS_PER_CODE:
            self._page(ErrorEvent(code, MESSAGES[code]))

    # ----- from the browser ----------------------------------------------------------------------
    async def _command(self, text: str) -> None:
        try:
            command = json.loads(text)
        except ValueError:
            self._error("bad_json")
            return
        if not isinstance(command, dict):
            self._error("bad_command")
        elif "start" in command:
            await self._start(command["start"])
        elif "dtmf" in command:
            digits = command["dtmf"]
            if not isinstance(digits, str) or len(digits) != 1 or digits not in DIGITS:
                self._error("bad_dtmf")
            elif self.call is None:
                self._error("not_started")
            else:
                self.call.dtmf(digits)
        elif command.get("hangup") is True:
            if self.call is None:
                self._closing = True
            else:
                self.call.hung_up()
        else:
            self._error("bad_command")

    async def _start(self, options: Any) -> None:
        if self.call is not None:
            self._error("already_started")
            return
        rate = options.get("rate") if isinstance(options, dict) else None
        if not isinstance(rate, int) or isinstance(rate, bool) or not MIN_RATE <= rate <= MAX_RATE:
            self._error("bad_rate")
            return
        host = self.server.host
        if host.full:
            host.stats.calls_refused += 1
            self._page(BusyEvent(BUSY))
            self._closing = True
            return
        self._rate = rate
        self._resampler = StreamResampler(rate, self.line_rate, quality="LQ")  # ~40 ms lag, anti-aliased
        self._t0 = asyncio.get_running_loop().time()
        self.call = host.open_call(self, caller="", on_event=self._to_page)
        self._page(StartedEvent(self.call.call_id, self.line_rate))
        self.run_task = asyncio.create_task(self._run(self.call), name=f"web-call-{self.call.call_id}")

    async def _run(self, call: LiveCall) -> SummaryEvent:
        try:
            return await call.run()
        finally:
            self._out.put_nowait(("close", None))  # after call_ended: the page has everything

    def _audio(self, data: bytes) -> None:
        if self.call is None or self._resampler is None:
            self._error("not_started")
            return
        if len(data) % 2:
            self._error("bad_frame")
            return
        if not data:
            return
        seconds = len(data) / 2 / self._rate
        elapsed = asyncio.get_running_loop().time() - self._t0
        if self._received_s + seconds > elapsed + AHEAD_S:
            self._error("too_fast")  # a runaway client must not queue minutes of audio
            return
        self._received_s += seconds
        samples = self._resampler.process(np.frombuffer(data, dtype="<i2"))
        pending = np.concatenate([self._pending, samples]) if self._pending.size else samples
        n = self._frame
        whole = pending.size - pending.size % n
        for start in range(0, whole, n):
            self.call.audio(AudioFrame.from_samples(pending[start:start + n], self.line_rate))
        self._pending = pending[whole:].copy()

    # ----- CallPeer ------------------------------------------------------------------------------
    async def send_audio(self, frame: AudioFrame | None) -> None:
        if frame is None:
            return  # silence: the page plays nothing
        if self._out.qsize() > OUT_QUEUE_MAX:
            return  # the browser stopped reading; drop rather than grow
        self._out.put_nowait(("bytes", frame.pcm))

    async def transfer(self, branch: int, handoff: Handoff | None = None) -> str | None:
        """No phone line to hand over to: the page shows which branch would take the call, and
        what its agent would be told."""
        h = handoff or Handoff("", branch)
        faq = self.server.host.engines.kb.faq(h.faq_id) if h.faq_id else None
        self._page(HandedOverEvent(branch, f"Đang chuyển sang nhánh {branch}", h.call_id, h.reason,
                                   label(h.reason) if h.reason else "", h.faq_id, faq.question if faq else "",
                                   h.summary))
        return None

    async def hangup(self, reason: str) -> None:
        self._page(BotHangupEvent(reason))


async def start_web(host: CallHost, settings: Settings) -> WebServer:
    """Serve the page on settings.web.host:port (localhost unless configured otherwise)."""
    server = WebServer(host, settings)
    await server._start()
    return server
