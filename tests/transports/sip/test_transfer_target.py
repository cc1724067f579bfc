"""A transfer that really happens: the caller says a sentence, hears the answer start, presses 0;
the bot announces the hand-over and REFERs the call, and the transferee (this test, playing the
PBX's side of the caller) dials the Refer-To URI as RFC 3261 section 19.1.5 says: the URI's
headers (the handoff: X-Branch7-Call, -Reason, -Faq, -Summary) become headers of its INVITE,
where a second SIP user agent (sipp as a UAS: branch 5's phone) answers, and fails the call
unless those headers arrived.

    test (PBX/caller)           bot (in-process, fake engines)          sipp UAS (branch 5)
      INVITE+SDP ----------------> 200, ACK; RTP both ways
      RTP: a sentence ----------->  caller_text, answer (the stand-in recogniser "hears" SAID)
      RFC 4733 event "0" ------->  bot_say human_transfer ... REFER
      202 <---------------------- REFER Refer-To: <sip:5@127.0.0.1:15470?X-Branch7-Call=...&...>
      NOTIFY 100 (active) ------>
      INVITE sip:5@...:15470 (Referred-By, X-Branch7-*) -----------------> 180, 200; ACK
      NOTIFY 200 (terminated) -->  BYE (RFC 5589: the transferor leaves)
      BYE --------------------------------------------------------------> 200; sipp exits 0

Ports (apart from test_sipp.py's, which may run at the same time): SIP 15460-15469 (the bot 15460,
the test 15461/15462, sipp's control port 15469), the transfer target 15470, RTP 26000-26099
(the bot 26000-26049, the test 26080/26082, sipp 26090).
"""
from __future__ import annotations

import asyncio
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.audio.g711 import ulaw_encode
from bot.call.handoff import summarise
from bot.call.session import call_config
from bot.gateway.host import CallHost
from bot.transports.sip import start_sip
from bot.transports.sip import message as sipmsg
from bot.transports.sip.message import SipMessage
from bot.transports.sip.rtp import RtpPacket, TelephoneEvent, parse_rtp
from tests.call.conftest import KB
from tests.fakes import ANSWER, fake_engines

SIPP = shutil.which("sipp")
SCENARIO = Path(__file__).parent / "scenarios" / "transfer_target.xml"
pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp is not installed (Debian/Ubuntu: apt install "
                                "sip-tester); it plays the transfer target, the second user agent")

BOT_SIP, PBX_SIP, PBX_TARGET_SIP, SIPP_CONTROL, TARGET_SIP = 15460, 15461, 15462, 15469, 15470
BOT_RTP_MIN, BOT_RTP_MAX, PBX_RTP, PBX_TARGET_RTP, TARGET_RTP = 26000, 26049, 26080, 26082, 26090
BOT_AOR = "sip:7@127.0.0.1"          # what the PBX dials; the bot's Referred-By (checked by the scenario)
CALLER = "sip:0912345678@127.0.0.1"
SILENCE = b"\xff" * 160               # 20 ms of PCMU silence
TONE = [ulaw_encode((8000 * np.sin(2 * np.pi * 300 * (np.arange(160) + 160 * i) / 8000)).astype(np.int16))
        for i in range(75)]             # 1.5 s the stand-in VAD takes for speech
# What the caller "says" (the stand-in recogniser's transcript): everything a URI header must escape.
SAID = "Chị tên Lan, số 0912 345 678: hộ nghèo & cận nghèo = được bao nhiêu? <gấp>"


