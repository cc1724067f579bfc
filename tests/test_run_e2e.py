"""End to end: the whole line as `make run` starts it (`bot run`, see bot/cli_run.py), in its own
process with the real Rasa brain, engines and transports, driven only from outside:

  - it prints where SIP, AudioSocket, the web page and Rasa listen;
  - a sipp caller presses 0 (RFC 4733) and is REFERred to the configured human branch (5),
    accepts (202), reports success (NOTIFY sipfrag 200) and gets the bot's BYE;
  - a sipp caller asks a real recorded question over RTP (PCMU) and hears a spoken answer
    decided by the real Rasa;
  - the web page answers HTTP 200 and the AudioSocket port takes a call;
  - Ctrl-C (SIGINT) stops everything: exit 0, no port left open, one call record per call with
    the callers' numbers masked.

One process serves the whole module (Rasa's cold start is the slow part); the last test stops it.
Ports (apart from other tests and a developer's `make run`): SIP 15360, transfer target 15370,
sipp 15371-15372, AudioSocket 19360, web 18360, Rasa 5905 + actions 5955, bot RTP 25000-25099,
sipp media 25200-25219, the test's RTP sink 25300.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from bot.transports.sip.rtp import parse_rtp
from tests.conftest import ROOT, needs_speech
from tests.transports.sip.test_sipp import SCENARIOS, SIPP, RtpSink, run_sipp, write_rtp_pcap

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SIPP is None, reason="sipp is not installed (Debian/Ubuntu: apt install sip-tester)"),
    needs_speech,
]

SIP_PORT, TRANSFER_PORT, AUDIOSOCKET_PORT, WEB_PORT = 15360, 15370, 19360, 18360
RASA_PORT, ACTIONS_PORT = 5905, 5955
RTP_MIN, RTP_MAX = 25000, 25099
RTP_SINK = 25300
METRICS_PORT = 15898
START_TIMEOUT_S = 180.0   # Rasa's cold start is 20-60 s, more while a training hogs the CPU
STOP_TIMEOUT_S = 20.0
KEYPAD_CALLER, SPEECH_CALLER = "0912345678", "0987654321"  # the From numbers of the scenarios
MASKED = {KEYPAD_CALLER: "091****678", SPEECH_CALLER: "098****321"}
SILENT = b"\xff" * 160    # one 20 ms PCMU packet of digital silence
ENV = {
    "BOT_SIP_PORT": str(SIP_PORT),
    "BOT_AUDIOSOCKET_PORT": str(AUDIOSOCKET_PORT),
    "BOT_WEB_PORT": str(WEB_PORT),
    "BOT_RASA_PORT": str(RASA_PORT),
    "BOT_RASA_ACTIONS_PORT": str(ACTIONS_PORT),
    "BOT_SIP_RTP_PORT_MIN": str(RTP_MIN),
    "BOT_SIP_RTP_PORT_MAX": str(RTP_MAX),
    "BOT_SIP_TRANSFER_URI": f"sip:{{branch}}@127.0.0.1:{TRANSFER_PORT}",
    "BOT_METRICS_PORT": str(METRICS_PORT),
    "BOT_LOG_FORMAT": "json",
}


def _tail(path: Path, chars: int = 6000, start: int = 0) -> str:
    if not path.exists():
        return "(none)"
    with open(path, "rb") as f:
        f.seek(max(start, path.stat().st_size - chars))
        return f.read().decode(errors="replace")


def _is_recognition(pid: int) -> bool:
    try:
        return b"bot.gateway.recognition" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    """The direct children of `pid` (Rasa and the action server run in their own sessions)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _tcp_listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
        return True
    except OSError:
        return False


def _udp_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True


