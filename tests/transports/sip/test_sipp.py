"""Real SIP clients: sipp (Debian `sip-tester`) calls the gateway's SIP endpoint in this process,
with a keyword brain: on stand-in engines (tests/fakes.py) where only keys move, on the real ones
for spoken questions. Each scenario is in scenarios/.

Ports: SIP 15060-15099, RTP 22000-22999 (the bot 22000-22499, sipp and the test above); the
handoff test: SIP 15700-15701, sipp's media 15740-15743, its control port 15799.
"""
from __future__ import annotations

import asyncio
import re
import shutil
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from bot.audio.g711 import ulaw_encode
from bot.call.handoff import summarise
from bot.call.session import call_config
from bot.gateway.host import CallHost
from bot.transports.sip import message as sipmsg
from bot.transports.sip import start_sip
from bot.transports.sip.rtp import RtpPacket, parse_rtp
from tests.conftest import needs_speech
from tests.fakes import ANSWER, KeywordBrain, fake_engines, recogniser_factory

SIPP = shutil.which("sipp")
SCENARIOS = Path(__file__).parent / "scenarios"
pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp is not installed (Debian/Ubuntu: apt install sip-tester)")


@asynccontextmanager
async def gateway(engines, settings, tmp_path: Path, port: int, ring_s: float = 0.0,
                  **gateway_settings) -> AsyncIterator[tuple[CallHost, object, list[dict]]]:
    s = settings.replace(sip={"host": "127.0.0.1", "port": port, "rtp_port_min": 22000, "rtp_port_max": 22499,
                              "allowed_peers": "127.0.0.0/8"},
                         privacy={"records_dir": str(tmp_path / "records")},
                         gateway={"media_timeout_s": 30.0, **gateway_settings})
    host = CallHost(s, engines, KeywordBrain(), call_config(s), asr_factory=recogniser_factory(engines))
    events: list[dict] = []
    host.listeners.append(events.append)
    server = await start_sip(host, s, ring_s=ring_s)
    try:
        yield host, server, events
    finally:
        await server.close()
        await host.aclose()


def diagnose(server, events: list[dict]) -> str:
    """The gateway's side, for a failure message: each call's RTP counters and events."""
    calls = list(server.calls.values()) + [c for c, _ in server._ended.values()]
    rtp = [f"{c.call_id}: state={c.state} rtp port={c.rtp.port} in={c.rtp.received} dropped={c.rtp.dropped} "
           f"out={c.rtp.sent}" for c in calls]
    return "\n".join(rtp + [str({k: v for k, v in e.items() if k != "text"}) for e in events])


async def run_sipp(scenario: Path, port: int, local_port: int, media_port: int, tmp_path: Path, calls: int = 1,
                   timeout_s: int = 60, gateway: tuple | None = None, extra: tuple[str, ...] = ()) -> Path:
    """Run sipp to completion; fail with its errors and message trace unless every call succeeded.
    Returns its message trace (every message sent and received)."""
    errors, messages = tmp_path / f"{scenario.stem}_errors.log", tmp_path / f"{scenario.stem}_messages.log"
    args = [SIPP, f"127.0.0.1:{port}", "-sf", str(scenario), "-m", str(calls), "-l", str(calls), "-r", str(calls),
            "-i", "127.0.0.1", "-p", str(local_port), "-mp", str(media_port), "-timeout", f"{timeout_s}s",
            "-timeout_error", "-nostdin", "-trace_err", "-error_file", str(errors), "-trace_msg",
            "-message_file", str(messages), *extra]
    proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE, cwd=tmp_path)
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout_s + 15)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        stderr = b"(sipp killed: no end in time)"
    if proc.returncode != 0:
        def tail(p: Path) -> str:
            return p.read_text(errors="replace")[-12000:] if p.exists() else "(none)"
        pytest.fail(f"sipp {scenario.name} exited {proc.returncode}\nstderr: {stderr.decode(errors='replace')}\n"
                    f"--- errors ---\n{tail(errors)}\n--- messages ---\n{tail(messages)}\n--- gateway ---\n"
                    f"{diagnose(gateway[1], gateway[2]) if gateway else ''}")
    return messages


async def wait_until(predicate, timeout_s: float = 15.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.05)


def of(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["event"] == kind]


def ended(events: list[dict]) -> list[dict]:
    return of(events, "call_ended")


