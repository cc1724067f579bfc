"""Garbage in: the parsers raise only their own error types (never IndexError, struct.error, ...)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.transports.sip import message as sipmsg
from bot.transports.sip.message import SipParseError
from bot.transports.sip.rtp import DtmfReceiver, RtpError, RtpPacket, parse_event, parse_rtp
from bot.transports.sip.sdp import SdpError, negotiate, parse_sdp
from tests.transports.sip.test_parsers import INVITE, OFFER

FAST = settings(max_examples=400, deadline=None)

# Text built from SIP-ish pieces finds deeper paths than random bytes alone.
PIECES = st.sampled_from(["INVITE ", "sip:7@x ", "SIP/2.0", "\r\n", "\n", ": ", ";", "tag=", "branch=z9hG4bK",
                          "Via", "From", "To", "Call-ID", "CSeq", "1 INVITE", "Content-Length", "l", "v", "f", "t",
                          "i", "0", "99999999", "-1", "<", ">", '"', ",", " ", "\t", "\xff", "é", "SIP/2.0 200 OK",
                          "v=0", "m=audio ", "c=IN IP4 ", "a=rtpmap:", "101 telephone-event/8000", "RTP/AVP ",
                          "1.2.3.4", "65536", "PCMU/8000", "a=sendonly"])
SIPISH = st.lists(PIECES, max_size=60).map("".join)


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    return st.tuples(st.integers(0, len(base)), st.integers(0, 40), st.binary(max_size=40)).map(
        lambda t: base[:t[0]] + t[2] + base[t[0] + t[1]:])


@FAST
@given(st.one_of(st.binary(max_size=3000), SIPISH.map(str.encode), _mutations(INVITE)))
def test_sip_parser_raises_only_its_error(data):
    try:
        msg = sipmsg.parse(data, max_bytes=2048)
    except SipParseError:
        return
    msg.to_bytes()
    _ = (msg.branch, msg.call_id, sipmsg.params(msg.get("to")), sipmsg.addr_uri(msg.get("from")))
    sipmsg.response(msg, 400)


@FAST
@given(st.binary(max_size=3000))
def test_tcp_framing_raises_only_the_parse_error(data):
    buf = bytearray(data)
    try:
        while sipmsg.frame_stream(buf, 2048) is not None:
            pass
    except SipParseError:
        pass


@FAST
@given(st.one_of(st.binary(max_size=2000), SIPISH, _mutations(OFFER.encode())))
def test_sdp_parser_and_negotiation_raise_only_sdp_errors(data):
    try:
        negotiate(parse_sdp(data))
    except SdpError:
        pass


@FAST
@given(st.binary(max_size=300))
def test_rtp_and_event_parsers_raise_only_rtp_errors(data):
    rx = DtmfReceiver()
    try:
        pkt = parse_rtp(data)
    except RtpError:
        pkt = RtpPacket(101, 0, 0, 0, data)
    try:
        parse_event(pkt.payload)
        rx.feed(pkt)
    except RtpError:
        pass


@FAST
@given(st.lists(st.tuples(st.integers(0, 65535), st.floats(0, 10), st.booleans(), st.booleans()), max_size=200))
def test_the_playout_never_plays_a_frame_twice_and_always_fills_its_slot(pushes):
    import numpy as np

    from bot.audio.frames import AudioFrame
    from bot.audio.jitter import Playout

    p = Playout()
    played: list[int] = []
    now = 0.0
    for seq, dt, cn, pull in pushes:
        now += dt / 100
        if cn:
            p.caller_silent(now, level=seq % 128, seq=seq)
        else:
            p.push(AudioFrame(np.full(160, seq % 30000 + 1, np.int16).tobytes(), 8000), now, seq=seq, ts=seq * 160,
                   marker=dt > 9)
        if pull:
            frames = p.pull(now)
            assert frames or p.stats.received == 0  # once the stream began, every slot has audio
            played += [int(f.samples[0]) for f in frames if f.samples.any() and (f.samples == f.samples[0]).all()]
    # Real frames come out at most once each (within a sender: resets may reuse a number).
    assert p.stats.played <= p.stats.received
    assert p.stats.played + len(p.drain()) <= p.stats.received
