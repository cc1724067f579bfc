"""The SIP endpoint against a scripted client over real UDP sockets, with a stand-in call instead of
the engines: refusals, garbage, RTP in/out, keypad events, hold, BYE, and transfer failures."""
from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest

from bot.audio.frames import AudioFrame
from bot.audio.jitter import Playout
from bot.call.handoff import Handoff
from bot.gateway.host import CallHost
from bot.transports.sip import dialog, start_sip
from bot.transports.sip import message as sipmsg
from bot.transports.sip.rtp import RtpPacket, TelephoneEvent, parse_rtp

SIP_PORT, CLIENT_PORT, CLIENT_RTP = 15070, 15090, 22900


class StubLive:
    """A call's transport-facing side, with the real playout (what a `LiveCall` does with RTP)."""

    def __init__(self, peer) -> None:
        self.peer, self.frames, self.digits, self.gone = peer, [], [], asyncio.Event()
        self.playout, self.silent = Playout(), []

    def audio(self, frame: AudioFrame, seq: int | None = None, ts: int | None = None, marker: bool = False) -> None:
        self.frames.append(frame)
        self.playout.push(frame, 0.0, seq, ts, marker)

    def caller_silent(self, level: int | None = None, seq: int | None = None) -> None:
        self.silent.append((level, seq))
        self.playout.caller_silent(0.0, level, seq)

    def dtmf(self, digit: str) -> None:
        self.digits.append(digit)

    def hung_up(self) -> None:
        self.gone.set()

    async def run(self) -> dict:
        await self.gone.wait()
        return {}


class StubHost(CallHost):
    def __init__(self, settings) -> None:
        super().__init__(settings, None, None, None)  # type: ignore[arg-type]
        self.lives: list[StubLive] = []

    def open_call(self, peer, caller="", call_id=None, on_event=None):
        live = StubLive(peer)
        self.lives.append(live)
        self.calls[str(len(self.lives))] = live  # type: ignore[assignment]  (counts towards `full`)
        return live


class Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        self.queue.put_nowait(data)

    async def next(self, timeout: float = 3.0) -> bytes:
        return await asyncio.wait_for(self.queue.get(), timeout)


class Client:
    """A scripted UAC: SIP on CLIENT_PORT, RTP on CLIENT_RTP."""

    def __init__(self, sip: Udp, rtp: Udp) -> None:
        self.sip, self.rtp, self.cseq, self.to_tag, self.bot_rtp = sip, rtp, 1, "", 0
        self.call_id = f"test-{id(self)}@127.0.0.1"

    def send(self, text: str, body: str = "") -> None:
        data = text.replace("\n", "\r\n").encode() + f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
        self.sip.transport.sendto(data, ("127.0.0.1", SIP_PORT))

    def request(self, method: str, body: str = "", extra: str = "", to_tag: str | None = None) -> None:
        self.cseq += method != "ACK"
        tag = self.to_tag if to_tag is None else to_tag
        ctype = "Content-Type: application/sdp\n" if body.startswith("v=0") else ""
        self.send(f"{method} sip:7@127.0.0.1:{SIP_PORT} SIP/2.0\n"
                  f"Via: SIP/2.0/UDP 127.0.0.1:{CLIENT_PORT};branch={sipmsg.new_branch()}\n"
                  f"From: <sip:0912345678@127.0.0.1>;tag=caller\nTo: <sip:7@127.0.0.1>{';tag=' + tag if tag else ''}\n"
                  f"Call-ID: {self.call_id}\nCSeq: {self.cseq} {method}\n"
                  f"Contact: <sip:0912345678@127.0.0.1:{CLIENT_PORT}>\n{ctype}{extra}", body)

    async def expect(self, status: int | None = None, method: str | None = None) -> sipmsg.SipMessage:
        while True:
            msg = sipmsg.parse(await self.sip.next())
            if msg.is_request and msg.method == method or not msg.is_request and msg.status == status:
                return msg
            if not msg.is_request and msg.status < 200 and status and status >= 200:
                continue  # provisional responses on the way
            raise AssertionError(f"expected {status or method}, got {msg.status or msg.method}")

    def answer(self, req: sipmsg.SipMessage, status: int, body: str = "", extra: list | None = None) -> None:
        self.sip.transport.sendto(sipmsg.response(req, status, extra=extra, body=body.encode()).to_bytes(),
                                  ("127.0.0.1", SIP_PORT))

    async def call(self, codecs: str = "0 101") -> sipmsg.SipMessage:
        self.request("INVITE", sdp(codecs))
        await self.expect(100)
        ok = await self.expect(200)
        self.to_tag = sipmsg.params(ok.get("to"))["tag"]
        self.bot_rtp = int(next(line.split()[1] for line in ok.body.decode().splitlines() if line.startswith("m=")))
        self.request("ACK")
        return ok

    def rtp_to_bot(self, packet: RtpPacket) -> None:
        self.rtp.transport.sendto(packet.to_bytes(), ("127.0.0.1", self.bot_rtp))