# ----- the scenarios -----------------------------------------------------------------------------

async def test_options_is_answered(fakes, settings, tmp_path):
    async with gateway(fakes, settings, tmp_path, 15060) as (host, server, events):
        await run_sipp(SCENARIOS / "options.xml", 15060, 15080, 22600, tmp_path, timeout_s=10,
                       gateway=(host, server, events))
    assert host.stats.calls_started == 0


async def test_cancel_while_ringing_gets_487_and_opens_no_call(fakes, settings, tmp_path):
    async with gateway(fakes, settings, tmp_path, 15061, ring_s=3.0) as (host, server, events):
        await run_sipp(SCENARIOS / "cancel.xml", 15061, 15081, 22610, tmp_path, timeout_s=10,
                       gateway=(host, server, events))
        assert server.calls == {}
    assert host.stats.calls_started == 0 and events == []


async def test_keypad_zero_is_handed_over_by_refer_then_the_bot_hangs_up(fakes, settings, tmp_path):
    async with gateway(fakes, settings, tmp_path, 15062) as (host, server, events):
        await run_sipp(SCENARIOS / "keypad0_refer.xml", 15062, 15082, 22620, tmp_path, timeout_s=60,
                       gateway=(host, server, events))
        await wait_until(lambda: ended(events), what="the call's end")
    assert [e["digits"] for e in of(events, "dtmf")] == ["0"]  # one digit for the event's 3 end packets
    assert [(e["branch"], e["reason"]) for e in of(events, "transfer")] == [(5, "keypad")]
    assert of(events, "transfer_failed") == []
    assert ended(events)[0]["outcome"] == "transferred"


async def test_a_refused_refer_is_explained_and_the_bot_hangs_up(fakes, settings, tmp_path):
    async with gateway(fakes, settings, tmp_path, 15063) as (host, server, events):
        await run_sipp(SCENARIOS / "refer_refused.xml", 15063, 15083, 22630, tmp_path, timeout_s=90,
                       gateway=(host, server, events))
        await wait_until(lambda: ended(events), what="the call's end")
    assert [e["why"] for e in of(events, "transfer_failed")] == ["refused:603"]
    transfer_t = of(events, "transfer_failed")[0]["t"]
    told = [e for e in of(events, "bot_say") if e["t"] >= transfer_t]
    assert told and any("không hai bốn một không hai hai" in e["text"] for e in told)  # the number to dial
    assert of(events, "hangup")[-1]["by"] == "bot"


async def test_ten_simultaneous_callers_press_zero_and_all_are_referred(fakes, settings, tmp_path):
    async with gateway(fakes, settings, tmp_path, 15064) as (host, server, events):
        await run_sipp(SCENARIOS / "keypad0_refer.xml", 15064, 15084, 22640, tmp_path, calls=10, timeout_s=90,
                       gateway=(host, server, events))
        await wait_until(lambda: len(ended(events)) == 10, what="ten calls ended")
    assert host.stats.calls_started == 10
    assert len({e["call_id"] for e in of(events, "transfer")}) == 10
    assert all(e["outcome"] == "transferred" for e in ended(events))


# A caller's sentence with everything a URI header value must escape: Vietnamese (UTF-8), spaces,
# "&", "=", "?", ">", and a phone number the summary must mask.
SAID = "Chị tên Lan, số 0912 345 678: hộ nghèo & cận nghèo = được bao nhiêu? <gấp>"


