"""RTP packets (RFC 3550 section 5.1), RFC 4733 telephone-events and their de-duplication, RFC 3389
comfort noise's level. Pure code: no sockets (see media.py); the jitter buffer is the call's
playout (bot/audio/jitter.py).

`RtpError` is the only error raised on input.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

EVENT_DIGITS = "0123456789*#ABCD"  # RFC 4733 section 3.2: events 0-15; 16 is flash (ignored)


class RtpError(ValueError):
    """Not an RTP packet (or telephone-event payload) we accept."""


@dataclass(frozen=True)
class RtpPacket:
    pt: int
    seq: int
    ts: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def to_bytes(self) -> bytes:
        return struct.pack("!BBHII", 0x80, (0x80 if self.marker else 0) | (self.pt & 0x7F), self.seq & 0xFFFF,
                           self.ts & 0xFFFFFFFF, self.ssrc & 0xFFFFFFFF) + self.payload


def parse_rtp(data: bytes) -> RtpPacket:
    """RFC 3550 section 5.1: fixed header, CSRCs, the extension (section 5.3.1) and padding skipped."""
    if len(data) < 12:
        raise RtpError("shorter than an RTP header")
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
    if b0 >> 6 != 2:
        raise RtpError("not RTP version 2")
    pt = b1 & 0x7F
    if 72 <= pt <= 76:
        raise RtpError("an RTCP packet")  # RFC 5761 section 4: RTCP types 200-204 look like PT 72-76
    offset = 12 + 4 * (b0 & 0x0F)
    end = len(data)
    if b0 & 0x20:  # padding: the last byte counts the padding bytes
        pad = data[-1]
        if pad == 0 or pad > end - offset:
            raise RtpError("bad padding")
        end -= pad
    if b0 & 0x10:
        if offset + 4 > end:
            raise RtpError("truncated header extension")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    if offset > end:
        raise RtpError("truncated packet")
    return RtpPacket(pt, seq, ts, ssrc, bytes(data[offset:end]), bool(b1 & 0x80))


@dataclass(frozen=True)
class TelephoneEvent:
    """RFC 4733 section 2.3: event, E(nd) bit, volume (dBm0 below 0), duration in timestamp units."""

    event: int
    end: bool
    volume: int
    duration: int

    @property
    def digit(self) -> str | None:
        return EVENT_DIGITS[self.event] if self.event < len(EVENT_DIGITS) else None

    def to_bytes(self) -> bytes:
        return struct.pack("!BBH", self.event & 0xFF, (0x80 if self.end else 0) | (self.volume & 0x3F),
                           self.duration & 0xFFFF)


def parse_event(payload: bytes) -> TelephoneEvent:
    if len(payload) < 4:
        raise RtpError("telephone-event payload shorter than 4 bytes")
    event, flags, duration = struct.unpack_from("!BBH", payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def comfort_noise_level(payload: bytes) -> int | None:
    """RFC 3389 section 3: the first byte is the noise level in -dBov (0-127; the top bit is
    reserved); spectral parameters may follow and are not used. None: no level given."""
    return payload[0] & 0x7F if payload else None


class DtmfReceiver:
    """One digit per RFC 4733 event. An event is identified by its RTP timestamp (section 2.5.1.2:
    all packets of an event share the timestamp of its start); the end packet is sent three times
    (section 2.5.1.4), so digits are reported on the first end packet and repeats are ignored. If
    every end packet was lost, the digit is reported when the next event begins."""

    def __init__(self) -> None:
        self._done: list[int] = []   # recent finished events' timestamps
        self._open: tuple[int, str] | None = None  # (timestamp, digit) begun but not ended

    def feed(self, packet: RtpPacket) -> list[str]:
        ev = parse_event(packet.payload)
        digit = ev.digit
        if digit is None or packet.ts in self._done:
            return []
        out: list[str] = []
        if self._open is not None and self._open[0] != packet.ts:
            out.append(self._open[1])
            self._finish(self._open[0])
            self._open = None
        if ev.end:
            out.append(digit)
            self._finish(packet.ts)
            self._open = None
        else:
            self._open = (packet.ts, digit)
        return out

    def _finish(self, ts: int) -> None:
        self._done.append(ts)
        del self._done[:-16]