def sdp(codecs: str = "0 101", direction: str = "sendrecv") -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {CLIENT_RTP} RTP/AVP {codecs}\r\na=rtpmap:101 telephone-event/8000\r\na={direction}\r\n")


@pytest.fixture
async def endpoint(settings, monkeypatch):
    monkeypatch.setattr(dialog, "BYE_TIMEOUT_S", 0.5)  # the scripted client does not always answer BYE
    async def start(gateway: dict | None = None, **sip):
        s = settings.replace(sip={"host": "127.0.0.1", "port": SIP_PORT, "rtp_port_min": 22500,
                                  "rtp_port_max": 22599, **sip}, gateway=gateway or {})
        host = StubHost(s)
        server = await start_sip(host, s)
        loop = asyncio.get_running_loop()
        _, sip_sock = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", CLIENT_PORT))
        _, rtp_sock = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", CLIENT_RTP))
        started.append((server, host, sip_sock, rtp_sock))
        return host, server, Client(sip_sock, rtp_sock)

    started: list = []
    yield start
    for server, host, sip_sock, rtp_sock in started:
        for live in host.lives:
            live.hung_up()
        await server.close()
        await host.aclose()
        sip_sock.transport.close()
        rtp_sock.transport.close()


async def test_garbage_is_dropped_and_the_endpoint_keeps_answering(endpoint):
    host, server, client = await endpoint()
    for junk in [b"\x00\xff" * 300, b"INVITE sip:x SIP/2.0\r\n\r\n", b"x" * 20000, b"SIP/2.0 200 OK\r\n\r\n",
                 b"\r\n\r\n", "OPTIONS sip:7 SIP/2.0\r\nVia: é\r\n\r\n".encode()]:
        client.sip.transport.sendto(junk, ("127.0.0.1", SIP_PORT))
    client.request("OPTIONS")
    ok = await client.expect(200)
    assert "INVITE" in ok.get("allow") and server.stats["bad"] >= 3
    client.request("BYE", to_tag="nope")
    await client.expect(481)
    client.request("MESSAGE")
    await client.expect(405)


async def test_a_peer_not_allowed_is_forbidden(endpoint):
    host, server, client = await endpoint(allowed_peers="10.0.0.0/8, 192.168.1.7")
    client.request("INVITE", sdp())
    await client.expect(403)
    client.request("OPTIONS")
    await client.expect(403)
    assert host.lives == [] and server.stats["refused"] == 2


async def test_unknown_codecs_bad_sdp_and_a_full_host_are_refused(endpoint):
    host, server, client = await endpoint(gateway={"max_calls": 1})
    client.request("INVITE", sdp("18 9"))
    await client.expect(488)
    client.call_id += "x"
    client.request("INVITE", "v=0\r\nm=audio 1 RTP/AVP 0\r\n")
    await client.expect(400)  # no connection address
    client.call_id += "y"
    await client.call()
    first = client.call_id
    client.call_id += "z"
    client.to_tag = ""
    client.request("INVITE", sdp())
    await client.expect(486)
    assert len(host.lives) == 1 and list(server.calls) == [first]


