# Over 400 lines: one standalone caller program (user agent, RTP pacing, analysis), run in its own process.
"""The callers of the SIP benchmark (bench/sip.py), in their own process: N simultaneous SIP calls
to a running `bot run`, each from a minimal user agent built on bot/transports/sip/ (message,
sdp, rtp), with its own RTP socket.

Each line: INVITE offering PCMU + telephone-event, ACK, then a 20 ms RTP packet every 20 ms: a
recording (8 kHz µ-law, as a phone line carries it) every `--cycle` seconds and silence between
(a typical caller speaks ~4 s and listens ~12 s; lines' turns are spread evenly over the cycle).
A REFER from the bot is accepted (202, NOTIFY 200) as a PBX would; when the bot ends a call the
line dials again at once, so N calls stay up. At the end every line sends BYE.

Measured on the caller's side of the wire, with the kernel's receive timestamp of every bot packet
(SO_TIMESTAMPNS, so this process's own scheduling does not count): lateness of each packet against
the call's ideal 20 ms grid, lost and out-of-order packets, and end of the caller's recording (its
last packet sent) -> first audible bot packet.

Prints `WINDOW_START` once the first N calls are up, `WINDOW_END` when the time is over, then
one line `RESULT <json>`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import socket
import struct
import time

import numpy as np

from bot.audio.g711 import ulaw_decode, ulaw_encode
from bot.call.timing import FRAME_MS, FRAME_S
from bot.transports.sip import message as sipmsg
from bot.transports.sip.message import SipMessage, SipParseError
from bot.transports.sip.rtp import RtpError, RtpPacket, parse_rtp
from bot.transports.sip.sdp import Media, Negotiated, SdpError, Session, build_sdp, parse_sdp

FRAME_NS = FRAME_MS * 1_000_000
SAMPLES = 160  # one 20 ms RTP packet at 8 kHz
SILENCE = b"\xff" * SAMPLES
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not export it
# µ-law codes within ±96 of zero (about -50 dBFS): what counts as the bot being silent.
QUIET = bytes(code for code in range(256) if abs(int(ulaw_decode(bytes([code]))[0])) <= 96)
LOCAL = "127.0.0.1"


def audible(payload: bytes) -> bool:
    return bool(payload.translate(None, QUIET))


class Recording:
    """A recording as the caller's packets, and how many of them it takes to the end of speech."""

    def __init__(self, samples: np.ndarray) -> None:
        from bot.audio.frames import AudioFrame
        from bot.vad.silero_onnx import SileroOnnxVad
        from bot.vad.turns import TurnConfig

        n = samples.size // SAMPLES
        frames = [samples[i * SAMPLES:(i + 1) * SAMPLES] for i in range(n)]
        self.packets = [ulaw_encode(f) for f in frames]
        # The last speech frame by the gateway's own detector and thresholds (bot/vad/turns.py):
        # its packet ends the caller's turn; the recording's trailing silence is not speech.
        vad, config = SileroOnnxVad(), TurnConfig()
        last, started = n - 1, False
        for i, f in enumerate(frames):
            p = vad.is_speech(AudioFrame.from_samples(ulaw_decode(self.packets[i]), 8000))
            started = started or p >= config.threshold
            if started and p >= config.release:
                last = i
        self.voiced = last + 1


class Ports:
    def __init__(self, low: int, high: int) -> None:
        self.free = list(range(low + low % 2, high, 2))

    def take(self) -> int:
        return self.free.pop(0)

    def give(self, port: int) -> None:
        self.free.append(port)


class UserAgent(asyncio.DatagramProtocol):
    """One SIP socket for every line; messages go to their call by Call-ID."""

    def __init__(self, remote: tuple[str, int]) -> None:
        self.remote = remote
        self.calls: dict[str, Call] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def send(self, msg: SipMessage) -> None:
        if self.transport is not None:
            self.transport.sendto(msg.to_bytes(), self.remote)

    def via(self) -> str:
        return f"SIP/2.0/UDP {LOCAL}:{self.port};branch={sipmsg.new_branch()};rport"

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            msg = sipmsg.parse(data, 65535)
        except SipParseError:
            return
        call = self.calls.get(msg.call_id)
        if call is None:
            if msg.is_request and msg.method != "ACK":
                self.send(sipmsg.response(msg, 481))
            return
        if msg.is_request:
            call.on_request(msg)
        else:
            call.on_response(msg)


