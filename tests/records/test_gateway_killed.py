"""A real gateway killed during a real call leaves its record (issue 12 item 5: never a lost call
record). `bot serve` (the brain, kept running, as branch7-rasa.service does) and `bot run` (the
gateway) in their own processes; sipp calls the gateway and stays on the line; the gateway is
killed with SIGKILL in the middle of the call and started again; its store's sweep at start
closes the call's open row as `gateway_died`, with the masked caller, the transport and the
events saved by the last checkpoint. On SQLite (the gateway's default) and on the throwaway
PostgreSQL of tests/records/conftest.py.

Ports: gateway SIP 28000, its RTP 28100-28199, sipp 28010 and media 28200, Rasa 5722 with its
action server on 28990, the gateway's metrics 9151."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, exc as sa_exc, text

from tests.conftest import ROOT
from tests.test_run_e2e import _children, _tail
from tests.transports.sip.test_sipp import SIPP

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(SIPP is None, reason="sipp is not installed (apt install sip-tester)")]

SIP, SIPP_PORT, SIPP_MEDIA = 28000, 28010, 28200
RASA, ACTIONS = 5722, 28990
METRICS = 9151
SCENARIO = ROOT / "tests" / "cluster" / "scenarios" / "call.xml"
START_TIMEOUT_S = 300.0  # Rasa's cold start is 20-60 s, more on a busy machine


def _env(work: Path, url: str) -> dict[str, str]:
    return {**os.environ, "BOT_SIP_PORT": str(SIP), "BOT_SIP_RTP_PORT_MIN": "28100", "BOT_SIP_RTP_PORT_MAX": "28199",
            "BOT_RASA_PORT": str(RASA), "BOT_RASA_ACTIONS_PORT": str(ACTIONS), "BOT_METRICS_PORT": str(METRICS),
            "BOT_WEB_ENABLED": "false", "BOT_AUDIOSOCKET_ENABLED": "false", "BOT_LOG_FORMAT": "json",
            "BOT_PRIVACY_RECORDS_DIR": str(work / "records"), "BOT_RECORDS_URL": url,
            "BOT_RECORDS_SPOOL_DIR": str(work / "spool"), "BOT_RECORDS_CHECKPOINT_S": "1",
            # the caller holds the line in silence for longer than the test: no end by no-input
            "BOT_VOICE_NO_INPUT_TIMEOUT_S": "600", "BOT_GATEWAY_MEDIA_TIMEOUT_S": "600"}


def _start(args: list[str], work: Path, url: str, name: str, ready: str) -> subprocess.Popen:
    out = open(work / f"{name}.out", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=_env(work, url), stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while ready not in (work / f"{name}.out").read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{name} did not start:\n{_tail(work / f'{name}.out')}")
        time.sleep(0.3)
    return proc


def _db(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql)).all()]
    except (sa_exc.OperationalError, sa_exc.ProgrammingError):  # not created yet (SQLite, PostgreSQL)
        return []
    finally:
        engine.dispose()


def _metrics() -> str:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{METRICS}/metrics", timeout=5) as r:
            return "\n".join(x for x in r.read().decode().splitlines() if x.startswith("branch7_"))
    except OSError as exc:
        return f"(no metrics: {exc})"


def _wait(what: str, check, work: Path, url: str, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    while not (got := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}\n--- gateway ---\n{_tail(work / 'gateway.out')}"
                                 f"\n--- sipp ---\n{_tail(work / 'sipp_messages.log', 3000)}\n--- rows ---\n"
                                 f"{_db(url, 'select id, outcome from calls')} "
                                 f"{_db(url, 'select call_id, kind from call_events')}\n--- metrics ---\n"
                                 f"{_metrics()}")
        time.sleep(0.2)
    return got


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_a_gateway_killed_during_a_call_leaves_a_gateway_died_record(db_url, tmp_path):
    work, url = tmp_path, db_url
    scenario = work / "call.xml"
    scenario.write_text(SCENARIO.read_text().replace("@LISTEN_MS@", "600000"))
    brain = gateway = sipp = None
    brain_children: list[int] = []
    try:
        brain = _start(["serve"], work, url, "brain", "Rasa: ")
        brain_children = _children(brain.pid)
        gateway = _start(["run"], work, url, "gateway", "Branch 7 is answering")
        sipp = subprocess.Popen([SIPP, f"127.0.0.1:{SIP}", "-sf", str(scenario), "-m", "1", "-i", "127.0.0.1",
                                 "-p", str(SIPP_PORT), "-mp", str(SIPP_MEDIA), "-nostdin", "-trace_msg",
                                 "-message_file", str(work / "sipp_messages.log")],
                                cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        # The call is up and its open row holds the greeting (saved by a checkpoint).
        call_id = _wait("the call's open row", lambda: _db(url, "select id from calls where outcome = 'in_progress'"),
                        work, url)[0][0]
        _wait("the greeting saved with the open row",
              lambda: _db(url, f"select 1 from call_events where call_id = '{call_id}' and kind = 'bot_say'"), work, url)
        killed = gateway.pid
        os.kill(killed, signal.SIGKILL)
        gateway.wait(30)
        assert gateway.returncode == -signal.SIGKILL
        os.killpg(sipp.pid, signal.SIGKILL)  # the caller gives up on the dead line
        sipp.wait(30)
        assert _db(url, f"select outcome from calls where id = '{call_id}'") == [("in_progress",)]
        gateway = _start(["run"], work, url, "gateway", "Branch 7 is answering")  # the restart (as bot cluster does)
        row = _wait("the dead call closed by the restarted gateway",
                    lambda: _db(url, "select outcome, reason, caller, transport, gateway from calls "
                                     f"where id = '{call_id}' and outcome = 'gateway_died'"), work, url)[0]
        assert row[:4] == ("gateway_died", "gateway_died:process_gone", "091****333", "sip")
        assert row[4].split(":")[-2] == str(killed)  # the process that held it
        kinds = [k for (k,) in _db(url, f"select kind from call_events where call_id = '{call_id}' order by seq")]
        assert kinds and kinds[0] == "bot_say"
    finally:
        if sipp is not None and sipp.poll() is None:
            os.killpg(sipp.pid, signal.SIGKILL)
        _stop(gateway)
        _stop(brain)
        for pid in brain_children:  # Rasa and the action server run in their own sessions
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    env = {**_env(work, url)}
    report = json.loads(subprocess.run([sys.executable, "-m", "bot.cli", "report", "--json"], cwd=ROOT, env=env,
                                       capture_output=True, text=True, check=True).stdout)
    assert (report["calls"], report["gateway_died"], report["in_progress"]) == (1, 1, 0)
