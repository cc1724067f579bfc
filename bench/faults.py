"""Fault campaign, bounded (issue 12 item 5): calls through `bot cluster` (Kamailio + 2 gateways +
one brain) while its parts are killed one after another with SIGKILL; what the callers lived through
and what the records kept.

The callers are bench/sip_caller.py in their own process (real recordings as RTP, a turn every
16 s), pointed at Kamailio; a caller who hears no RTP at all for 5 s hangs up and dials again, as a
person would. Faults, at fixed times of the window: gateway 1, then the Rasa server, then the action
server. `bot cluster` starts each again (gateway after cluster.restart_s, the brain at once).

Counted: calls answered and refused (by status), calls that went dead under the caller, turns
answered / not; from the shared records database: each call's outcome and reason, and records lost
(answered calls without a record: the calls a killed gateway took with it).
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.calls import recordings
from bot.config import Settings

SIP, FIRST_GW, RASA, ACTIONS = 16100, 16101, 16105, 16106
CALLER_PORT = 16111
CALLS = 10
SECONDS = 90.0
DEAD_LINE_S = 5.0
FAULTS = ((20.0, "gateway 1"), (45.0, "Rasa server"), (70.0, "action server"))


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def _find(cluster_pid: int, needle: bytes) -> int | None:
    for pid in _children(cluster_pid):
        try:
            if needle in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


def kill(what: str, cluster_pid: int, run_dir: Path) -> int | None:
    if what == "gateway 1":
        pid: int | None = int((run_dir / "gateway-1.pid").read_text())
    elif what == "Rasa server":
        pid = _find(cluster_pid, b"rasa\x00run\x00")
    else:
        pid = _find(cluster_pid, b"rasa_sdk")
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    return pid


async def run(settings: Settings) -> dict[str, Any]:
    files = recordings(settings.root.parent / "shared" / "speech")
    if not files:
        raise SystemExit("no recordings in ../shared/speech")
    work = Path(tempfile.mkdtemp(prefix="faults-"))
    env = {**os.environ, "BOT_SIP_PORT": str(SIP), "BOT_CLUSTER_FIRST_PORT": str(FIRST_GW),
           "BOT_RASA_PORT": str(RASA), "BOT_RASA_ACTIONS_PORT": str(ACTIONS),
           "BOT_SIP_RTP_PORT_MIN": "16120", "BOT_SIP_RTP_PORT_MAX": "16179", "BOT_METRICS_PORT": "0",
           "BOT_WEB_ENABLED": "false", "BOT_AUDIOSOCKET_ENABLED": "false",
           "BOT_CLUSTER_RUN_DIR": str(work / "run"), "BOT_CLUSTER_LOG_DIR": str(work / "log"),
           "BOT_PRIVACY_RECORDS_DIR": str(work / "records"), "BOT_RECORDS_SQLITE_PATH": str(work / "b7.sqlite3"),
           "BOT_RECORDS_SPOOL_DIR": str(work / "spool"),
           "BOT_RASA_TRACKER_STORE": f"sqlite:///{work / 'trackers.sqlite3'}"}
    out = open(work / "cluster.txt", "wb")
    cluster = subprocess.Popen([sys.executable, "-m", "bot.cli", "cluster"], cwd=settings.root, env=env,
                               stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    faults: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 300
        while "cluster is answering" not in (work / "cluster.txt").read_text(errors="replace"):
            if cluster.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bot cluster did not start; see {work}")
            await asyncio.sleep(0.5)
        caller = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.sip_caller", "--calls", str(CALLS), "--seconds", str(SECONDS),
            "--port", str(SIP), "--local-port", str(CALLER_PORT), "--rtp-min", "16180", "--rtp-max", "16199",
            "--hang-up-silent", str(DEAD_LINE_S), *map(str, files), cwd=settings.root,
            stdout=asyncio.subprocess.PIPE)
        assert caller.stdout is not None
        while (await caller.stdout.readline()).strip() != b"WINDOW_START":
            pass
        t0 = time.monotonic()
        for at, what in FAULTS:
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            faults.append({"at_s": at, "what": what, "pid": kill(what, cluster.pid, work / "run")})
        result: dict[str, Any] = {}
        async for line in caller.stdout:
            if line.startswith(b"RESULT "):
                result = json.loads(line[7:])
        await caller.wait()
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGTERM)
            try:
                cluster.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
        out.close()
    with sqlite3.connect(work / "b7.sqlite3") as db:
        rows = db.execute("select outcome, reason from calls").fetchall()
    recorded = len(rows)
    outcomes = Counter(f"{outcome}: {reason}" for outcome, reason in rows)
    log = (work / "cluster.txt").read_text(errors="replace")
    return {"calls": CALLS, "seconds": SECONDS, "faults": faults, "caller": {k: v for k, v in result.items()
                                                                                if k != "replies_ms"},
            "replies": len(result.get("replies_ms", [])), "recorded": recorded,
            "lost_records": max(0, result.get("answered", 0) - recorded), "outcomes": dict(outcomes.most_common()),
            "restarts": log.count("starting it again"), "work": str(work)}


def section(r: dict[str, Any]) -> str:
    c = r["caller"]
    faults = ", ".join(f"{f['what']} at {f['at_s']:.0f} s" for f in r["faults"])
    failed = Counter(c.get("failed", []))
    lines = [
        "## Faults (cluster)",
        "",
        f"`bot cluster` (Kamailio, 2 gateways, one brain with the SQLite tracker store) with {r['calls']} callers "
        f"(bench/sip_caller.py through Kamailio, real recordings, a turn every 16 s; a caller hearing no RTP "
        f"for {DEAD_LINE_S:.0f} s hangs up and dials again) for {r['seconds']:.0f} s; SIGKILL of: {faults}. "
        "`bot cluster` starts what died again.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| calls dialled / answered | {c.get('dialled')} / {c.get('answered')} |",
        f"| calls refused (status: count) | {', '.join(f'{k}: {v}' for k, v in sorted(failed.items())) or 'none'} |",
        f"| calls that went dead under the caller (no RTP for {DEAD_LINE_S:.0f} s) | {c.get('dead_lines')} |",
        f"| turns / timed replies / unanswered turns | {c.get('turns')} / {r['replies']} / {c.get('turns_unanswered')} |",
        f"| calls ended by the bot (transfers, goodbyes) | {c.get('ended_by_bot')} |",
        f"| records written / lost (answered calls without a record) | {r['recorded']} / {r['lost_records']} |",
        f"| restarts by bot cluster | {r['restarts']} |",
        "",
        "Recorded outcomes (outcome: reason): " + "; ".join(f"{k} × {v}" for k, v in r["outcomes"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    from bot.config import load_settings

    res = asyncio.run(run(load_settings()))
    print(json.dumps(res, ensure_ascii=False, indent=1))
    print(section(res))
