"""One SIP call as a `CallPeer`: the dialog the bot answered (RFC 3261 sections 12-15), its RTP,
re-INVITEs (hold) and the blind transfer by REFER (RFC 3515, RFC 5589).

The server owns the sockets and transactions; this object holds the dialog's state and talks to
the call only through `LiveCall` (audio, dtmf, hung_up) and the `CallPeer` methods.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import secrets
from typing import TYPE_CHECKING

from bot.audio.frames import AudioFrame
from bot.call.handoff import MIN_SUMMARY_CHARS, Handoff
from bot.gateway.host import LiveCall
from bot.transports.sip import message as sipmsg
from bot.transports.sip.media import RtpSession
from bot.transports.sip.message import SipMessage
from bot.transports.sip.sdp import Negotiated, NotAcceptable, SdpError, Session, build_sdp, negotiate, parse_sdp

if TYPE_CHECKING:
    from bot.transports.sip.server import Flow, SipServer

log = logging.getLogger(__name__)

T1 = 0.5            # RFC 3261 section 17: round-trip estimate
T2 = 4.0
TRANSFER_TIMEOUT_S = 8.0  # REFER answered and the transfer under way (a first NOTIFY)
TRANSFER_RING_S = 45.0    # after a provisional NOTIFY (100 Trying, 180 Ringing): the branch's phone may ring
ACK_WAIT_S = 32.0   # 64*T1: Timer H, how long the 2xx is retransmitted waiting for the ACK
BYE_TIMEOUT_S = 4.0
UDP_REQUEST_BYTES = 1300  # RFC 3261 section 18.1.1: a larger request belongs on a congestion-controlled transport
_SIPFRAG = re.compile(r"^\s*SIP/2\.0\s+(\d{3})")


class SipCall:
    """States: ringing (1xx sent) -> answered (200 sent) -> confirmed (ACK) -> ended."""

    def __init__(self, server: SipServer, invite: SipMessage, flow: Flow, offer: Session | None,
                 negotiated: Negotiated | None, rtp: RtpSession) -> None:
        self.server = server
        self.invite = invite
        self.flow = flow
        self.offer = offer
        self.negotiated = negotiated
        self.rtp = rtp
        self.call_id = invite.call_id
        self.local_tag = sipmsg.new_tag()
        self.remote_tag = sipmsg.params(invite.get("from")).get("tag", "")
        self.local_uri = sipmsg.addr_uri(invite.get("to"))
        self.remote_uri = sipmsg.addr_uri(invite.get("from"))
        self.remote_target = sipmsg.addr_uri(invite.get("contact")) or self.remote_uri
        self.route = invite.get_all("record-route")  # RFC 3261 section 12.1.1: UAS keeps the order
        self.cseq = secrets.randbelow(10_000) + 1
        self.state = "ringing"
        self.live: LiveCall | None = None
        self.task: asyncio.Task | None = None
        self.sdp_id = secrets.randbelow(2**31)
        self.sdp_version = 1
        self._last_sdp = b""
        self._acked = asyncio.Event()
        self._ended = asyncio.Event()
        self._transfer: asyncio.Future[str | None] | None = None
        self._transfer_progress_at: float | None = None
        self._final: SipMessage | None = None  # the INVITE's final response, for retransmissions

    @property
    def caller(self) -> str:
        m = re.match(r"^sips?:([^@;]+)@", self.remote_uri)
        return m.group(1) if m else ""

    # ----- answering -----------------------------------------------------------------------------
    def answer_sdp(self) -> bytes:
        def build(version: int) -> bytes:
            return build_sdp(self.server.public_host, self.rtp.port, self.sdp_id, version,
                             negotiated=self.negotiated, offer=self.offer)

        sdp = build(self.sdp_version)
        if self._last_sdp and sdp != self._last_sdp:  # RFC 3264 section 8: changed SDP, new version
            self.sdp_version += 1
            sdp = build(self.sdp_version)
        self._last_sdp = sdp
        return sdp

    def provisional(self, status: int) -> None:
        self.server.send(self.flow, sipmsg.response(self.invite, status, to_tag=self.local_tag if status > 100 else ""))

    def answer(self, live: LiveCall) -> None:
        """Send 200 OK with our SDP, retransmitted until the ACK (RFC 3261 section 13.3.1.4)."""
        self.live = live
        self.state = "answered"
        ok = sipmsg.response(self.invite, 200, to_tag=self.local_tag, body=self.answer_sdp(),
                             extra=self._contact_headers() + [("Content-Type", "application/sdp")])
        self._final = ok
        self.server.send(self.flow, ok)
        asyncio.get_running_loop().create_task(self._retransmit_ok(ok))

    def reject(self, status: int, extra: list[tuple[str, str]] | None = None) -> None:
        self.state = "ended"
        self._final = sipmsg.response(self.invite, status, to_tag=self.local_tag, extra=extra)
        self.server.send(self.flow, self._final)
        self._ended.set()
        self.rtp.close()

    def resend_final(self) -> None:
        """The INVITE came again: the last response goes again (RFC 3261 section 17.2.1)."""
        if self._final is not None:
            self.server.send(self.flow, self._final)
        else:
            self.provisional(180 if self.state == "ringing" else 100)

    async def _retransmit_ok(self, ok: SipMessage) -> None:
        if not self.flow.unreliable:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACK_WAIT_S
        interval = T1
        while not self._acked.is_set() and not self._ended.is_set():
            try:
                await asyncio.wait_for(self._acked.wait(), min(interval, max(0.0, deadline - loop.time())))
                return
            except TimeoutError:
                pass
            if loop.time() >= deadline:
                log.info("call %s: no ACK for our 200 OK, ending", self.call_id)
                await self._bye()
                self._caller_gone()
                return
            self.server.send(self.flow, ok)
            interval = min(interval * 2, T2)

    def _contact_headers(self) -> list[tuple[str, str]]:
        return [("Contact", f"<{self.server.contact_uri(self.flow)}>"), ("Allow", self.server.ALLOW),
                ("Supported", "replaces")]

    # ----- requests from the caller's side -------------------------------------------------------
    def on_ack(self, ack: SipMessage) -> None:
        if self.state == "answered":
            self.state = "confirmed"
        self._acked.set()
        if self.negotiated is None and ack.body:  # we offered in the 200: the answer is in the ACK
            try:
                self.negotiated = negotiate(parse_sdp(ack.body))
                self.rtp.use(self.negotiated)
            except SdpError:
                log.info("call %s: unusable SDP answer in ACK, ending", self.call_id)
                asyncio.get_running_loop().create_task(self.hangup("bad_sdp"))

    def on_cancel(self) -> bool:
        """CANCEL before we answered: 487 to the INVITE (RFC 3261 section 9.2). False if too late."""
        if self.state != "ringing":
            return False
        self.reject(487)
        return True

    def on_bye(self) -> None:
        was = self.state
        self.state = "ended"
        self._acked.set()
        self._ended.set()
        self.rtp.close()
        if self._transfer is not None and not self._transfer.done():
            self._transfer.set_result("caller_hung_up")
        if was != "ended":
            self._caller_gone()

    def on_reinvite(self, req: SipMessage) -> tuple[int, bytes]:
        """A re-INVITE (new address, codec, hold): the status and SDP to answer; the call goes on."""
        if req.body:
            try:
                offer = parse_sdp(req.body)
                neg = negotiate(offer)
            except NotAcceptable:
                return 488, b""
            except SdpError:
                return 400, b""
            self.offer, self.negotiated = offer, neg
            self.rtp.use(neg)
        return 200, self.answer_sdp()

    def on_notify(self, req: SipMessage) -> None:
        """RFC 3515 section 2.4.5: the transfer's progress as a message/sipfrag body."""
        if not req.get("event").lower().startswith("refer"):
            return
        m = _SIPFRAG.match(req.body.decode("utf-8", "replace"))
        status = int(m.group(1)) if m else 0
        future = self._transfer
        if future is None or future.done():
            return
        if 100 <= status < 200:
            self._transfer_progress_at = asyncio.get_running_loop().time()
        elif 200 <= status < 300:
            future.set_result(None)
        elif status >= 300:
            future.set_result(f"failed:{status}")
        elif "terminated" in req.get("subscription-state").lower():
            future.set_result("no_final_status")

    def on_info(self, req: SipMessage) -> None:
        """SIP INFO keypad (application/dtmf-relay, application/dtmf), as some PBXes send it."""
        ctype = req.get("content-type").lower()
        text = req.body.decode("utf-8", "replace")
        digit = ""
        if "dtmf-relay" in ctype:
            m = re.search(r"(?im)^\s*signal\s*=\s*([0-9*#A-D])", text)
            digit = m.group(1) if m else ""
        elif "application/dtmf" in ctype:
            digit = text.strip()[:1]
        if digit and digit in "0123456789*#ABCD" and self.live is not None:
            self.live.dtmf(digit)

    async def ended(self, timeout: float) -> bool:
        """Wait up to `timeout` for the dialog to end; True if it has."""
        try:
            await asyncio.wait_for(self._ended.wait(), timeout)
        except TimeoutError:
            pass
        return self._ended.is_set()

    def _caller_gone(self) -> None:
        if self.live is not None:
            self.live.hung_up()

    # ----- CallPeer ------------------------------------------------------------------------------
    async def send_audio(self, frame: AudioFrame | None) -> None:
        if self.state in ("answered", "confirmed"):
            self.rtp.send(frame)

    async def transfer(self, branch: int, handoff: Handoff | None = None) -> str | None:
        """Blind transfer: REFER, then NOTIFYs until a final sipfrag (RFC 3515, RFC 5589 section 6).
        The handoff goes as X-Branch7-* headers twice: in the Refer-To URI (RFC 3261 section
        19.1.1), which the transferee's INVITE to the branch carries (section 19.1.5), and on the
        REFER itself (Asterisk's GET_TRANSFERRER_DATA reads those; docs/handoff.md)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TRANSFER_TIMEOUT_S
        if not await self._confirmed(TRANSFER_TIMEOUT_S):
            return "caller_hung_up" if self.state == "ended" else "no_ack"
        self._transfer = loop.create_future()
        self._transfer_progress_at = None
        refer = self._refer(self.server.settings.sip.transfer_uri.format(branch=branch), handoff)
        response = await self.server.request(self.flow, refer, TRANSFER_TIMEOUT_S)
        if self.state == "ended":
            return "caller_hung_up"
        if response is None:
            return "timeout"
        if response.status >= 300:
            return f"refused:{response.status}"
        while True:
            try:
                why = await asyncio.wait_for(asyncio.shield(self._transfer), max(0.0, deadline - loop.time()))
                break
            except TimeoutError:
                # Still ringing at the branch (a provisional NOTIFY came): wait for it to answer.
                progress = self._transfer_progress_at
                if progress is None or loop.time() >= progress + TRANSFER_RING_S or self.state == "ended":
                    return "timeout"
                deadline = progress + TRANSFER_RING_S
        if why is None:
            await self._bye()  # RFC 5589 section 6.1: the transferor ends its dialog
        return why

    async def hangup(self, reason: str) -> None:
        if self.state == "ended":
            return
        if self.state == "ringing":
            self.reject(480)
            return
        await self._confirmed(4.0)  # RFC 3261 section 15: no BYE before the ACK (or Timer H)
        await self._bye()

    # ----- our requests --------------------------------------------------------------------------
    def _refer(self, target: str, handoff: Handoff | None) -> SipMessage:
        """The REFER to `target` with the handoff's headers. Over UDP the summary is shortened
        until the request fits in UDP_REQUEST_BYTES (dropped if even a short one does not)."""
        refer = self._request("REFER", [("Refer-To", f"<{target}>"), ("Referred-By", f"<{self.local_uri}>"),
                                        ("Contact", f"<{self.server.contact_uri(self.flow)}>")])
        base = list(refer.headers)
        while handoff is not None and handoff.fields():
            fields = handoff.sip_headers()
            refer_to = f"<{sipmsg.with_headers(target, fields)}>"
            refer.headers = [(n, refer_to if sipmsg.canonical(n) == "refer-to" else v) for n, v in base] + fields
            if not self.flow.unreliable or len(refer.to_bytes()) <= UDP_REQUEST_BYTES or not handoff.summary:
                break
            shorter = len(handoff.summary) * 3 // 4
            handoff = (handoff.shortened(shorter) if shorter >= MIN_SUMMARY_CHARS
                       else dataclasses.replace(handoff, summary=""))
        return refer

    async def _confirmed(self, timeout: float) -> bool:
        if self.state == "answered":
            try:
                await asyncio.wait_for(self._acked.wait(), timeout)
            except TimeoutError:
                pass
        return self.state == "confirmed"

    def _request(self, method: str, extra: list[tuple[str, str]]) -> SipMessage:
        """An in-dialog request (RFC 3261 section 12.2.1.1)."""
        self.cseq += 1
        to = f"<{self.remote_uri}>" + (f";tag={self.remote_tag}" if self.remote_tag else "")
        headers = [("Via", self.server.via(self.flow)), ("Max-Forwards", "70"),
                   ("From", f"<{self.local_uri}>;tag={self.local_tag}"), ("To", to),
                   ("Call-ID", self.call_id), ("CSeq", f"{self.cseq} {method}")]
        headers += [("Route", r) for r in self.route]
        headers += [("User-Agent", "branch7")] + extra
        return sipmsg.request(method, self.remote_target, headers)

    async def _bye(self) -> None:
        if self.state == "ended":
            return
        self.state = "ended"
        self._ended.set()
        self.rtp.close()
        if self._transfer is not None and not self._transfer.done():
            self._transfer.set_result("ended")
        await self.server.request(self.flow, self._request("BYE", []), BYE_TIMEOUT_S)