class Call:
    """One dialog and its RTP stream, on behalf of a `Line`."""

    def __init__(self, ua: UserAgent, line: Line, rtp_port: int) -> None:
        self.ua, self.line, self.rtp_port = ua, line, rtp_port
        self.call_id = f"bench-{secrets.token_hex(8)}@{LOCAL}"
        self.local_uri = f"sip:caller{line.index}@{LOCAL}"
        self.local_tag = sipmsg.new_tag()
        self.remote_tag = ""
        self.remote_target = f"sip:7@{ua.remote[0]}:{ua.remote[1]}"
        self.cseq = 1
        loop = asyncio.get_running_loop()
        self.answer: asyncio.Future[int] = loop.create_future()
        self.ended = asyncio.Event()
        self.ended_by = ""
        self.placed_ns = 0  # when the call was answered (time.time_ns)
        self.referred = False
        self._tx: dict[str, asyncio.Future[SipMessage]] = {}
        self.bot_rtp: tuple[str, int] | None = None
        self.sock: socket.socket | None = None
        # what arrived: kernel receive time (ns, realtime), sequence number, audible
        self.arrivals: list[int] = []
        self.seqs: list[int] = []
        self.loud: list[bool] = []
        self.turns: list[tuple[int, int]] = []   # (first packet sent, last packet sent), ns realtime
        self.send_late_ms: list[float] = []

    # ----- signalling ----------------------------------------------------------------------------
    def _headers(self, method: str, cseq: int, via: str | None = None) -> list[tuple[str, str]]:
        to = f"<sip:7@{self.ua.remote[0]}>" + (f";tag={self.remote_tag}" if self.remote_tag else "")
        return [("Via", via or self.ua.via()), ("Max-Forwards", "70"),
                ("From", f"<{self.local_uri}>;tag={self.local_tag}"), ("To", to),
                ("Call-ID", self.call_id), ("CSeq", f"{cseq} {method}")]

    def _offer(self) -> bytes:
        # Our offer: one stream, PCMU and telephone-event (build_sdp writes the one audio m= line).
        me = Negotiated(0, "PCMU", 101, (LOCAL, self.rtp_port), "sendrecv")
        return build_sdp(LOCAL, self.rtp_port, secrets.randbelow(2**31), 1, negotiated=me,
                         offer=Session(media=[Media("audio", self.rtp_port, "RTP/AVP", ["0", "101"])]))

    async def place(self, timeout_s: float = 10.0) -> int:
        """INVITE; returns the final status (200: the call is up, RTP flowing)."""
        self.ua.calls[self.call_id] = self
        self._open_rtp()
        headers = self._headers("INVITE", self.cseq) + [
            ("Contact", f"<sip:caller{self.line.index}@{LOCAL}:{self.ua.port}>"),
            ("Content-Type", "application/sdp"), ("User-Agent", "branch7-bench")]
        self.invite = sipmsg.request("INVITE", f"sip:7@{self.ua.remote[0]}:{self.ua.remote[1]}", headers,
                                     self._offer())
        self.ua.send(self.invite)
        try:
            return await asyncio.wait_for(asyncio.shield(self.answer), timeout_s)
        except TimeoutError:
            return 408

    def on_response(self, msg: SipMessage) -> None:
        _, method = msg.cseq
        if method == "INVITE":
            if msg.status < 200:
                return
            if msg.status >= 300:  # ACK for a non-2xx final response: same branch (RFC 3261 17.1.1.3)
                tag = sipmsg.params(msg.get("to")).get("tag", "")
                ack = sipmsg.request("ACK", self.invite.uri, [
                    ("Via", self.invite.get("via")), ("Max-Forwards", "70"), ("From", self.invite.get("from")),
                    ("To", self.invite.get("to") + (f";tag={tag}" if tag else "")), ("Call-ID", self.call_id),
                    ("CSeq", f"{self.cseq} ACK")])
                self.ua.send(ack)
                if not self.answer.done():
                    self.answer.set_result(msg.status)
                return
            self.remote_tag = sipmsg.params(msg.get("to")).get("tag", "")
            self.remote_target = sipmsg.addr_uri(msg.get("contact")) or self.remote_target
            self.ua.send(sipmsg.request("ACK", self.remote_target, self._headers("ACK", self.cseq)))
            if not self.answer.done():
                try:
                    sdp = parse_sdp(msg.body)
                    media = next(m for m in sdp.media if m.kind == "audio" and m.port)
                    self.bot_rtp = (media.address or sdp.address, media.port)
                    self.answer.set_result(200)
                except (SdpError, StopIteration):
                    self.answer.set_result(606)
            return
        future = self._tx.get(msg.branch)
        if future is not None and not future.done() and msg.status >= 200:
            future.set_result(msg)

    def on_request(self, msg: SipMessage) -> None:
        if msg.method == "ACK":
            return
        if msg.method == "BYE":
            self.ua.send(sipmsg.response(msg, 200))
            self.ended_by = self.ended_by or "bot"
            self.ended.set()
        elif msg.method == "REFER":  # a PBX takes the transfer: 202, then NOTIFY that it succeeded
            self.referred = True
            self.ua.send(sipmsg.response(msg, 202))
            asyncio.get_running_loop().create_task(self._request(
                "NOTIFY", [("Event", "refer"), ("Subscription-State", "terminated;reason=noresource"),
                           ("Content-Type", "message/sipfrag")], b"SIP/2.0 200 OK\r\n"))
        else:
            self.ua.send(sipmsg.response(msg, 200))

    async def _request(self, method: str, extra: list[tuple[str, str]], body: bytes = b"",
                       timeout_s: float = 4.0) -> SipMessage | None:
        self.cseq += 1
        req = sipmsg.request(method, self.remote_target, self._headers(method, self.cseq) + extra, body)
        future: asyncio.Future[SipMessage] = asyncio.get_running_loop().create_future()
        self._tx[req.branch] = future
        self.ua.send(req)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._tx.pop(req.branch, None)

    async def hang_up(self) -> None:
        if not self.ended.is_set():
            self.ended_by = "caller"
            self.ended.set()
            await self._request("BYE", [])

    def close(self) -> None:
        self.ua.calls.pop(self.call_id, None)
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    # ----- media ---------------------------------------------------------------------------------
    def _open_rtp(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        sock.bind((LOCAL, self.rtp_port))
        self.sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_rtp)

    def _on_rtp(self) -> None:
        sock = self.sock
        while sock is not None:
            try:
                data, anc, _, _ = sock.recvmsg(2048, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            stamp = 0
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = struct.unpack("qq", cdata[:16])
                    stamp = sec * 1_000_000_000 + nsec
            try:
                packet = parse_rtp(data)
            except RtpError:
                continue
            self.arrivals.append(stamp or time.time_ns())
            self.seqs.append(packet.seq)
            self.loud.append(audible(packet.payload))

    async def stream(self) -> None:
        """A packet every 20 ms until the call ends: the line's speech when it is due, else silence."""
        loop = asyncio.get_running_loop()
        line = self.line
        seq, ts, ssrc = secrets.randbits(16), secrets.randbits(32), secrets.randbits(32)
        speech: list[bytes] = []
        voiced_left = started = 0
        slot = loop.time()
        first = True
        while not self.ended.is_set() and self.sock is not None and self.bot_rtp is not None:
            now = loop.time()
            if not speech:
                while now >= line.next_turn:  # turns missed while dialling are skipped
                    if now - line.next_turn < 0.5:
                        recording = line.next_recording()
                        speech, voiced_left = list(recording.packets), recording.voiced
                        started = time.time_ns()
                    line.next_turn += line.cycle_s
            payload = speech.pop(0) if speech else SILENCE
            packet = RtpPacket(0, seq, ts, ssrc, payload, marker=first)
            try:
                self.sock.sendto(packet.to_bytes(), self.bot_rtp)
            except OSError:
                pass
            if voiced_left > 0:
                voiced_left -= 1
                if voiced_left == 0:  # the last packet with speech in it has left
                    self.turns.append((started, time.time_ns()))
            first = False
            seq, ts = (seq + 1) & 0xFFFF, (ts + SAMPLES) & 0xFFFFFFFF
            self.send_late_ms.append(max(0.0, (now - slot) * 1000))
            slot += FRAME_S
            delay = slot - loop.time()
            if delay < -0.2:
                slot = loop.time()
            await asyncio.sleep(max(0.0, delay))


class Line:
    """One caller's line: calls again whenever a call ends, until the time is over."""

    def __init__(self, index: int, recordings: list[Recording], first_turn: float, cycle_s: float) -> None:
        self.index = index
        self.recordings = recordings
        self.next_turn = first_turn
        self.cycle_s = cycle_s
        self._k = index * 7
        self.calls: list[Call] = []
        self.failures: list[int] = []
        self.silent_s = 0.0  # > 0: hang up a call whose bot sent nothing this long (--hang-up-silent)
        self.dead = 0

    async def _dead_line(self, call: Call) -> None:
        """A caller who hears nothing at all (no RTP) for `silent_s` hangs up and dials again."""
        if self.silent_s <= 0:
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(0.5)
            last = call.arrivals[-1] if call.arrivals else call.placed_ns
            if time.time_ns() - last > self.silent_s * 1e9 and not call.ended.is_set():
                call.ended_by = "dead_line"
                call.ended.set()
                return

    def next_recording(self) -> Recording:
        self._k += 1
        return self.recordings[self._k % len(self.recordings)]

    async def run(self, ua: UserAgent, ports: Ports, delay_s: float, stop: asyncio.Event,
                  up: asyncio.Event) -> None:
        await asyncio.sleep(delay_s)
        while not stop.is_set():
            port = ports.take()
            call = Call(ua, self, port)
            try:
                try:
                    status = await call.place()
                except OSError:  # our RTP port is taken: another one
                    status = 0
                if status != 200:
                    self.failures.append(status)
                    call.close()
                    await asyncio.sleep(1.0)
                    continue
                self.calls.append(call)
                call.placed_ns = time.time_ns()
                up.set()
                streaming = asyncio.get_running_loop().create_task(call.stream())
                stopping = asyncio.get_running_loop().create_task(stop.wait())
                watching = asyncio.get_running_loop().create_task(self._dead_line(call))
                await asyncio.wait([stopping, watching, asyncio.ensure_future(call.ended.wait())],
                                   return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                watching.cancel()
                if call.ended_by == "dead_line":
                    self.dead += 1
                    asyncio.get_running_loop().create_task(call._request("BYE", []))  # likely unanswered
                if stop.is_set():
                    await call.hang_up()
                call.ended.set()
                await streaming
                await asyncio.sleep(0.3)  # the bot's last packets in flight
            finally:
                call.close()
                ports.give(port)


# ----- analysis ------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def analyse(calls: list[Call], talking_guard_ms: float = 300.0) -> dict:
    lateness: list[float] = []
    lost = out_of_order = 0
    replies: list[float] = []
    turns = skipped = unanswered = 0
    for call in calls:
        if not call.arrivals:
            continue
        # Sequence numbers as a growing integer, in arrival order.
        ext, prev, top = [], None, None
        for seq in call.seqs:
            x = seq if prev is None else ext[-1] + ((seq - prev + 0x8000) & 0xFFFF) - 0x8000
            if top is not None and x < top:
                out_of_order += 1
            top = x if top is None else max(top, x)
            ext.append(x)
            prev = seq
        lost += (max(ext) - min(ext) + 1) - len(set(ext))
        # Lateness on the call's ideal grid: the packet that arrived earliest for its slot sets it.
        offsets = [t - (x - ext[0]) * FRAME_NS for t, x in zip(call.arrivals, ext)]
        base = min(offsets)
        lateness += [(o - base) / 1e6 for o in offsets]
        # End of each turn -> first audible bot packet, before the caller's next turn.
        arrivals, loud = call.arrivals, call.loud
        starts = [s for s, _ in call.turns]
        for k, (_, end) in enumerate(call.turns):
            turns += 1
            limit = starts[k + 1] if k + 1 < len(starts) else arrivals[-1] + 1
            i = np.searchsorted(arrivals, end - int(talking_guard_ms * 1e6))
            j = np.searchsorted(arrivals, end)
            if any(loud[i:j]):  # the bot was talking when the caller stopped: no reply to time
                skipped += 1
                continue
            reply = next((arrivals[m] for m in range(j, len(arrivals)) if arrivals[m] >= limit or loud[m]), None)
            if reply is None or reply >= limit:
                unanswered += 1
                continue
            replies.append((reply - end) / 1e6)
    return {"packets": len(lateness), "lost": lost, "out_of_order": out_of_order,
            "late_20ms": sum(x > 20 for x in lateness), "late_5ms": sum(x > 5 for x in lateness),
            "lateness_p50_ms": round(percentile(lateness, 50), 2), "lateness_p99_ms": round(percentile(lateness, 99), 2),
            "lateness_max_ms": round(max(lateness, default=0.0), 2),
            "turns": turns, "turns_bot_talking": skipped, "turns_unanswered": unanswered,
            "replies_ms": [round(x) for x in replies]}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, required=True)
    p.add_argument("--seconds", type=float, default=40.0)
    p.add_argument("--cycle", type=float, default=16.0, help="seconds from one turn to the next")
    p.add_argument("--host", default=LOCAL)
    p.add_argument("--port", type=int, default=15260)
    p.add_argument("--local-port", type=int, default=15261)
    p.add_argument("--rtp-min", type=int, default=26000)
    p.add_argument("--rtp-max", type=int, default=26999)
    p.add_argument("--hang-up-silent", type=float, default=0.0,
                   help="hang up (and dial again) a call whose bot sent no RTP for this many seconds; 0: never")
    p.add_argument("files", nargs="+")
    args = p.parse_args()

    from bot.call.virtual_clock import caller_audio

    recordings = [Recording(caller_audio(f, 8000)) for f in args.files]
    loop = asyncio.get_running_loop()
    _, ua = await loop.create_datagram_endpoint(lambda: UserAgent((args.host, args.port)),
                                                local_addr=(LOCAL, args.local_port))
    ports = Ports(args.rtp_min, args.rtp_max)
    t0 = loop.time()
    stop = asyncio.Event()
    n = args.calls
    # Calls are dialled 20 ms apart; their turns are spread evenly over one cycle.
    lines = [Line(i, recordings, t0 + (i * 0.618034) % 1 * args.cycle, args.cycle) for i in range(n)]
    for line in lines:
        line.silent_s = args.hang_up_silent
    ups = [asyncio.Event() for _ in lines]
    tasks = [loop.create_task(line.run(ua, ports, i * 0.02, stop, ups[i])) for i, line in enumerate(lines)]
    try:
        await asyncio.wait_for(asyncio.gather(*(u.wait() for u in ups)), 20 + 0.02 * n)
    except TimeoutError:
        pass
    print("WINDOW_START", flush=True)
    cpu0, w0 = time.process_time(), loop.time()
    await asyncio.sleep(args.seconds)
    cpu_s, wall_s = time.process_time() - cpu0, loop.time() - w0
    print("WINDOW_END", flush=True)
    stop_ns = time.time_ns()
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    calls = [c for line in lines for c in line.calls]
    result = analyse(calls)
    send_late = [x for c in calls for x in c.send_late_ms]
    result.update({
        "calls": n, "seconds": round(wall_s, 1), "dialled": len(calls) + sum(len(x.failures) for x in lines),
        "answered": len(calls), "failed": sorted(s for x in lines for s in x.failures),
        "ended_by_bot": sum(c.ended_by == "bot" for c in calls), "referred": sum(c.referred for c in calls),
        # Up until the end, but the bot had sent nothing for 3 s: its gateway died under it (bench/faults.py).
        "dead_lines": sum(x.dead for x in lines),
        "silent_at_end": sum(c.ended_by == "caller" and (not c.arrivals or stop_ns - c.arrivals[-1] > 3e9)
                             for c in calls),
        "caller_cpu_pct": round(100 * cpu_s / wall_s, 1),
        "caller_send_late_p99_ms": round(percentile(send_late, 99), 1)})
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