async def test_a_call_moves_audio_and_keypad_both_ways_survives_hold_and_ends_by_bye(endpoint):
    host, server, client = await endpoint()
    ok = await client.call("8 0 101 13")  # the offer prefers PCMA: we take it, and comfort noise
    assert b"a=rtpmap:8 PCMA/8000" in ok.body and b"a=rtpmap:101 telephone-event/8000" in ok.body
    assert b"a=rtpmap:13 CN/8000" in ok.body
    await asyncio.sleep(0.05)
    live = host.lives[0]
    # In: A-law packets out of order reach the call's playout in order; a late duplicate is dropped.
    from bot.audio.g711 import alaw_encode
    tones = [np.full(160, 1000 * (k + 1), np.int16) for k in range(4)]
    for k in [0, 2, 1, 3, 1]:
        client.rtp_to_bot(RtpPacket(8, 100 + k, 160 * k, 7, alaw_encode(tones[k])))
    # RFC 3389 comfort noise (level -62 dBov): the caller is silent, never audio; its number is taken.
    client.rtp_to_bot(RtpPacket(13, 104, 800, 7, bytes([62])))
    # Keypad 5: three updates and three end packets of one event, then keypad #.
    for end in [False, False, True, True, True]:
        client.rtp_to_bot(RtpPacket(101, 200, 8000, 7, TelephoneEvent(5, end, 10, 800).to_bytes()))
    client.rtp_to_bot(RtpPacket(101, 201, 9600, 7, TelephoneEvent(11, True, 10, 800).to_bytes()))
    client.rtp_to_bot(RtpPacket(101, 202, 9600, 7, b"\x01"))  # broken event: dropped
    await asyncio.sleep(0.2)
    assert [round(float(np.median(f.samples)) / 1000) for f in live.playout.drain()] == [1, 2, 3, 4]
    assert live.playout.stats.duplicates == 1 and len(live.frames) == 5
    assert live.silent == [(62, 104)] and live.playout.stats.lost == 0
    assert live.digits == ["5", "#"]
    # Out: a voiced frame and a silent slot, with continuous sequence and timestamps.
    await live.peer.send_audio(AudioFrame.from_samples(np.zeros(160, np.int16) + 500, 8000))
    await live.peer.send_audio(None)
    a, b = parse_rtp(await client.rtp.next()), parse_rtp(await client.rtp.next())
    assert a.pt == b.pt == 8 and a.marker and b.payload == b"\xd5" * 160
    assert (b.seq - a.seq) % 65536 == 1 and (b.ts - a.ts) % 2**32 == 160
    # Hold (re-INVITE a=sendonly): 200 with recvonly, the call stays, the bot stops sending.
    client.request("INVITE", sdp("8 101", "sendonly"))
    held = await client.expect(200)
    assert b"a=recvonly" in held.body and b"o=- " in held.body
    client.request("ACK")
    await live.peer.send_audio(None)
    with pytest.raises(TimeoutError):
        await client.rtp.next(0.2)
    client.request("INVITE", sdp("0 101"))  # resume, now in µ-law
    resumed = await client.expect(200)
    assert b"a=sendrecv" in resumed.body and b"a=rtpmap:0 PCMU/8000" in resumed.body
    client.request("ACK")
    await live.peer.send_audio(None)
    assert parse_rtp(await client.rtp.next()).payload == b"\xff" * 160
    assert not live.gone.is_set()
    client.request("BYE")
    await client.expect(200)
    await asyncio.wait_for(live.gone.wait(), 1)
    await asyncio.sleep(0.05)
    assert server.calls == {}


async def test_transfer_failures_are_reported_and_a_success_ends_the_leg(endpoint, monkeypatch):
    monkeypatch.setattr(dialog, "TRANSFER_TIMEOUT_S", 1.0)
    monkeypatch.setattr(dialog, "TRANSFER_RING_S", 1.5)
    host, server, client = await endpoint(transfer_uri="sip:{branch}@127.0.0.1:5070")
    await client.call()
    await asyncio.sleep(0.05)
    peer = host.lives[0].peer

    async def refer_then(statuses: list[int] | None, accept: int = 202) -> str | None:
        task = asyncio.create_task(peer.transfer(3))
        refer = await client.expect(method="REFER")
        assert sipmsg.addr_uri(refer.get("refer-to")) == "sip:3@127.0.0.1:5070"
        assert refer.get("referred-by") and sipmsg.params(refer.get("from"))["tag"] == client.to_tag
        client.answer(refer, accept)
        for status in statuses or []:
            client.request("NOTIFY", f"SIP/2.0 {status} X\r\n",
                           "Event: refer\nSubscription-State: active\nContent-Type: message/sipfrag\n")
            await client.expect(200)
        return await asyncio.wait_for(task, 3)

    assert await refer_then([100, 486]) == "failed:486"
    assert await refer_then([], accept=403) == "refused:403"
    assert await refer_then([]) == "timeout"  # no NOTIFY at all within the (shortened) 8 s
    assert await refer_then([100]) == "timeout"  # ringing, but no final NOTIFY within the (shortened) 45 s
    assert await refer_then([100, 200]) is None
    bye = await client.expect(method="BYE")  # RFC 5589: the transferor hangs up its leg
    client.answer(bye, 200)
    await asyncio.sleep(0.05)


# RFC 3261 section 25.1: what an hname / hvalue may hold unescaped, and the %-escapes.
HVALUE = r"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|%[0-9A-F]{2})*"
URI_HEADERS = re.compile(rf"^sip:[^?]+\?{HVALUE}={HVALUE}(?:&{HVALUE}={HVALUE})*$")
SUMMARY = "chị Lan, số 091****678: hộ nghèo & cận nghèo = bao nhiêu? <gấp> 100% a+b"