class SipPort(asyncio.DatagramProtocol):
    """One UDP SIP socket of the test: client transactions (retransmitted at T1 until a final
    response) and the requests that arrive, in order; a retransmitted request gets our answer again."""

    def __init__(self, name: str, trace: list[str]) -> None:
        self.name, self.trace = name, trace
        self.requests: asyncio.Queue[tuple[SipMessage, tuple]] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[SipMessage]] = {}
        self._provisional: set[str] = set()
        self._answered: dict[tuple[str, str], bytes] = {}
        self.arrived: dict[str, float] = {}  # method -> loop time of its first arrival

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.trace.append(f"--- {self.name} <- {addr[1]}\n{data.decode(errors='replace')}")
        msg = sipmsg.parse(data)
        if msg.is_request:
            again = self._answered.get((msg.branch, msg.method))
            if again is not None:
                self.transport.sendto(again, addr)
                return
            self.arrived.setdefault(msg.method, asyncio.get_running_loop().time())
            self.requests.put_nowait((msg, addr))
            return
        future = self._pending.get(msg.branch)
        if future is None or future.done():
            return  # a retransmitted final response
        if msg.status >= 200:
            future.set_result(msg)
        else:
            self._provisional.add(msg.branch)

    def send(self, msg: SipMessage, addr: tuple) -> None:
        data = msg.to_bytes()
        self.trace.append(f"--- {self.name} -> {addr[1]}\n{data.decode(errors='replace')}")
        self.transport.sendto(data, addr)

    def answer(self, req: SipMessage, addr: tuple, status: int, extra: list | None = None) -> None:
        resp = sipmsg.response(req, status, extra=extra)
        self._answered[(req.branch, req.method)] = resp.to_bytes()
        self.send(resp, addr)

    async def transact(self, msg: SipMessage, addr: tuple, timeout_s: float = 8.0) -> SipMessage:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SipMessage] = loop.create_future()
        self._pending[msg.branch] = future
        deadline, interval = loop.time() + timeout_s, 0.5
        self.send(msg, addr)
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(future), interval)
            except TimeoutError:
                if loop.time() > deadline:
                    raise AssertionError(f"no final response to {msg.method} from port {addr[1]}") from None
            if msg.branch not in self._provisional:  # RFC 3261 17.1.1.2: an INVITE stops after a 1xx
                self.send(msg, addr)
            interval = min(2 * interval, 4.0)

    async def next_request(self, method: str, timeout_s: float) -> tuple[SipMessage, tuple]:
        try:
            msg, addr = await asyncio.wait_for(self.requests.get(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"{self.name}: no {method} within {timeout_s} s") from None
        assert msg.method == method, f"{self.name}: expected {method}, got {msg.method}"
        return msg, addr


class Leg:
    """A dialog the test starts as the UAC (RFC 3261 section 12.2.1.1 for its in-dialog requests)."""

    def __init__(self, port: SipPort, local_port: int, remote: tuple, uri: str, from_uri: str) -> None:
        self.port, self.local_port, self.remote = port, local_port, remote
        self.uri, self.target, self.from_uri = uri, uri, from_uri
        self.call_id = f"{sipmsg.new_tag()}@127.0.0.1"
        self.tag, self.remote_tag, self.cseq = sipmsg.new_tag(), "", 0

    def make(self, method: str, extra: list | None = None, body: str = "", cseq: int | None = None) -> SipMessage:
        if cseq is None:
            self.cseq += 1
        to = f"<{self.uri}>" + (f";tag={self.remote_tag}" if self.remote_tag else "")
        headers = [("Via", f"SIP/2.0/UDP 127.0.0.1:{self.local_port};branch={sipmsg.new_branch()}"),
                   ("Max-Forwards", "70"), ("From", f"<{self.from_uri}>;tag={self.tag}"), ("To", to),
                   ("Call-ID", self.call_id), ("CSeq", f"{cseq or self.cseq} {method}"),
                   ("Contact", f"<sip:pbx@127.0.0.1:{self.local_port}>")] + (extra or [])
        return sipmsg.request(method, self.target, headers, body.encode())

    async def invite(self, rtp_port: int, extra: list | None = None, timeout_s: float = 8.0) -> SipMessage:
        invite = self.make("INVITE", [("Content-Type", "application/sdp")] + (extra or []), sdp(rtp_port))
        ok = await self.port.transact(invite, self.remote, timeout_s)
        assert ok.status == 200, f"INVITE to {self.uri}: {ok.status} {ok.reason}"
        self.remote_tag = sipmsg.params(ok.get("to"))["tag"]
        self.target = sipmsg.addr_uri(ok.get("contact")) or self.uri
        self.port.send(self.make("ACK", cseq=invite.cseq[0]), self.remote)  # 2xx ACK: a new transaction
        return ok

    async def request(self, method: str, extra: list | None = None, body: str = "") -> SipMessage:
        return await self.port.transact(self.make(method, extra, body), self.remote)


def sdp(rtp_port: int) -> str:
    return (f"v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            f"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n")


class Media(asyncio.DatagramProtocol):
    """The caller's RTP: PCMU silence every 20 ms, a sentence (TONE) when asked to speak, the keypad
    as RFC 4733 events; counts the bot's voice."""

    def __init__(self) -> None:
        self.voiced: list[float] = []  # loop time of each voiced packet from the bot
        self.received = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        packet = parse_rtp(data)
        self.received += 1
        if packet.pt == 0 and packet.payload != SILENCE:
            self.voiced.append(asyncio.get_running_loop().time())

    async def talk(self, remote: tuple, press: asyncio.Event, pressed: asyncio.Event,
                   speak: asyncio.Event | None = None) -> None:
        seq, ts, ssrc = 1000, 0, 0x7E57CA11
        spoken = 0
        while True:
            if speak is not None and speak.is_set() and spoken < len(TONE):
                self.transport.sendto(RtpPacket(0, seq, ts, ssrc, TONE[spoken]).to_bytes(), remote)
                spoken += 1
                seq, ts = seq + 1, ts + 160
                await asyncio.sleep(0.02)
                continue
            if press.is_set() and not pressed.is_set():
                # Digit 0 for 60 ms: three updates, then the end packet three times (RFC 4733 2.5.1.4).
                for i, end in enumerate([False, False, False, True, True, True]):
                    event = TelephoneEvent(0, end, 10, 160 * min(i + 1, 3))
                    self.transport.sendto(RtpPacket(101, seq, ts, ssrc, event.to_bytes(), marker=i == 0).to_bytes(),
                                          remote)
                    seq += 1
                    if i < 3:
                        await asyncio.sleep(0.02)
                ts += 480
                pressed.set()
                continue
            self.transport.sendto(RtpPacket(0, seq, ts, ssrc, SILENCE, marker=seq == 1000).to_bytes(), remote)
            seq, ts = seq + 1, ts + 160
            await asyncio.sleep(0.02)


async def start_target(tmp_path: Path, ring_ms: int = 0) -> asyncio.subprocess.Process:
    """sipp as the transfer target: one call (-m 1), then it exits, 0 only if that call succeeded.
    It rings `ring_ms` before answering."""
    args = [SIPP, "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(TARGET_SIP), "-mp", str(TARGET_RTP),
            "-d", str(ring_ms),
            "-cp", str(SIPP_CONTROL), "-m", "1", "-timeout", "45s", "-timeout_error", "-nostdin",
            "-trace_msg", "-message_file", str(tmp_path / "target_messages.log"),
            "-trace_err", "-error_file", str(tmp_path / "target_errors.log"),
            "-trace_stat", "-stf", str(tmp_path / "target_stats.csv")]
    return await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE, cwd=tmp_path)


def sipp_totals(stats: Path) -> dict[str, str]:
    rows = list(csv.reader(stats.open(), delimiter=";"))
    return dict(zip(rows[0], rows[-1]))


@pytest.mark.parametrize("ring_ms", [0, 10_000], ids=["answers_at_once", "rings_10_s"])
async def test_the_transferee_dials_the_refer_to_uri_and_the_target_answers(settings, tmp_path, ring_ms):
    """Also when branch 5's phone rings longer than the bot's first wait for the transfer (8 s):
    a provisional NOTIFY keeps the bot waiting, so it never tells a caller who is being put
    through to call again. Only keys and frames move: stand-in engines (tests/fakes.py)."""
    from tests.fakes import KeywordBrain, recogniser_factory

    fakes = fake_engines(tmp_path / "prompts", transcripts=[SAID])

    loop = asyncio.get_running_loop()
    s = settings.replace(sip={"host": "127.0.0.1", "port": BOT_SIP, "rtp_port_min": BOT_RTP_MIN,
                              "rtp_port_max": BOT_RTP_MAX, "allowed_peers": "127.0.0.0/8",
                              "transfer_uri": f"sip:{{branch}}@127.0.0.1:{TARGET_SIP}"},
                         privacy={"records_dir": str(tmp_path / "records")},
                         gateway={"media_timeout_s": 30.0})
    host = CallHost(s, fakes, KeywordBrain(), call_config(s), asr_factory=recogniser_factory(fakes))
    stamped: list[tuple[float, dict]] = []  # every event with the loop time it was emitted at
    host.listeners.append(lambda e: stamped.append((loop.time(), e)))
    trace: list[str] = []
    server = sipp = media = talking = None
    sockets: list = []
    try:
        sipp = await start_target(tmp_path, ring_ms)
        server = await start_sip(host, s)
        pbx_t, pbx = await loop.create_datagram_endpoint(lambda: SipPort("pbx", trace),
                                                         local_addr=("127.0.0.1", PBX_SIP))
        out_t, out = await loop.create_datagram_endpoint(lambda: SipPort("transferee", trace),
                                                         local_addr=("127.0.0.1", PBX_TARGET_SIP))
        rtp_t, media = await loop.create_datagram_endpoint(Media, local_addr=("127.0.0.1", PBX_RTP))
        sockets += [pbx_t, out_t, rtp_t]

        # The caller's leg to the bot; the bot's greeting starts, then the caller presses 0.
        caller = Leg(pbx, PBX_SIP, ("127.0.0.1", BOT_SIP), BOT_AOR, CALLER)
        ok = await caller.invite(PBX_RTP)
        bot_rtp = int(next(line.split()[1] for line in ok.body.decode().splitlines() if line.startswith("m=")))
        live = server.calls[caller.call_id].live
        press, pressed, speak = asyncio.Event(), asyncio.Event(), asyncio.Event()
        talking = loop.create_task(media.talk(("127.0.0.1", bot_rtp), press, pressed, speak))
        answered_at = loop.time()
        while not media.voiced:  # the greeting is being heard
            assert loop.time() - answered_at < 10, "no voice from the bot within 10 s"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        speak.set()  # the caller talks over the greeting; the answer starts, then the caller presses 0
        while not any(e["event"] == "answer" for _, e in stamped):
            assert loop.time() - answered_at < 20, "the caller's sentence was not answered within 20 s"
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.0)
        press.set()

        # The bot announces the hand-over, then REFERs the call to branch 5.
        refer, bot_addr = await pbx.next_request("REFER", 20)
        target_uri, handoff = sipmsg.uri_headers(sipmsg.addr_uri(refer.get("refer-to")))
        assert target_uri == f"sip:5@127.0.0.1:{TARGET_SIP}"
        assert handoff == [("X-Branch7-Call", live.call_id), ("X-Branch7-Reason", "keypad"),
                           ("X-Branch7-Faq", ANSWER.id), ("X-Branch7-Summary", summarise([SAID], 200))]
        referred_by = refer.get("referred-by")
        assert sipmsg.addr_uri(referred_by) == BOT_AOR
        pbx.answer(refer, bot_addr, 202, extra=[("Contact", f"<sip:pbx@127.0.0.1:{PBX_SIP}>")])
        notify_headers = [("Event", "refer"), ("Content-Type", "message/sipfrag;version=2.0")]
        trying = await caller.request("NOTIFY", [*notify_headers, ("Subscription-State", "active;expires=60")],
                                      "SIP/2.0 100 Trying\r\n")
        assert trying.status == 200

        # The transferee calls the Refer-To URI, its headers on the INVITE (RFC 3261 19.1.5): the
        # second user agent answers, having checked them.
        target_addr = sipmsg.uri_host_port(target_uri)
        assert sipp.returncode is None, "sipp (the transfer target) is not running"
        transferred = Leg(out, PBX_TARGET_SIP, target_addr, target_uri, CALLER)
        await transferred.invite(PBX_TARGET_RTP, extra=[("Referred-By", referred_by), *handoff],
                                 timeout_s=8 + ring_ms / 1000)

        # Success reported to the bot: it ends its leg (RFC 5589 section 6.1).
        done = await caller.request("NOTIFY", [*notify_headers, ("Subscription-State", "terminated;reason=noresource")],
                                    "SIP/2.0 200 OK\r\n")
        assert done.status == 200
        bye, bot_addr = await pbx.next_request("BYE", 10)
        pbx.answer(bye, bot_addr, 200)
        while live.summary is None:
            assert loop.time() - pbx.arrived["BYE"] < 10, "the bot's call did not end after its BYE"
            await asyncio.sleep(0.02)
        talking.cancel()

        # The transferred call ends later, between the caller and branch 5; sipp then exits.
        await asyncio.sleep(0.3)
        assert (await transferred.request("BYE")).status == 200
        await asyncio.wait_for(sipp.wait(), 10)
        assert sipp.returncode == 0
    except Exception as exc:  # noqa: BLE001 - every side's view of what happened, then fail
        pytest.fail(f"{type(exc).__name__}: {exc}\n{await report(sipp, tmp_path, trace, stamped)}")
    finally:
        if talking is not None:
            talking.cancel()
        if sipp is not None and sipp.returncode is None:
            sipp.kill()
            await sipp.wait()
        for transport in sockets:
            transport.close()
        if server is not None:
            await server.close()
        await host.aclose()

    totals = sipp_totals(tmp_path / "target_stats.csv")
    assert (totals["SuccessfulCall(C)"], totals["FailedCall(C)"]) == ("1", "0"), totals

    # The announcement was spoken, and heard in full, before the REFER; then the call was handed over.
    kinds = [e["event"] for e in live.events]
    announcement = KB.prompt("human_transfer", 5)
    said = [i for i, e in enumerate(live.events) if e["event"] == "bot_say" and e["text"] == announcement]
    assert [e["digits"] for e in live.events if e["event"] == "dtmf"] == ["0"]
    assert len(said) == 1 and said[0] < kinds.index("transfer"), kinds
    assert live.events[kinds.index("transfer")]["branch"] == 5
    assert "transfer_failed" not in kinds
    said_at, say = next((t, e) for t, e in stamped if e.get("text") == announcement)
    refer_at = pbx.arrived["REFER"]
    assert refer_at >= said_at + say["audio_ms"] / 1000 - 0.1, (refer_at - said_at, say["audio_ms"])
    heard = [t for t in media.voiced if said_at <= t < refer_at]
    assert len(heard) >= 0.8 * say["audio_ms"] / 20, (len(heard), say["audio_ms"])  # 20 ms a packet

    # The bot's account: transferred to branch 5, written to the call record.
    assert (live.summary.outcome, live.summary.branch) == ("transferred", 5)
    assert [e["outcome"] for _, e in stamped if e["event"] == "call_ended"] == ["transferred"]
    lines = [json.loads(line) for f in (tmp_path / "records").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert [(r["call_id"], r["summary"]["outcome"], r["summary"]["branch"]) for r in lines] == [
        (live.call_id, "transferred", 5)]
    assert "transfer" in [e["event"] for e in lines[0]["events"]]


async def report(sipp, tmp_path: Path, trace: list[str], stamped: list) -> str:
    stderr = b""
    if sipp is not None:
        if sipp.returncode is None:
            sipp.kill()
        stderr = await sipp.stderr.read()
        await sipp.wait()

    def tail(name: str) -> str:
        p = tmp_path / name
        return p.read_text(errors="replace")[-12000:] if p.exists() else "(none)"

    events = "\n".join(str({k: v for k, v in e.items() if k not in ("text", "recent")}) for _, e in stamped)
    return (f"sipp exit code {sipp.returncode if sipp else None}; stderr:\n{stderr.decode(errors='replace')}\n"
            f"--- sipp errors ---\n{tail('target_errors.log')}\n--- sipp messages ---\n{tail('target_messages.log')}\n"
            f"--- the test's SIP ---\n" + "\n".join(trace)[-12000:] + f"\n--- the bot's events ---\n{events}")
