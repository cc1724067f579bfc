"""The AudioSocket frame parser: frames split anywhere, size limits, unknown types, fuzzing."""
from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings, strategies as st

from bot.transports.audiosocket import protocol
from bot.transports.audiosocket.protocol import Kind, Message, Parser, ProtocolError

CALL = uuid.UUID("40325ec2-5efd-4bd3-805f-53576e581d13")
STREAM = (protocol.uuid_message(CALL) + protocol.audio(bytes(range(256)) + bytes(64))
          + protocol.dtmf("7") + protocol.audio(b"\x01\x00" * 160) + protocol.hangup())


def test_a_whole_stream_in_one_read():
    messages = Parser().feed(STREAM)
    assert [m.kind for m in messages] == [Kind.UUID, Kind.AUDIO, Kind.DTMF, Kind.AUDIO, Kind.HANGUP]
    assert messages[0].uuid == CALL and messages[2].digit == "7"
    assert len(messages[1].payload) == protocol.FRAME_BYTES


@pytest.mark.parametrize("cuts", [1, 2, 3, 4, 7, 319, 320, 323])
def test_frames_split_across_reads_come_out_the_same(cuts):
    parser = Parser()
    got: list[Message] = []
    for i in range(0, len(STREAM), cuts):
        got += parser.feed(STREAM[i:i + cuts])
    assert got == Parser().feed(STREAM)
    assert parser.pending == 0


def test_a_partial_header_waits_for_the_rest():
    parser = Parser()
    assert parser.feed(b"\x10") == [] and parser.feed(b"\x01") == []
    assert parser.feed(b"\x40" + bytes(319)) == []  # 320 announced, 319 arrived
    assert parser.feed(b"\x00") == [Message(Kind.AUDIO, bytes(320))]


def test_oversized_length_is_refused_from_the_header_alone():
    parser = Parser()
    with pytest.raises(ProtocolError, match="4097 bytes exceeds 4096"):
        parser.feed(b"\x10\x10\x01")  # 0x1001 = 4097: refused before any payload is buffered
    assert Parser().feed(protocol.frame(Kind.AUDIO, bytes(4096)))[0].payload == bytes(4096)


def test_unknown_types_and_malformed_messages_are_refused_clearly():
    for data, why in [(b"\x02\x00\x00", "unknown message type 0x02"),
                      (b"\x11\x00\x02\x00\x00", "unknown message type 0x11"),  # 12 kHz audio
                      (b"GET / HTTP/1.1\r\n", "unknown message type 0x47"),
                      (b"\x01\x00\x04abcd", "UUID message with 4 bytes"),
                      (b"\x00\x00\x01x", "hangup message with a 1-byte payload"),
                      (b"\x03\x00\x01x", "not a keypad digit"),
                      (b"\x10\x00\x03abc", "odd length")]:
        with pytest.raises(ProtocolError, match=why):
            Parser().feed(data)


def test_a_broken_stream_stays_broken():
    parser = Parser()
    with pytest.raises(ProtocolError):
        parser.feed(b"\x42\x00\x00")
    with pytest.raises(ProtocolError, match="already broken"):
        parser.feed(protocol.hangup())


def test_builders():
    assert protocol.hangup() == b"\x00\x00\x00"
    assert protocol.SILENCE == b"\x10\x01\x40" + bytes(320)
    assert protocol.dtmf("#") == b"\x03\x00\x01#"
    assert protocol.uuid_message(str(CALL)) == b"\x01\x00\x10" + CALL.bytes
    assert protocol.error(4) == b"\xff\x00\x01\x04"
    with pytest.raises(ProtocolError):
        protocol.audio(bytes(4098))
    with pytest.raises(ProtocolError):
        protocol.dtmf("x")


def test_non_bytes_input_is_a_protocol_error_too():
    with pytest.raises(ProtocolError):
        Parser().feed("text")  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(chunks=st.lists(st.binary(max_size=600), max_size=20))
def test_fuzz_random_bytes_only_ever_give_messages_or_protocol_error(chunks):
    parser = Parser()
    for chunk in chunks:
        try:
            for m in parser.feed(chunk):
                assert isinstance(m.kind, Kind) and len(m.payload) <= protocol.MAX_PAYLOAD
        except ProtocolError:
            return
        assert parser.pending <= 3 + protocol.MAX_PAYLOAD


messages = st.one_of(
    st.builds(protocol.audio, st.binary(max_size=2048).map(lambda b: b[: len(b) - len(b) % 2])),
    st.sampled_from(sorted(protocol.DTMF_DIGITS)).map(protocol.dtmf),
    st.uuids().map(protocol.uuid_message),
    st.integers(0, 255).map(protocol.error),
    st.just(protocol.hangup()),
)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(messages, min_size=1, max_size=15), cuts=st.lists(st.integers(1, 700), max_size=30))
def test_fuzz_valid_streams_cut_anywhere_parse_back_exactly(parts, cuts):
    data = b"".join(parts)
    parser, got, at = Parser(), [], 0
    for n in cuts:
        got += parser.feed(data[at:at + n])
        at += n
    got += parser.feed(data[at:])
    assert [protocol.frame(m.kind, m.payload) for m in got] == parts
