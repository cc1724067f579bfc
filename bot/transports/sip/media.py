"""One call's RTP socket: G.711 out every 20 ms; G.711, RFC 3389 comfort noise and RFC 4733 keypad
events in. Incoming audio goes to the call with its sequence number, timestamp and marker bit:
the call's playout (bot/audio/jitter.py, pulled on the call's 20 ms pacing) reorders it, drops
duplicates, conceals losses and plays silence when the line goes quiet."""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from bot.audio.frames import AudioFrame
from bot.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from bot.transports.sip.rtp import DtmfReceiver, RtpError, RtpPacket, comfort_noise_level, parse_rtp
from bot.transports.sip.sdp import Negotiated

log = logging.getLogger(__name__)

RATE = 8000
SAMPLES = 160                                 # 20 ms at 8 kHz
SILENCE = {"PCMU": b"\xff" * SAMPLES, "PCMA": b"\xd5" * SAMPLES}
ENCODE = {"PCMU": ulaw_encode, "PCMA": alaw_encode}
DECODE = {"PCMU": ulaw_decode, "PCMA": alaw_decode}


OnAudio = Callable[[AudioFrame, int, int, bool], None]   # frame, seq, ts, marker
OnSilence = Callable[[int | None, int], None]            # CN level (-dBov), seq


class RtpSession(asyncio.DatagramProtocol):
    def __init__(self, on_audio: OnAudio, on_dtmf: Callable[[str], None],
                 on_silence: OnSilence | None = None) -> None:
        self.on_audio, self.on_dtmf, self.on_silence = on_audio, on_dtmf, on_silence
        self.negotiated: Negotiated | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self._remote: tuple[str, int] | None = None
        self._ssrc = secrets.randbits(32)
        self._seq = secrets.randbits(16)
        self._ts = secrets.randbits(32)
        self._first = True
        self._dtmf = DtmfReceiver()
        self._in_ssrc: int | None = None
        self._seq_shift = 0                 # added to a sender's sequence numbers (see _receive)
        self._last_seq: int | None = None
        self.sent = self.received = self.dropped = self.voiced_sent = self.comfort_noise = 0
        self.last_received_at = 0.0  # loop time of the newest packet accepted (tests, diagnostics)

    # ----- setup ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def use(self, negotiated: Negotiated) -> None:
        """Start (or, after a re-INVITE, change) the stream's codec and remote address."""
        self.negotiated = negotiated
        self._remote = negotiated.remote

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    # ----- out -----------------------------------------------------------------------------------
    def send(self, frame: AudioFrame | None) -> None:
        neg = self.negotiated
        if neg is None or self.transport is None or self._remote is None or not neg.sending:
            return
        if frame is None:
            payload = SILENCE[neg.encoding]
        else:
            payload = ENCODE[neg.encoding](frame.pcm)
            self.voiced_sent += 1
        packet = RtpPacket(neg.pt, self._seq, self._ts, self._ssrc, payload, marker=self._first)
        self._first = False
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + len(payload)) & 0xFFFFFFFF  # one G.711 byte per 8 kHz sample
        try:
            self.transport.sendto(packet.to_bytes(), self._remote)
            self.sent += 1
        except OSError as exc:  # the network said no: this packet is lost, the call goes on
            log.debug("rtp send failed: %s", exc)

    # ----- in ------------------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            self._receive(data, addr)
        except Exception:  # noqa: BLE001 - a bad packet is dropped; the call goes on
            self.dropped += 1
            log.debug("rtp packet dropped", exc_info=True)

    def _receive(self, data: bytes, addr: tuple) -> None:
        neg = self.negotiated
        if neg is None or self._remote is None:
            return
        if addr[0] != self._remote[0]:  # only the negotiated peer's address may inject audio
            self.dropped += 1       # (we send to the SDP address; no latching onto the source port)
            return
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.dropped += 1
            return
        self.received += 1
        self.last_received_at = asyncio.get_running_loop().time()
        if packet.ssrc != self._in_ssrc:
            # A new source (a PBX re-anchoring media, a transfer) starts its own numbers: shift them
            # to follow the last one we had, so the playout neither mistakes them for old packets
            # nor reorders two senders' audio.
            if self._in_ssrc is not None and self._last_seq is not None:
                self._seq_shift = (self._last_seq + 1 - packet.seq) & 0xFFFF
            self._in_ssrc = packet.ssrc
        seq = (packet.seq + self._seq_shift) & 0xFFFF
        self._last_seq = seq
        if packet.pt == neg.dtmf_pt:
            for digit in self._dtmf.feed(packet):
                self.on_dtmf(digit)
            return
        if packet.pt == neg.cn_pt:  # RFC 3389: the caller is silent; never speech
            self.comfort_noise += 1
            if self.on_silence is not None:
                self.on_silence(comfort_noise_level(packet.payload), seq)
            return
        if packet.pt != neg.pt or not packet.payload:
            return  # anything else (another codec we did not agree on): ignored
        frame = AudioFrame(DECODE[neg.encoding](packet.payload).tobytes(), RATE)
        self.on_audio(frame, seq, packet.ts, packet.marker)


async def open_rtp(host: str, port_min: int, port_max: int, session: RtpSession,
                   start: int | None = None) -> RtpSession:
    """Bind `session` to a free even port in [port_min, port_max] (RFC 3550 section 11: RTP on even
    ports). Raises OSError when the range is exhausted."""
    loop = asyncio.get_running_loop()
    first = port_min + (port_min % 2)
    ports = list(range(first, port_max + 1, 2))
    if not ports:
        raise OSError("empty RTP port range")
    offset = (start if start is not None else secrets.randbelow(len(ports))) % len(ports)
    for port in ports[offset:] + ports[:offset]:
        try:
            await loop.create_datagram_endpoint(lambda: session, local_addr=(host, port))
        except OSError:
            continue
        session.port = port
        return session
    raise OSError(f"no free RTP port in {port_min}-{port_max}")