class Line:
    """The running `bot run` process, what it printed and what the tests did with it."""

    def __init__(self, proc: subprocess.Popen, out: Path, err: Path, work: Path, log_marks: dict[Path, int]):
        self.proc, self.out, self.err, self.work, self.log_marks = proc, out, err, work, log_marks
        self.records = work / "records"
        self.rasa_pids: list[int] = []
        self.recognition_pids: list[int] = []  # gateway.recognition = processes: the worker processes
        self.callers: list[str] = []        # From numbers of the SIP calls made
        self.audiosocket_calls: list[str] = []

    @property
    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def diagnostics(self) -> str:
        logs = "".join(f"\n--- {p.relative_to(ROOT)} (this run, tail) ---\n{_tail(p, start=mark)}"
                       for p, mark in self.log_marks.items())
        return (f"\n=== bot run (pid {self.proc.pid}, exit code {self.proc.poll()}) ===\n--- stdout ---\n"
                f"{_tail(self.out)}\n--- stderr (tail) ---\n{_tail(self.err)}{logs}")

    @contextmanager
    def explained(self):
        """A failure inside also shows the process's output and Rasa's log."""
        try:
            yield
        except (AssertionError, TimeoutError, OSError, pytest.fail.Exception) as exc:
            pytest.fail(f"{type(exc).__name__}: {exc}\n{self.diagnostics()}", pytrace=True)

    def read_records(self) -> list[dict]:
        return [json.loads(line) for f in sorted(self.records.glob("*.jsonl"))
                for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]

    def stop(self) -> None:
        """Teardown: whatever state it is in, nothing of it may outlive the module."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        for pid in self.rasa_pids:  # their own process groups; only if still ours (cmdline has our port)
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if str(RASA_PORT).encode() in cmdline or str(ACTIONS_PORT).encode() in cmdline:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    from bot.brain.servers import latest_model
    from bot.config import load_settings

    if latest_model(load_settings(ROOT / "settings.yml", environ={})) is None:
        pytest.fail("no trained model in models/: `make test` trains one first (make train)")
    taken = [p for p in (SIP_PORT, AUDIOSOCKET_PORT, WEB_PORT, RASA_PORT, ACTIONS_PORT) if _tcp_listening(p)]
    taken += [p for p in (SIP_PORT,) if _udp_bound(p)]
    if taken:  # a Rasa found answering on RASA_PORT would be reused instead of started: not this test
        pytest.fail(f"ports {taken} are already in use (another `bot run` of this test left behind?)")
    work = tmp_path_factory.mktemp("e2e")
    out, err = work / "stdout.txt", work / "stderr.txt"
    logs = [ROOT / f"var/log/rasa-{RASA_PORT}.log", ROOT / f"var/log/actions-{ACTIONS_PORT}.log"]
    marks = {p: (p.stat().st_size if p.exists() else 0) for p in logs}
    env = {**os.environ, **ENV, "BOT_PRIVACY_RECORDS_DIR": str(work / "records"),
           "BOT_RECORDS_SQLITE_PATH": str(work / "branch7.sqlite3"), "BOT_RECORDS_SPOOL_DIR": str(work / "spool")}
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([str(ROOT / ".venv/bin/bot"), "run"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=o, stderr=e, start_new_session=True)
    running = Line(proc, out, err, work, marks)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Branch 7 is answering" not in running.stdout:
            if proc.poll() is not None:
                pytest.fail(f"`bot run` exited ({proc.returncode}) before answering{running.diagnostics()}")
            if time.monotonic() > deadline:
                pytest.fail(f"`bot run` did not answer within {START_TIMEOUT_S:.0f} s{running.diagnostics()}")
            running.rasa_pids = _children(proc.pid)  # seen early, so even a hung start is cleaned up
            time.sleep(0.5)
        children = set(running.rasa_pids) | set(_children(proc.pid))
        running.recognition_pids = sorted(p for p in children if _is_recognition(p))
        running.rasa_pids = sorted(children - set(running.recognition_pids))
        yield running
    finally:
        running.stop()


# ----- the checks, in order: the last one stops the process ---------------------------------------

def test_bot_run_starts_everything_and_prints_the_addresses(line):
    with line.explained():
        out = line.stdout
        assert f"Rasa (brain):     http://127.0.0.1:{RASA_PORT}  actions on http://127.0.0.1:{ACTIONS_PORT}" in out
        assert (f"SIP:              sip:127.0.0.1:{SIP_PORT} (udp); "
                f"transfers to sip:{{branch}}@127.0.0.1:{TRANSFER_PORT}") in out
        assert f"AudioSocket:      127.0.0.1:{AUDIOSOCKET_PORT} (tcp)" in out
        assert f"Web page:         http://127.0.0.1:{WEB_PORT}" in out
        assert f"Metrics:          http://127.0.0.1:{METRICS_PORT}/metrics" in out
        assert f"Supervisors:      http://127.0.0.1:{WEB_PORT}/supervisor (the same logins)" in out
        assert "Calls:            up to 40, recognition in processes" in out
        assert out.rstrip().endswith("Ctrl-C stops.")
        assert len(line.rasa_pids) == 2, f"Rasa and the action server as children: {line.rasa_pids}"
        assert len(line.recognition_pids) == (os.cpu_count() or 1), "one recognition process per core"
        assert _tcp_listening(RASA_PORT) and _tcp_listening(ACTIONS_PORT)


async def test_the_web_page_answers_and_the_audiosocket_port_takes_a_call(line):
    import aiohttp

    from bot.transports.audiosocket import protocol

    with line.explained():
        page = re.search(r"Web page: +(http://\S+)", line.stdout).group(1)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            async with http.get(page + "/") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/html")
                assert "Tổng đài 1022" in await resp.text()
        host, port = re.search(r"AudioSocket: +([\d.]+):(\d+) \(tcp\)", line.stdout).groups()
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 10)
        call = uuid.uuid4()
        line.audiosocket_calls.append(str(call))
        try:
            writer.write(protocol.uuid_message(call))
            await writer.drain()
            parser, kinds = protocol.Parser(), []
            while protocol.Kind.AUDIO not in kinds:  # the greeting comes back as 20 ms frames
                data = await asyncio.wait_for(reader.read(4096), 20)
                assert data, f"the AudioSocket server closed the connection; it sent {kinds}"
                kinds += [m.kind for m in parser.feed(data)]
            writer.write(protocol.hangup())
            await writer.drain()
        finally:
            writer.close()


async def test_pressing_zero_is_referred_to_the_human_branch_and_the_bot_hangs_up(line):
    # keypad0_refer.xml checks Refer-To <sip:5@127.0.0.1:5070> (settings.yml); here: the overridden URI.
    xml = (SCENARIOS / "keypad0_refer.xml").read_text()
    assert r"127\.0\.0\.1:5070\?X-Branch7-Call=" in xml
    scenario = line.work / "keypad0_refer.xml"
    scenario.write_text(xml.replace(r"127\.0\.0\.1:5070\?", rf"127\.0\.0\.1:{TRANSFER_PORT}\?"))
    line.callers.append(KEYPAD_CALLER)
    with line.explained():
        await run_sipp(scenario, SIP_PORT, 15371, 25200, line.work, timeout_s=90)
        messages = (line.work / "keypad0_refer_messages.log").read_text(errors="replace")
        assert re.search(rf"Refer-To: *<sip:5@127\.0\.0\.1:{TRANSFER_PORT}\?X-Branch7-Call=[0-9a-f]+&X-Branch7-Reason=keypad>", messages)
        assert re.search(r"message/sipfrag[^\n]*\n(.*\n)*?SIP/2\.0 200 OK", messages)  # our NOTIFY
        assert re.search(r"^BYE sip:", messages, re.M), "the bot's BYE"


class TimedRtpSink(RtpSink):
    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[float] = []

    def datagram_received(self, data: bytes, addr) -> None:
        self.arrived.append(time.monotonic())
        self.packets.append(parse_rtp(data))


async def test_a_spoken_question_gets_a_spoken_answer_from_the_real_brain(line):
    from bot.call.virtual_clock import caller_audio
    from tests.call.conftest import speech

    voice = caller_audio(speech("vieneu/ly_female_north.wav"), 8000)  # read from ../shared, never copied
    lead, after = 0.5, 12.0  # the caller barges into the greeting; then listens for the answer
    talk = np.concatenate([np.zeros(int(lead * 8000), np.int16), voice, np.zeros(2 * 8000, np.int16)])
    pcap = line.work / "question.pcap"
    write_rtp_pcap(pcap, talk)
    speech_end_s = lead + voice.size / 8000
    listen_ms = int(1000 * (speech_end_s + after))
    scenario = line.work / "speech.xml"
    scenario.write_text((SCENARIOS / "speech.xml").read_text().replace("@PCAP@", str(pcap))
                        .replace("@RTP_SINK@", str(RTP_SINK)).replace("@LISTEN_MS@", str(listen_ms)))
    line.callers.append(SPEECH_CALLER)
    loop = asyncio.get_running_loop()
    transport, sink = await loop.create_datagram_endpoint(TimedRtpSink, local_addr=("127.0.0.1", RTP_SINK))
    with line.explained():
        try:
            await run_sipp(scenario, SIP_PORT, 15372, 25210, line.work, timeout_s=90)
        finally:
            transport.close()
        pkts = sink.packets
        assert pkts and all(p.pt == 0 and len(p.payload) == 160 for p in pkts), "PCMU, 20 ms packets"
        # The bot starts sending when it answers (200 OK), sipp plays the question after its ACK:
        # measured from the bot's first packet, the question ends no earlier than speech_end_s.
        t0 = sink.arrived[0]
        voiced = [t - t0 for t, p in zip(sink.arrived, pkts) if p.payload != SILENT]
        during = [t for t in voiced if lead + 1.5 < t < speech_end_s]
        reply = [t for t in voiced if t > speech_end_s + 0.3]
        assert not during, f"the greeting went on over the caller ({len(during)} voiced packets)"
        assert len(reply) >= 50, f"only {len(reply)} voiced packets (20 ms) after the question ended"

        # The call's record (written when sipp hung up): what was heard went to the real Rasa.
        deadline = time.monotonic() + 10
        while not [r for r in line.read_records() if r["caller"] == MASKED[SPEECH_CALLER]]:
            assert time.monotonic() < deadline, "no call record for the spoken call"
            await asyncio.sleep(0.1)
        record = [r for r in line.read_records() if r["caller"] == MASKED[SPEECH_CALLER]][0]
        events = record["events"]
        kinds = [e["event"] for e in events]
        assert "caller_text" in kinds and "nlu" in kinds, kinds
        nlu = events[kinds.index("nlu")]
        assert nlu["intent"], f"the brain did not decide (unavailable/timed out?): {nlu}"
        heard_t = events[kinds.index("caller_text")]["t"]
        spoken = [e for e in events if e["event"] == "bot_say" and e["t"] >= heard_t]
        assert spoken and spoken[0]["audio_ms"] >= 1000, spoken
        # The recording is not a hotline question ("we can apply the same logic to others"): the
        # brain may answer it or ask to rephrase (out of scope); either way the caller hung up on a
        # working call, with no transfer for a failure.
        assert record["summary"]["outcome"] in ("answered", "abandoned"), record["summary"]
        assert not [e for e in events if e["event"] == "transfer"], events


def test_ctrl_c_stops_everything_and_every_call_left_a_masked_record(line):
    with line.explained():
        line.proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        try:
            code = line.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`bot run` still running {STOP_TIMEOUT_S:.0f} s after SIGINT")
        took = time.monotonic() - t0
        assert code == 0, f"exit code {code} after SIGINT"
        assert "Stopping (" in line.stdout
        assert [p for p in line.rasa_pids if _alive(p)] == [], "Rasa or the action server outlived `bot run`"
        assert [p for p in line.recognition_pids if _alive(p)] == [], "a recognition process outlived `bot run`"
        listening = [p for p in (AUDIOSOCKET_PORT, WEB_PORT, RASA_PORT, ACTIONS_PORT, METRICS_PORT)
                     if _tcp_listening(p)]
        bound = [p for p in [SIP_PORT, *range(RTP_MIN, RTP_MAX + 1)] if _udp_bound(p)]
        assert listening == [] and bound == [], f"still open: tcp {listening}, udp {bound}"

        records = line.read_records()
        by_caller = {r["caller"]: r for r in records}
        for number in line.callers:
            assert MASKED[number] in by_caller, f"no record for the call from {MASKED[number]}: {records}"
            assert number not in json.dumps(records)
        for call_id in line.audiosocket_calls:
            assert call_id in {r["call_id"] for r in records}, f"no record for AudioSocket call {call_id}"
        assert len(records) == len(line.callers) + len(line.audiosocket_calls)
        # The database has each call once (written by the gateway's records thread before it stopped).
        with sqlite3.connect(line.work / "branch7.sqlite3") as db:
            ids = [row[0] for row in db.execute("select id from calls")]
        assert sorted(ids) == sorted(r["call_id"] for r in records)
        # The log is JSON lines (bot/ops/logs.py); the lines about a call carry its id.
        logged = [json.loads(x) for x in line.stderr.splitlines() if x.startswith("{")]
        assert {x["call_id"] for x in logged if "call_id" in x} & set(ids), line.stderr[-2000:]
        if KEYPAD_CALLER in line.callers:
            summary = by_caller[MASKED[KEYPAD_CALLER]]["summary"]
            assert (summary["outcome"], summary["branch"]) == ("transferred", 5), summary
        assert took < STOP_TIMEOUT_S
