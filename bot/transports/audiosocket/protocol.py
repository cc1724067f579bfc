"""The AudioSocket wire format: an incremental frame parser and frame builders (pure, no I/O).

Protocol (Asterisk res_audiosocket / app_audiosocket, Asterisk 18+; described at
https://docs.asterisk.org/Configuration/Channel-Drivers/AudioSocket/ and in the original
https://github.com/CyCoreSystems/audiosocket README): TCP; every message is a 3-byte header, a
1-byte type and a 2-byte big-endian payload length, then the payload.

  0x00  hangup / terminate (no payload; closing the socket is also sufficient)
  0x01  UUID of the stream, 16 bytes binary: the first message Asterisk sends
  0x03  DTMF digit, 1 ASCII byte (Asterisk 20+, 21+, 22+)
  0x10  audio: signed linear 16-bit little-endian, 8 kHz mono (320 bytes = 20 ms)
  0xff  error; optional application-specific code (Asterisk: 0x01 calling party hung up,
        0x02 frame forwarding error, 0x04 memory error)

Newer Asterisk versions also define 0x11-0x18 for audio at higher sample rates; the gateway
runs the telephone line at 8 kHz, so those are refused here like any other unknown type.
"""
from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from enum import IntEnum

HEADER = struct.Struct(">BH")
MAX_PAYLOAD = 4096           # 20 ms at 8 kHz is 320 bytes; anything near 64 KiB is an attack or a bug
FRAME_BYTES = 320            # 20 ms of 8 kHz 16-bit mono
RATE = 8000
DTMF_DIGITS = frozenset("0123456789*#ABCD")


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


class ProtocolError(Exception):
    """The peer sent something that is not AudioSocket (or not what this gateway accepts)."""


@dataclass(frozen=True)
class Message:
    kind: Kind
    payload: bytes = b""

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.payload)

    @property
    def digit(self) -> str:
        return self.payload.decode("ascii")


def _check(kind: Kind, payload_len: int, payload: bytes | None = None) -> None:
    """Per-type payload rules; `payload` is given once it has arrived."""
    if kind is Kind.HANGUP and payload_len != 0:
        raise ProtocolError(f"hangup message with a {payload_len}-byte payload (expected none)")
    if kind is Kind.UUID and payload_len != 16:
        raise ProtocolError(f"UUID message with {payload_len} bytes (expected 16)")
    if kind is Kind.DTMF:
        if payload_len != 1:
            raise ProtocolError(f"DTMF message with {payload_len} bytes (expected 1)")
        if payload is not None and chr(payload[0]) not in DTMF_DIGITS:
            raise ProtocolError(f"DTMF message with byte 0x{payload[0]:02x}, not a keypad digit")
    if kind is Kind.AUDIO and payload_len % 2:
        raise ProtocolError(f"audio message with an odd length ({payload_len}); expected 16-bit samples")


class Parser:
    """Feed it bytes as they arrive; it returns the complete messages, in order.

    A frame may be split across reads anyway. The first violation raises `ProtocolError` (the
    only exception it raises) and the parser stays broken: the connection must be dropped, since
    after a bad header nothing that follows can be framed reliably.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buf = bytearray()
        self._failed: str | None = None

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete message (never more than a header +
        `max_payload`)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        if self._failed is not None:
            raise ProtocolError(f"stream already broken: {self._failed}")
        try:
            self._buf += data
        except TypeError as exc:
            raise ProtocolError(f"expected bytes, got {type(data).__name__}") from exc
        out: list[Message] = []
        try:
            while len(self._buf) >= HEADER.size:
                code, length = HEADER.unpack_from(self._buf)
                try:
                    kind = Kind(code)
                except ValueError:
                    raise ProtocolError(f"unknown message type 0x{code:02x}") from None
                if length > self.max_payload:
                    raise ProtocolError(f"{kind.name.lower()} message of {length} bytes exceeds {self.max_payload}")
                _check(kind, length)
                end = HEADER.size + length
                if len(self._buf) < end:
                    break  # the rest arrives with a later read
                payload = bytes(self._buf[HEADER.size:end])
                _check(kind, length, payload)
                del self._buf[:end]
                out.append(Message(kind, payload))
        except ProtocolError as exc:
            self._failed = str(exc)
            self._buf.clear()
            raise
        return out


# ----- builders ------------------------------------------------------------------------------------
def frame(kind: Kind | int, payload: bytes = b"") -> bytes:
    """Any message (the test clients use it to build garbage too; no checks)."""
    return HEADER.pack(int(kind), len(payload)) + payload


def hangup() -> bytes:
    return frame(Kind.HANGUP)


def audio(pcm: bytes) -> bytes:
    if len(pcm) % 2 or len(pcm) > MAX_PAYLOAD:
        raise ProtocolError(f"audio payload of {len(pcm)} bytes (even, at most {MAX_PAYLOAD})")
    return frame(Kind.AUDIO, pcm)


def uuid_message(value: uuid.UUID | str) -> bytes:
    value = value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    return frame(Kind.UUID, value.bytes)


def dtmf(digit: str) -> bytes:
    if digit not in DTMF_DIGITS:
        raise ProtocolError(f"{digit!r} is not a keypad digit")
    return frame(Kind.DTMF, digit.encode("ascii"))


def error(code: int = 0) -> bytes:
    return frame(Kind.ERROR, bytes([code & 0xFF]))


SILENCE = audio(bytes(FRAME_BYTES))