async def test_the_refer_carries_the_handoff_escaped_in_refer_to_and_as_headers(endpoint):
    host, server, client = await endpoint(transfer_uri="sip:{branch}@127.0.0.1:5070")
    await client.call()
    await asyncio.sleep(0.05)
    peer = host.lives[0].peer

    async def refer(handoff: Handoff | None) -> sipmsg.SipMessage:
        task = asyncio.create_task(peer.transfer(3, handoff))
        req = await client.expect(method="REFER")
        client.answer(req, 403)  # refused: the next one can follow
        assert await asyncio.wait_for(task, 3) == "refused:403"
        return req

    handoff = Handoff("c-42", 3, "intent:symptoms_advice", "hn_muc", SUMMARY)
    req = await refer(handoff)
    target = sipmsg.addr_uri(req.get("refer-to"))
    assert URI_HEADERS.match(target), target  # ASCII, each value %-escaped as section 19.1.1 says
    assert "%26" in target and "%3D" in target and "%3F" in target and "%3E" in target and "%20" in target
    assert sipmsg.uri_headers(target) == ("sip:3@127.0.0.1:5070", [
        ("X-Branch7-Call", "c-42"), ("X-Branch7-Reason", "intent:symptoms_advice"), ("X-Branch7-Faq", "hn_muc"),
        ("X-Branch7-Summary", SUMMARY)])
    # The same on the REFER itself (Asterisk's GET_TRANSFERRER_DATA reads these), as UTF-8 text.
    assert [(n, req.get(n)) for n in ("X-Branch7-Call", "X-Branch7-Faq", "X-Branch7-Summary")] == [
        ("X-Branch7-Call", "c-42"), ("X-Branch7-Faq", "hn_muc"), ("X-Branch7-Summary", SUMMARY)]

    # A long summary is cut (newest words kept) until the REFER fits a UDP request (RFC 3261 18.1.1).
    long = Handoff("c-43", 3, "keypad", "", " / ".join(["hộ nghèo được hỗ trợ bao nhiêu tiền ạ"] * 6))
    req = await refer(long)
    summary = dict(sipmsg.uri_headers(sipmsg.addr_uri(req.get("refer-to")))[1])["X-Branch7-Summary"]
    assert len(req.to_bytes()) <= dialog.UDP_REQUEST_BYTES
    assert summary.startswith("…") and long.summary.endswith(summary[1:]) and len(summary) < len(long.summary)
    assert req.get("x-branch7-summary") == summary and "X-Branch7-Faq" not in req.to_bytes().decode()

    # Nothing to share (privacy.share_with_agent: none): the plain REFER of before.
    req = await refer(Handoff("", 3))
    assert req.get("refer-to") == "<sip:3@127.0.0.1:5070>" and "X-Branch7" not in req.to_bytes().decode()


async def test_tcp_frames_messages_by_content_length(endpoint):
    host, server, client = await endpoint(tcp=True)
    reader, writer = await asyncio.open_connection("127.0.0.1", SIP_PORT)
    options = (f"OPTIONS sip:7@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKtcp\r\n"
               f"From: <sip:pbx@127.0.0.1>;tag=1\r\nTo: <sip:7@127.0.0.1>\r\nCall-ID: tcp-1\r\nCSeq: 1 OPTIONS\r\n"
               f"Content-Length: 0\r\n\r\n").encode()
    writer.write(b"\r\n\r\n" + options[:40])  # keep-alive, then a message in two pieces
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(options[40:] + options.replace(b"tcp-1", b"tcp-2").replace(b"z9hG4bKtcp", b"z9hG4bKtcp2"))
    await writer.drain()
    replies = b""
    while replies.count(b"SIP/2.0 200") < 2:
        replies += await asyncio.wait_for(reader.read(4096), 2)
    assert b"Call-ID: tcp-1" in replies and b"Call-ID: tcp-2" in replies
    writer.close()


async def test_an_invite_without_sdp_gets_our_offer_and_the_answer_comes_in_the_ack(endpoint):
    host, server, client = await endpoint()
    client.request("INVITE")
    await client.expect(100)
    ok = await client.expect(200)
    assert b"m=audio" in ok.body and b" RTP/AVP 0 8 101 13" in ok.body
    client.to_tag = sipmsg.params(ok.get("to"))["tag"]
    client.request("ACK", sdp("8 101"))
    await asyncio.sleep(0.05)
    live = host.lives[0]
    await live.peer.send_audio(None)
    assert parse_rtp(await client.rtp.next()).payload == b"\xd5" * 160  # A-law silence, as answered
    client.request("INFO", "Signal=7\r\nDuration=160\r\n", "Content-Type: application/dtmf-relay\n")
    await client.expect(200)
    await asyncio.sleep(0.02)
    assert live.digits == ["7"]