async def test_a_caller_who_spoke_then_pressed_zero_is_referred_with_the_context(settings, tmp_path):
    """The REFER's Refer-To carries X-Branch7-Call, -Reason, -Faq and -Summary (sipp checks they
    are there; the test reads them back from sipp's trace and unescapes them). Stand-in engines:
    a loud tone is speech, heard as SAID."""
    engines = fake_engines(tmp_path / "prompts", transcripts=[SAID])
    rate = 8000
    tone = (8000 * np.sin(2 * np.pi * 300 * np.arange(int(1.5 * rate)) / rate)).astype(np.int16)
    pcap = tmp_path / "sentence.pcap"
    write_rtp_pcap(pcap, np.concatenate([tone, np.zeros(rate // 2, np.int16)]))
    scenario = tmp_path / "keypad0_handoff.xml"
    scenario.write_text((SCENARIOS / "keypad0_handoff.xml").read_text().replace("@PCAP@", str(pcap))
                        .replace("@LISTEN_MS@", "4000"))
    async with gateway(engines, settings, tmp_path, 15700) as (host, server, events):
        trace = await run_sipp(scenario, 15700, 15701, 15740, tmp_path, timeout_s=60, gateway=(host, server, events),
                               extra=("-cp", "15799"))
        await wait_until(lambda: ended(events), what="the call's end")
    assert [e["text"] for e in of(events, "caller_text")] == [SAID]
    assert [e["faq_id"] for e in of(events, "answer")] == [ANSWER.id]
    assert [(e["branch"], e["reason"]) for e in of(events, "transfer")] == [(5, "keypad")]
    assert ended(events)[0]["outcome"] == "transferred"

    # The REFER as sipp received it: Refer-To: <sip:5@127.0.0.1:5070?X-Branch7-Call=...&...>
    refer_to = re.search(r"(?m)^Refer-To:\s*(.+?)\s*$", trace.read_text(errors="replace")).group(1)
    target = sipmsg.addr_uri(refer_to)
    assert target.isascii() and " " not in target  # every byte that needs it %-escaped
    summary = summarise([SAID], settings.privacy.summary_chars)
    assert summary == "Chị tên Lan, số 091****678: hộ nghèo & cận nghèo = được bao nhiêu? <gấp>"
    assert sipmsg.uri_headers(target) == ("sip:5@127.0.0.1:5070", [
        ("X-Branch7-Call", ended(events)[0]["call_id"]), ("X-Branch7-Reason", "keypad"),
        ("X-Branch7-Faq", ANSWER.id), ("X-Branch7-Summary", summary)])


# ----- real speech over RTP ----------------------------------------------------------------------

def write_rtp_pcap(path: Path, samples: np.ndarray, src_port: int = 22700, dst_port: int = 9) -> None:
    """A pcap (Ethernet/IPv4/UDP/RTP) of 20 ms PCMU packets, as sipp's play_pcap_audio reads."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # linktype 1: Ethernet
    lo = socket.inet_aton("127.0.0.1")
    for i in range(samples.size // 160):
        payload = ulaw_encode(samples[i * 160:(i + 1) * 160])
        rtp = RtpPacket(0, 4000 + i, 160 * i, 0x5EED, payload, marker=(i == 0)).to_bytes()
        udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0, lo, lo)
        words = sum(struct.unpack("!10H", ip))
        while words >> 16:
            words = (words & 0xFFFF) + (words >> 16)
        ip = ip[:10] + struct.pack("!H", ~words & 0xFFFF) + ip[12:]
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        usec = i * 20_000
        out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


class RtpSink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: list[RtpPacket] = []

    def datagram_received(self, data: bytes, addr) -> None:
        self.packets.append(parse_rtp(data))


@needs_speech
async def test_a_spoken_question_over_rtp_is_heard_and_answered_aloud(engines, settings, tmp_path):
    from bot.call.virtual_clock import caller_audio
    from tests.call.conftest import speech

    voice = caller_audio(speech("vieneu/ly_female_north.wav"), 8000)  # read from ../shared, never copied
    pause = np.zeros(8000, np.int16)
    talk = np.concatenate([pause[:4000], voice, pause, pause])  # silence after it ends the caller's turn
    pcap = tmp_path / "question.pcap"
    write_rtp_pcap(pcap, talk)
    listen_ms = int(1000 * talk.size / 8000) + 5000
    scenario = tmp_path / "speech.xml"
    scenario.write_text((SCENARIOS / "speech.xml").read_text().replace("@PCAP@", str(pcap))
                        .replace("@RTP_SINK@", "22800").replace("@LISTEN_MS@", str(listen_ms)))
    loop = asyncio.get_running_loop()
    transport, sink = await loop.create_datagram_endpoint(RtpSink, local_addr=("127.0.0.1", 22800))
    try:
        async with gateway(engines, settings, tmp_path, 15065) as (host, server, events):
            await run_sipp(scenario, 15065, 15085, 22650, tmp_path, timeout_s=60, gateway=(host, server, events))
            await wait_until(lambda: ended(events), what="the call's end")
    finally:
        transport.close()
    heard = " ".join(e["text"] for e in of(events, "caller_text"))
    assert "áp dụng" in heard and "tương tự" in heard  # the recording's words, through RTP and µ-law
    assert [e["faq_id"] for e in of(events, "answer")] == [ANSWER.id]
    assert of(events, "hangup")[0]["by"] == "caller"
    assert ended(events)[0]["outcome"] == "answered"
    # The bot's voice came back as one continuous PCMU stream: sequence +1 and timestamp +160 per packet.
    pkts = sink.packets
    assert pkts and all(p.pt == 0 and len(p.payload) == 160 for p in pkts)
    assert all((b.seq - a.seq) % 65536 == 1 and (b.ts - a.ts) % 2**32 == 160 for a, b in zip(pkts, pkts[1:]))
    voiced = [p for p in pkts if p.payload != b"\xff" * 160]
    assert len(voiced) > 100  # > 2 s of the greeting and the answer
    assert len(pkts) >= 0.8 * 50 * listen_ms / 1000  # a packet every 20 ms for the whole call


def ends_with_speech(samples: np.ndarray, rate: int = 8000) -> np.ndarray:
    """The recording cut just after its last 20 ms of speech (no trailing silence at all)."""
    n = rate // 50
    rms = [float(np.sqrt(np.mean(samples[i:i + n].astype(float) ** 2))) for i in range(0, samples.size - n + 1, n)]
    loud = [i for i, r in enumerate(rms) if r > 0.05 * max(rms)]
    return samples[:(loud[-1] + 1) * n]


@needs_speech
async def test_a_caller_whose_rtp_stops_after_the_question_is_answered_before_hanging_up(engines, settings,
                                                                                         tmp_path):
    """Silence suppression (DTX): the phone sends the question, then no RTP at all while its caller
    listens. The call's playout feeds silence on the call's clock, so the turn ends by itself and
    the bot answers ~ the end pause after the last packet, long before the caller hangs up."""
    from bot.call.virtual_clock import caller_audio
    from tests.call.conftest import speech

    voice = ends_with_speech(caller_audio(speech("vieneu/ly_female_north.wav"), 8000))
    talk = np.concatenate([np.zeros(4000, np.int16), voice])  # the pcap's last packet is speech
    pcap = tmp_path / "question_dtx.pcap"
    write_rtp_pcap(pcap, talk)
    listen_ms = int(1000 * talk.size / 8000) + 6000  # then 6 s without a packet, then BYE
    scenario = tmp_path / "speech_dtx.xml"
    scenario.write_text((SCENARIOS / "speech.xml").read_text().replace("@PCAP@", str(pcap))
                        .replace("@RTP_SINK@", "22802").replace("@LISTEN_MS@", str(listen_ms)))
    loop = asyncio.get_running_loop()
    transport, sink = await loop.create_datagram_endpoint(RtpSink, local_addr=("127.0.0.1", 22802))
    try:
        async with gateway(engines, settings, tmp_path, 15066) as (host, server, events):
            at: dict[int, float] = {}
            host.listeners.append(lambda e: at.setdefault(len(at), loop.time()))  # when each event happened
            await run_sipp(scenario, 15066, 15086, 22660, tmp_path, timeout_s=60, gateway=(host, server, events))
            await wait_until(lambda: ended(events), what="the call's end")
            rtp = [c.rtp for c, _ in server._ended.values()] + [c.rtp for c in server.calls.values()]
    finally:
        transport.close()
    last_packet = max(r.last_received_at for r in rtp)
    answers = [i for i, e in enumerate(events) if e["event"] == "answer"]
    hangups = [i for i, e in enumerate(events) if e["event"] == "hangup"]
    assert answers, f"no answer: {[e['event'] for e in events]}"
    assert [events[i]["faq_id"] for i in answers] == [ANSWER.id]
    assert answers[0] < hangups[0] and events[hangups[0]]["by"] == "caller"  # answered, then the caller left
    heard = " ".join(e["text"] for e in of(events, "caller_text"))
    assert "áp dụng" in heard and "tương tự" in heard
    delay = at[answers[0]] - last_packet
    turn = at[max(i for i, e in enumerate(events) if e["event"] == "caller_text")] - last_packet
    print(f"\nturn ended {turn * 1000:.0f} ms, answer {delay * 1000:.0f} ms after the caller's last RTP packet")
    assert delay < 0.5 * listen_ms / 1000, "answered only near the hang-up: the turn did not end by the clock"
