# Over 400 lines: one SipServer whose sockets, access control, transactions and calls share per-peer state.
"""The SIP endpoint of the gateway: sockets, access control, transactions, and calls by Call-ID.

UDP always (and TCP when `sip.tcp`). A datagram that is not a SIP message we accept is dropped;
nothing that arrives can raise out of the handler or touch another call. Each call is a
`SipCall` (dialog.py) that feeds a `LiveCall` of the `CallHost`.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import Settings
from bot.gateway.host import CallHost, LiveCall
from bot.transports.sip import message as sipmsg
from bot.transports.sip.dialog import T1, T2, SipCall
from bot.transports.sip.media import RtpSession, open_rtp
from bot.transports.sip.message import SipMessage, SipParseError
from bot.transports.sip.sdp import NotAcceptable, SdpError, negotiate, parse_sdp

log = logging.getLogger(__name__)

TRANSACTION_TTL_S = 32.0     # RFC 3261 Timer J / H: how long a finished transaction is remembered
REFUSALS_PER_S = 20          # 403s per second to peers not allowed; beyond that they are ignored
MAX_TCP_CONNECTIONS = 200


@dataclass
class Flow:
    """Where a message came from and how to answer it."""

    transport: str                      # UDP | TCP
    addr: tuple[str, int]
    sender: Callable[[bytes], None]

    @property
    def unreliable(self) -> bool:
        return self.transport == "UDP"


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: SipServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        transport = self.transport
        if transport is None:
            return
        peer = (addr[0], addr[1])
        self.server.receive(data, Flow("UDP", peer, lambda b: transport.sendto(b, peer)))

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable and the like
        log.debug("sip udp error: %s", exc)


class SipServer:
    ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, INFO"

    def __init__(self, host: CallHost, settings: Settings, ring_s: float = 0.0) -> None:
        self.host = host
        self.settings = settings
        self.sip = settings.sip
        self.ring_s = ring_s  # time between 180 Ringing and 200 OK (0: answer at once)
        self.public_host = self.sip.public_host or (self.sip.host if self.sip.host not in ("0.0.0.0", "::")
                                                   else "127.0.0.1")
        self.address: tuple[str, int] = (self.sip.host, self.sip.port)
        self.calls: dict[str, SipCall] = {}
        self.stats = {"bad": 0, "refused": 0, "calls": 0}
        self._networks = _networks(self.sip.allowed_peers)
        self._udp: _Udp | None = None
        self._tcp: asyncio.Server | None = None
        self._tcp_count = 0
        self._tx: dict[str, asyncio.Future[SipMessage]] = {}
        self._done: OrderedDict[tuple[str, str, str], tuple[bytes, float]] = OrderedDict()
        self._ended: OrderedDict[str, tuple[SipCall, float]] = OrderedDict()
        self._ringing = 0
        self._refusals = (0.0, 0)
        self._tasks: set[asyncio.Task] = set()
        self._rtp_cursor = 0
        self.closing = False

    # ----- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(lambda: _Udp(self),
                                                                  local_addr=(self.sip.host, self.sip.port))
        self._udp = protocol
        self.address = transport.get_extra_info("sockname")[:2]
        if self.sip.tcp:
            self._tcp = await asyncio.start_server(self._tcp_client, self.sip.host, self.address[1])
        log.info("SIP on %s:%s (udp%s)", *self.address, "+tcp" if self._tcp else "")

    async def close(self) -> None:
        """Stop taking calls, end the running ones with BYE, close the sockets."""
        self.closing = True
        ends = []
        for call in list(self.calls.values()):
            if call.state == "ringing":
                call.reject(503)
            elif call.state != "ended":
                if call.live is not None:
                    call.live.hung_up()
                ends.append(call.hangup("shutdown"))
        if ends:
            await asyncio.wait_for(asyncio.gather(*ends, return_exceptions=True), 6)
        tasks = [t for t in self._tasks if not t.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=10)
            for t in pending:
                t.cancel()
        if self._tcp is not None:
            self._tcp.close()
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ----- addresses -----------------------------------------------------------------------------
    def via(self, flow: Flow) -> str:
        return f"SIP/2.0/{flow.transport} {self.public_host}:{self.address[1]};branch={sipmsg.new_branch()};rport"

    def contact_uri(self, flow: Flow) -> str:
        return f"sip:bot@{self.public_host}:{self.address[1]}" + (";transport=tcp" if flow.transport == "TCP" else "")

    def allowed(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self._networks if net.version == addr.version)

    # ----- sending -------------------------------------------------------------------------------
    def send(self, flow: Flow, msg: SipMessage) -> None:
        try:
            flow.sender(msg.to_bytes())
        except (OSError, RuntimeError) as exc:  # closed socket or connection: the peer is gone
            log.debug("sip send to %s failed: %s", flow.addr, exc)

    def reply(self, flow: Flow, req: SipMessage, status: int, extra: list[tuple[str, str]] | None = None,
              body: bytes = b"", to_tag: str = "") -> None:
        tag = to_tag or ("" if "tag" in sipmsg.params(req.get("to")) else sipmsg.new_tag())
        resp = sipmsg.response(req, status, to_tag=tag, extra=extra, body=body)
        self.send(flow, resp)
        if req.method != "INVITE" or sipmsg.params(req.get("to")).get("tag"):
            self._done[(req.call_id, req.branch, req.method)] = (resp.to_bytes(), time.monotonic() + TRANSACTION_TTL_S)

    async def request(self, flow: Flow, msg: SipMessage, timeout: float) -> SipMessage | None:
        """A client transaction (RFC 3261 section 17.1.2): the final response, or None on timeout.
        Over UDP the request is retransmitted after T1, 2*T1, ... up to T2 (Timer E)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SipMessage] = loop.create_future()
        branch = msg.branch
        self._tx[branch] = future
        data = msg.to_bytes()
        deadline = loop.time() + timeout
        interval = T1
        try:
            flow.sender(data)
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                try:
                    return await asyncio.wait_for(asyncio.shield(future),
                                                  min(interval, remaining) if flow.unreliable else remaining)
                except TimeoutError:
                    pass
                if flow.unreliable and loop.time() < deadline:
                    flow.sender(data)
                    interval = min(interval * 2, T2)
        except (OSError, RuntimeError) as exc:
            log.debug("sip request to %s failed: %s", flow.addr, exc)
            return None
        finally:
            self._tx.pop(branch, None)

    # ----- receiving -----------------------------------------------------------------------------
    def receive(self, data: bytes, flow: Flow) -> None:
        """One message from the network. Never raises."""
        try:
            self._receive(data, flow)
        except Exception:  # noqa: BLE001 - one bad message must not stop the endpoint
            self.stats["bad"] += 1
            log.exception("sip message from %s dropped", flow.addr)

    def _receive(self, data: bytes, flow: Flow) -> None:
        if not data.strip():
            return  # CRLF keep-alive (RFC 5626 section 4.4.1)
        allowed = self.allowed(flow.addr[0])
        if not allowed and not self._may_refuse():
            return
        try:
            msg = sipmsg.parse(data, self.sip.max_message_bytes)
        except SipParseError as exc:
            self.stats["bad"] += 1
            log.debug("bad sip message from %s: %s", flow.addr, exc)
            return
        if not msg.is_request:
            if allowed:
                self._on_response(msg)
            return
        if not allowed:
            self.stats["refused"] += 1
            if msg.method != "ACK":
                self.reply(flow, msg, 403)
            return
        self._expire()
        cached = self._done.get((msg.call_id, msg.branch, msg.method))
        if cached is not None:  # a retransmission: the same answer again (RFC 3261 section 17.2.2)
            flow.sender(cached[0])
            return
        handler = getattr(self, f"_on_{msg.method.lower()}", None)
        if handler is None:
            self.reply(flow, msg, 405, extra=[("Allow", self.ALLOW)])
        else:
            handler(msg, flow)

    def _may_refuse(self) -> bool:
        now = time.monotonic()
        second, count = self._refusals
        if now - second >= 1.0:
            second, count = now, 0
        self._refusals = (second, count + 1)
        return count < REFUSALS_PER_S

    def _expire(self) -> None:
        now = time.monotonic()
        while self._done and next(iter(self._done.values()))[1] < now:
            self._done.popitem(last=False)
        while self._ended and next(iter(self._ended.values()))[1] < now:
            self._ended.popitem(last=False)

    def _on_response(self, msg: SipMessage) -> None:
        future = self._tx.get(msg.branch)
        if future is not None and not future.done() and msg.status >= 200:
            future.set_result(msg)

    def _dialog(self, msg: SipMessage) -> SipCall | None:
        call = self.calls.get(msg.call_id)
        tag = sipmsg.params(msg.get("to")).get("tag", "")
        if call is None or call.local_tag != tag or call.state == "ended":
            return None
        return call

    # ----- requests ------------------------------------------------------------------------------
    def _on_options(self, msg: SipMessage, flow: Flow) -> None:
        self.reply(flow, msg, 200, extra=[("Allow", self.ALLOW), ("Accept", "application/sdp"),
                                          ("Supported", "replaces"), ("Contact", f"<{self.contact_uri(flow)}>")])

    def _on_invite(self, msg: SipMessage, flow: Flow) -> None:
        if sipmsg.params(msg.get("to")).get("tag"):
            call = self._dialog(msg)
            if call is None:
                self.reply(flow, msg, 481)
                return
            status, sdp = call.on_reinvite(msg)
            extra = [("Contact", f"<{self.contact_uri(flow)}>"), ("Allow", self.ALLOW)]
            if status == 200:
                extra.append(("Content-Type", "application/sdp"))
            self.reply(flow, msg, status, extra=extra, body=sdp if status == 200 else b"")
            return
        known = self.calls.get(msg.call_id) or (self._ended.get(msg.call_id) or (None,))[0]
        if known is not None:
            if known.invite.branch == msg.branch:
                known.resend_final()
            else:
                self.reply(flow, msg, 482)  # RFC 3261 section 8.2.2.2: a merged request
            return
        if self.closing:
            self.reply(flow, msg, 503)
            return
        if self.host.full or len(self.host.calls) + self._ringing >= self.settings.gateway.max_calls:
            self.host.stats.calls_refused += 1
            self.reply(flow, msg, 486)
            return
        offer = negotiated = None
        if msg.body:
            if "application/sdp" not in msg.get("content-type").lower():
                self.reply(flow, msg, 415, extra=[("Accept", "application/sdp")])
                return
            try:
                offer = parse_sdp(msg.body)
                negotiated = negotiate(offer)
            except NotAcceptable:
                self.reply(flow, msg, 488, extra=[("Warning", '305 branch7 "only PCMU/PCMA at 8000 Hz"')])
                return
            except SdpError as exc:
                self.reply(flow, msg, 400, extra=[("Warning", f'399 branch7 "bad SDP: {str(exc)[:60]}"')])
                return
        holder: list[SipCall] = []
        rtp = RtpSession(lambda frame, seq, ts, mark: holder[0].live and holder[0].live.audio(frame, seq, ts, mark),
                         lambda digit: holder[0].live and holder[0].live.dtmf(digit),
                         lambda level, seq: holder[0].live and holder[0].live.caller_silent(level, seq))
        call = SipCall(self, msg, flow, offer, negotiated, rtp)
        holder.append(call)
        self.calls[call.call_id] = call
        self._ringing += 1
        call.provisional(100)
        self._spawn(self._setup(call))

    async def _setup(self, call: SipCall) -> None:
        live: LiveCall | None = None
        try:
            sip = self.sip
            self._rtp_cursor += 1
            try:
                await open_rtp(sip.host, sip.rtp_port_min, sip.rtp_port_max, call.rtp, start=self._rtp_cursor)
            except OSError as exc:
                log.warning("call %s refused: %s", call.call_id, exc)
                if call.state == "ringing":
                    call.reject(503)
                return
            if call.state != "ringing":
                return
            if call.negotiated is not None:
                call.rtp.use(call.negotiated)
            call.provisional(180)
            if self.ring_s > 0:
                await call.ended(self.ring_s)  # a CANCEL ends the ringing early
            if call.state != "ringing":
                return
            live = self.host.open_call(call, caller=call.caller)
            self.stats["calls"] += 1
            self._ringing -= 1
            call.answer(live)
        except Exception:  # noqa: BLE001 - this call fails; the endpoint goes on
            log.exception("call %s: setup failed", call.call_id)
            if call.state == "ringing":
                call.reject(500)
        finally:
            if live is None:
                self._ringing -= 1
                call.rtp.close()
                self._forget(call)
        if live is not None:
            try:
                await live.run()
            finally:
                if call.state != "ended":
                    await call.hangup("ended")
                call.rtp.close()
                self._forget(call)

    def _forget(self, call: SipCall) -> None:
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]
        self._ended[call.call_id] = (call, time.monotonic() + TRANSACTION_TTL_S)

    def _on_ack(self, msg: SipMessage, flow: Flow) -> None:
        call = self._dialog(msg)
        if call is not None:
            call.on_ack(msg)

    def _on_cancel(self, msg: SipMessage, flow: Flow) -> None:
        call = self.calls.get(msg.call_id)
        if call is None or call.invite.branch != msg.branch:
            self.reply(flow, msg, 481)
            return
        self.reply(flow, msg, 200, to_tag=call.local_tag)
        if call.on_cancel():  # 487 to the INVITE if it was not answered yet
            self._forget(call)

    def _in_dialog(self, msg: SipMessage, flow: Flow) -> SipCall | None:
        """An in-dialog request: 481 if the dialog is unknown, else 200 and its call."""
        call = self._dialog(msg)
        self.reply(flow, msg, 481 if call is None else 200)
        return call

    def _on_bye(self, msg: SipMessage, flow: Flow) -> None:
        if call := self._in_dialog(msg, flow):
            call.on_bye()

    def _on_notify(self, msg: SipMessage, flow: Flow) -> None:
        if call := self._in_dialog(msg, flow):
            call.on_notify(msg)

    def _on_info(self, msg: SipMessage, flow: Flow) -> None:
        if call := self._in_dialog(msg, flow):
            call.on_info(msg)

    # ----- TCP -----------------------------------------------------------------------------------
    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not peer or not self.allowed(peer[0]) or self._tcp_count >= MAX_TCP_CONNECTIONS:
            writer.close()
            return
        self._tcp_count += 1
        flow = Flow("TCP", (peer[0], peer[1]), writer.write)
        buffer = bytearray()
        try:
            while not reader.at_eof():
                data = await reader.read(65536)
                if not data:
                    break
                buffer += data
                while (chunk := sipmsg.frame_stream(buffer, self.sip.max_message_bytes)) is not None:
                    self.receive(chunk, flow)
        except (SipParseError, ConnectionError, OSError) as exc:
            log.debug("sip tcp %s closed: %s", peer, exc)
        finally:
            self._tcp_count -= 1
            writer.close()


def _networks(spec: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for piece in spec.split(","):
        if piece.strip():
            nets.append(ipaddress.ip_network(piece.strip(), strict=False))
    return nets


async def start_sip(host: CallHost, settings: Settings, *, ring_s: float = 0.0) -> SipServer:
    """Listen for SIP on settings.sip.host:port; calls go to `host`. Close with `await server.close()`."""
    server = SipServer(host, settings, ring_s)
    await server.start()
    return server
