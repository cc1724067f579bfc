"""The SIP transport's pure parts: SIP messages, SDP offer/answer, RTP, keypad events, comfort noise.
(The jitter buffer is the call's playout: tests/audio/test_jitter.py.)"""
from __future__ import annotations

import pytest

from bot.transports.sip import message as sipmsg
from bot.transports.sip.message import SipParseError
from bot.transports.sip.rtp import (DtmfReceiver, RtpError, RtpPacket, TelephoneEvent, parse_event,
                                    parse_rtp)
from bot.transports.sip.sdp import NotAcceptable, SdpError, build_sdp, negotiate, parse_sdp

INVITE = (
    "INVITE sip:7@10.0.0.2 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport\r\n"
    "v: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKold\r\n"
    'f: "Ngoc" <sip:0912345678@10.0.0.1>;tag=1234\r\n'
    "To: <sip:7@10.0.0.2>\r\n"
    "Call-ID: a84b4c76e66710@pc33\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Subject: folded\r\n  value\r\n"
    "Record-Route: <sip:pbx1;lr>, <sip:pbx2;lr>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n\r\nv=0\r\nextra"
).encode()

OFFER = """v=0\r
o=- 1 1 IN IP4 10.0.0.1\r
s=-\r
c=IN IP4 10.0.0.1\r
t=0 0\r
m=video 4000 RTP/AVP 96\r
m=audio 4002 RTP/AVP 18 8 0 96\r
a=rtpmap:96 telephone-event/8000\r
a=fmtp:96 0-16\r
a=sendonly\r
"""


def test_a_request_is_parsed_with_compact_forms_folding_and_body_length():
    msg = sipmsg.parse(INVITE)
    assert (msg.method, msg.uri) == ("INVITE", "sip:7@10.0.0.2")
    assert msg.cseq == (314159, "INVITE")
    assert msg.branch == "z9hG4bKabc"
    assert len(msg.get_all("via")) == 2
    assert sipmsg.params(msg.get("from"))["tag"] == "1234"
    assert msg.get("subject") == "folded value"
    assert msg.get_all("record-route") == ["<sip:pbx1;lr>", "<sip:pbx2;lr>"]
    assert msg.body == b"v=0\r"  # Content-Length wins over trailing bytes


def test_a_response_copies_the_transaction_headers_and_round_trips():
    req = sipmsg.parse(INVITE)
    resp = sipmsg.response(req, 200, to_tag="xyz", body=b"v=0\r\n")
    again = sipmsg.parse(resp.to_bytes())
    assert (again.status, again.reason) == (200, "OK")
    assert again.get_all("via") == req.get_all("via")
    assert sipmsg.params(again.get("to"))["tag"] == "xyz"
    assert again.get_all("record-route") == req.get_all("record-route")
    assert again.body == b"v=0\r\n" and again.get("content-length") == "5"


@pytest.mark.parametrize("data", [
    b"", b"\r\n\r\n", b"HELLO\r\n\r\n", b"INVITE sip:x SIP/3.0\r\n\r\n",
    INVITE.replace(b"Content-Length: 4", b"Content-Length: 400"),
    INVITE.replace(b"Content-Length: 4", b"Content-Length: -1"),
    INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 1 BYE"),
    INVITE.replace(b"Call-ID: a84b4c76e66710@pc33\r\n", b""),
    INVITE.replace(b"To: ", b"To : \xff"),
    INVITE.replace(b"Subject: folded", b"Bad Header: x"),
    b"x" * 9000,
])
def test_garbage_and_broken_messages_raise_the_parse_error(data):
    with pytest.raises(SipParseError):
        sipmsg.parse(data, max_bytes=8192)


def test_uri_helpers():
    assert sipmsg.addr_uri('"A" <sip:5@pbx:5070;transport=udp>;tag=1') == "sip:5@pbx:5070;transport=udp"
    assert sipmsg.uri_host_port("sip:5@127.0.0.1:5070") == ("127.0.0.1", 5070)
    assert sipmsg.uri_host_port("sip:[::1]") == ("::1", 5060)
    assert sipmsg.uri_host_port("tel:123") is None


@pytest.mark.parametrize("value", ["keypad", "hộ nghèo & cận nghèo = bao nhiêu? <gấp>", "100% a+b/c;d,e", "a&b=c?d>e",
                                   "  spaces  ", "", "~-._!*'()", "Ủy ban Mặt trận Tổ quốc"])
def test_uri_headers_are_escaped_and_read_back(value):
    uri = sipmsg.with_headers("sip:5@pbx.example:5070;transport=udp", [("X-Branch7-Summary", value), ("X-B", "1")])
    assert uri.isascii() and " " not in uri and uri.count("?") == 1 and uri.count("&") == 1
    assert sipmsg.uri_headers(uri) == ("sip:5@pbx.example:5070;transport=udp", [("X-Branch7-Summary", value),
                                                                                 ("X-B", "1")])
    assert sipmsg.uri_host_port(uri) == ("pbx.example", 5070)
    # Headers already in the URI (an operator's transfer_uri) are kept; ours follow.
    assert sipmsg.uri_headers(sipmsg.with_headers("sip:5@pbx?X-Site=HN", [("X-A", value)]))[1] == [
        ("X-Site", "HN"), ("X-A", value)]
    assert sipmsg.with_headers("sip:5@pbx", []) == "sip:5@pbx"


def test_tcp_stream_framing():
    buf = bytearray(b"\r\n" + INVITE + INVITE[:30])
    first = sipmsg.frame_stream(buf, 8192)
    assert first is not None and sipmsg.parse(first).call_id == "a84b4c76e66710@pc33"
    assert sipmsg.frame_stream(buf, 8192) is None  # waits for the rest
    with pytest.raises(SipParseError):
        sipmsg.frame_stream(bytearray(b"INVITE x SIP/2.0\r\nVia: x\r\n\r\n"), 8192)


def test_the_offer_order_picks_pcma_and_the_offered_event_type_and_answers_every_m_line():
    offer = parse_sdp(OFFER)
    neg = negotiate(offer)
    assert (neg.pt, neg.encoding, neg.dtmf_pt, neg.remote) == (8, "PCMA", 96, ("10.0.0.1", 4002))
    assert neg.direction == "recvonly" and not neg.sending  # they hold: we must not send
    answer = parse_sdp(build_sdp("10.0.0.2", 20000, 5, 1, negotiated=neg, offer=offer))
    assert [(m.kind, m.port) for m in answer.media] == [("video", 0), ("audio", 20000)]
    assert answer.media[1].formats == ["8", "96"] and answer.media[1].direction == "recvonly"
    assert answer.media[1].rtpmap[96] == ("TELEPHONE-EVENT", 8000)


def test_hold_with_zero_address_stops_sending():
    neg = negotiate(parse_sdp("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n"))
    assert neg.pt == 0 and neg.dtmf_pt is None and not neg.sending


@pytest.mark.parametrize("sdp", [
    "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 18 9\r\n",                    # G.729, G.722 only
    "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n",
    "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/SAVP 0\r\n",                      # SRTP
    "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n",                          # refused stream
    "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 97\r\na=rtpmap:97 PCMU/16000\r\n",
])
def test_no_common_codec_is_not_acceptable(sdp):
    with pytest.raises(NotAcceptable):
        negotiate(parse_sdp(sdp))


@pytest.mark.parametrize("sdp", ["", "hello", "v=0\r\nc=IN IP4 pbx.example\r\n", "v=0\r\nm=audio x RTP/AVP 0\r\n",
                                 b"v=0\r\n\xff"])
def test_bad_sdp(sdp):
    with pytest.raises(SdpError):
        parse_sdp(sdp)


def test_rtp_round_trip_with_csrc_extension_and_padding():
    pkt = RtpPacket(0, 65535, 2**32 - 1, 0xDEADBEEF, b"\xff" * 160, marker=True)
    assert parse_rtp(pkt.to_bytes()) == pkt
    raw = bytearray(pkt.to_bytes())
    raw[0] |= 0x20 | 0x10 | 0x01           # padding, extension, one CSRC
    body = raw[12:]
    raw = raw[:12] + b"\x00\x00\x00\x01" + b"\xbe\xde\x00\x01" + b"\x01\x02\x03\x04" + body + b"\x00\x00\x03"
    got = parse_rtp(bytes(raw))
    assert got.payload == b"\xff" * 160 and got.seq == 65535
    for bad in [b"", b"\x80" * 11, b"\x40" + b"\x00" * 20, b"\x80\xc8" + b"\x00" * 20,
                b"\xa0\x00" + b"\x00" * 10 + b"\x05", b"\x90\x00" + b"\x00" * 10 + b"\x00\x00\x00\x09"]:
        with pytest.raises(RtpError):
            parse_rtp(bad)


def test_one_digit_per_event_despite_triple_end_packets_and_a_lost_end():
    rx = DtmfReceiver()

    def pkt(ts, event, end, dur):
        return RtpPacket(101, 0, ts, 1, TelephoneEvent(event, end, 10, dur).to_bytes())

    got = []
    for p in [pkt(100, 5, False, 160), pkt(100, 5, False, 320), pkt(100, 5, True, 480), pkt(100, 5, True, 480),
              pkt(100, 5, True, 480), pkt(900, 11, False, 160), pkt(2000, 0, False, 160), pkt(2000, 0, True, 800),
              pkt(3000, 16, True, 800)]:  # 16 = flash: ignored
        got += rx.feed(p)
    assert got == ["5", "#", "0"]
    assert parse_event(TelephoneEvent(9, True, 63, 65535).to_bytes()) == TelephoneEvent(9, True, 63, 65535)
    with pytest.raises(RtpError):
        parse_event(b"\x01")


def test_comfort_noise_is_accepted_when_offered_and_offered_by_us():
    # RFC 3389: CN/8000 offered (dynamic type here) -> in our answer under the offer's type.
    offer = parse_sdp("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 101 98\r\n"
                      "a=rtpmap:101 telephone-event/8000\r\na=rtpmap:98 CN/8000\r\n")
    neg = negotiate(offer)
    assert (neg.pt, neg.dtmf_pt, neg.cn_pt) == (0, 101, 98)
    answer = parse_sdp(build_sdp("10.0.0.2", 20000, 5, 1, negotiated=neg, offer=offer))
    assert answer.media[0].formats == ["0", "101", "98"] and answer.media[0].rtpmap[98] == ("CN", 8000)
    # Static type 13 without an rtpmap line is CN/8000 too (RFC 3551 section 6).
    assert negotiate(parse_sdp("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 8 13\r\n")).cn_pt == 13
    # Not offered -> not in the answer (RFC 3264: the answer only takes what was offered); CN at
    # another rate is not ours.
    plain = parse_sdp("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 97\r\na=rtpmap:97 CN/16000\r\n")
    neg = negotiate(plain)
    assert neg.cn_pt is None
    assert "CN" not in build_sdp("10.0.0.2", 20000, 5, 1, negotiated=neg, offer=plain).decode()
    # CN alone is no codec: still 488.
    with pytest.raises(NotAcceptable):
        negotiate(parse_sdp("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 13\r\n"))
    # Our own offer (an INVITE without SDP) carries CN/8000 under 13.
    ours = parse_sdp(build_sdp("10.0.0.2", 20000, 5, 1))
    assert "13" in ours.media[0].formats and ours.media[0].rtpmap[13] == ("CN", 8000)


def test_comfort_noise_level_is_the_first_byte():
    from bot.transports.sip.rtp import comfort_noise_level

    assert comfort_noise_level(bytes([60])) == 60
    assert comfort_noise_level(bytes([0x80 | 70, 1, 2, 3])) == 70  # reserved bit ignored, spectrum skipped
    assert comfort_noise_level(b"") is None
