"""Soak and fault campaign, bounded in time (issue 12 item 5): `--calls` simultaneous calls (default
40) for `--minutes` (default 10) through `bot cluster` (Kamailio + 2 gateways + one brain), the
callers an independent client, sipp, playing real recordings from pcaps; meanwhile gateway 1, the
Rasa server and the action server are killed with SIGKILL, and the records' disk is filled and
freed again. What the callers lived through, and what the records kept.

    .venv/bin/python -m bench.faults                      # the campaign: 40 calls, 10 minutes
    .venv/bin/python -m bench.faults --calls 10 --minutes 2   # a short run, to check it works

The callers: `min(5, calls)` sipp processes (bench/scenarios/campaign_call.xml), each keeping
its share of the calls up (`-l`), each playing its own pcap made from two recordings of
../shared/speech (a question, 12 s of listening, another question, 12 s), written with the tests'
`write_rtp_pcap`. A call lasts until the bot transfers it (REFER, accepted as a PBX would) or
hangs up, or the caller hangs up after the pcap and 5 s more; then sipp dials again.

Faults, at fixed fractions of the window: gateway 1 at 20 %, the Rasa server at 40 %, the action
server at 60 % (`bot cluster` starts each again), the records' disk full from 75 % to 85 % (a
tmpfs holding the SQLite database, the spool and the JSON lines, filled to the last byte with a
filler file that is then removed; skipped, and said so, where mounting is not permitted).

Counted, per call, from sipp's message trace: completed (the bot transferred it or said goodbye,
or the caller hung up and the gateway answered the BYE), refused (no 200 to the INVITE), ended
badly (the caller's BYE got no answer: the gateway was gone). From the shared records database
after the cluster stopped (`bot report`'s sweep first, as an operator would run it): each call's
outcome and reason, the calls closed as `gateway_died`, and records lost = calls answered (200 OK)
with no record.

Ports (apart from other work on the machine): Kamailio 28000, gateways 28001-28002 and their RTP
28100-28499, sipp 28010-28019 and media 28600-28699, Rasa 5722 with its action server on 28990.
"""
from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import re
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

SIP, FIRST_GW, RASA, ACTIONS = 28000, 28001, 5722, 28990
RTP_MIN, RTP_MAX = 28100, 28499
SIPP_PORT, SIPP_MEDIA = 28010, 28600
CALLS, MINUTES = 40, 10.0
LISTEN_S = 12.0        # the caller listens this long after each question
FAULTS = ((0.20, "gateway 1"), (0.40, "Rasa server"), (0.60, "action server"), (0.75, "records disk full"),
          (0.85, "records disk freed"))
DISK_SIZE = "64m"
SCENARIO = Path(__file__).resolve().parent / "scenarios" / "campaign_call.xml"


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


# ----- the records' disk --------------------------------------------------------------------------
def mount_disk(path: Path) -> str | None:
    """A tmpfs at `path`; None if done, else why not (not root, no permission)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip() or f"mount exited {done.returncode}")


def fill_disk(path: Path) -> int:
    """Fill the filesystem to the last byte with `filler`; returns the bytes written."""
    fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    total = 0
    try:
        for size in (1 << 20, 65536, 4096, 512, 64, 1):
            try:
                while (n := os.write(fd, b"\0" * size)) == size:
                    total += n
                total += n
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return total


# ----- the callers ----------------------------------------------------------------------------------
def make_pcaps(files: list[Path], work: Path, n: int) -> list[tuple[Path, int]]:
    """One pcap per sipp process: two recordings, each followed by LISTEN_S of silence. Returns
    (pcap, length in ms)."""
    import numpy as np

    from bot.call.virtual_clock import caller_audio
    from tests.transports.sip.test_sipp import write_rtp_pcap

    out = []
    pause = np.zeros(int(8000 * LISTEN_S), np.int16)
    for i in range(n):
        a, b = files[(2 * i) % len(files)], files[(2 * i + 1) % len(files)]
        talk = np.concatenate([np.zeros(4000, np.int16), caller_audio(a, 8000), pause, caller_audio(b, 8000), pause])
        pcap = work / f"caller-{i}.pcap"
        write_rtp_pcap(pcap, talk)
        out.append((pcap, int(1000 * talk.size / 8000)))
    return out


def start_sipp(i: int, pcap: Path, length_ms: int, limit: int, work: Path) -> subprocess.Popen:
    scenario = work / f"caller-{i}.xml"
    scenario.write_text(SCENARIO.read_text().replace("@PCAP@", str(pcap))
                        .replace("@LISTEN_MS@", str(length_ms + 5000)))
    args = ["sipp", f"127.0.0.1:{SIP}", "-sf", str(scenario), "-l", str(limit), "-r", "1", "-rp", "1000",
            "-i", "127.0.0.1", "-p", str(SIPP_PORT + i), "-mp", str(SIPP_MEDIA + 10 * i), "-nostdin",
            "-trace_msg", "-message_file", str(work / f"caller-{i}-messages.log"),
            "-trace_err", "-error_file", str(work / f"caller-{i}-errors.log")]
    return subprocess.Popen(args, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(work / f"caller-{i}-stderr.log", "wb"), start_new_session=True)


_BLOCK = re.compile(r"^-{20,} (\S+ \S+)", re.M)


def read_trace(path: Path, t0_wall: float) -> dict[str, dict[str, Any]]:
    """sipp's message trace -> per Call-ID what happened (responses, requests each way)."""
    calls: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return calls
    text = path.read_text(errors="replace")
    marks = list(_BLOCK.finditer(text))
    for k, m in enumerate(marks):
        block = text[m.end(): marks[k + 1].start() if k + 1 < len(marks) else len(text)]
        sent = "message sent" in block.split("\n", 2)[1] if "\n" in block else False
        body = block.split("\n\n", 1)[1] if "\n\n" in block else ""
        first = body.lstrip().split("\r\n", 1)[0].split("\n", 1)[0]
        cid = re.search(r"^Call-ID:\s*(\S+)", body, re.M | re.I)
        cseq = re.search(r"^CSeq:\s*\d+\s+(\w+)", body, re.M | re.I)
        if not cid or not first:
            continue
        try:
            when = time.mktime(time.strptime(m.group(1).split(".")[0], "%Y-%m-%d\t%H:%M:%S")) - t0_wall
        except ValueError:
            when = None
        c = calls.setdefault(cid.group(1), {"invite_status": None, "got": [], "sent": [], "bye_status": None,
                                            "gateway": None, "t_s": None})
        method = cseq.group(1) if cseq else ""
        if first.startswith("SIP/2.0"):
            status = int(first.split()[1])
            if not sent and method == "INVITE" and status >= 200 and c["invite_status"] is None:
                c["invite_status"] = status
                contact = re.search(r"^Contact:.*?:(\d+)", body, re.M | re.I)
                c["gateway"] = int(contact.group(1)) - FIRST_GW + 1 if contact else None
            if not sent and method == "BYE" and c["bye_status"] is None:
                c["bye_status"] = status  # the first answer to our BYE (sipp's own BYE after an abort follows)
        else:
            verb = first.split()[0]
            (c["sent"] if sent else c["got"]).append(verb)
            if sent and verb == "INVITE" and c["t_s"] is None:
                c["t_s"] = when
    return calls


def classify(c: dict[str, Any]) -> str:
    if c["invite_status"] is None:
        return "refused: no final answer to the INVITE"
    if c["invite_status"] != 200:
        return f"refused: {c['invite_status']}"
    if "REFER" in c["got"]:
        return "completed: transferred by the bot"
    if "BYE" in c["got"]:
        return "completed: the bot hung up"
    if "BYE" in c["sent"]:
        if c["bye_status"] == 200:
            return "completed: the caller hung up"
        if c["bye_status"] == 481:  # the gateway that took it was killed; the one started again does not know it
            return "ended badly: its gateway died (481 to the caller's BYE)"
        if c["bye_status"] is None:
            return "ended badly: the caller's BYE got no answer"
        return f"ended badly: {c['bye_status']} to the caller's BYE"
    return "cut: still up when the callers stopped"


# ----- the campaign -----------------------------------------------------------------------------------
async def run(settings: Settings, calls: int = CALLS, minutes: float = MINUTES) -> dict[str, Any]:
    files = recordings(settings.root.parent / "shared" / "speech")
    if not files:
        raise SystemExit("no recordings in ../shared/speech")
    window = 60.0 * minutes
    work = Path(tempfile.mkdtemp(prefix="faults-"))
    disk = work / "disk"
    disk_note = mount_disk(disk)
    data = disk if disk_note is None else work
    env = {**os.environ, "BOT_SIP_PORT": str(SIP), "BOT_CLUSTER_FIRST_PORT": str(FIRST_GW),
           "BOT_RASA_PORT": str(RASA), "BOT_RASA_ACTIONS_PORT": str(ACTIONS),
           "BOT_SIP_RTP_PORT_MIN": str(RTP_MIN), "BOT_SIP_RTP_PORT_MAX": str(RTP_MAX), "BOT_METRICS_PORT": "0",
           "BOT_WEB_ENABLED": "false", "BOT_AUDIOSOCKET_ENABLED": "false",
           "BOT_GATEWAY_MAX_CALLS": str(max(40, calls)),
           "BOT_CLUSTER_RUN_DIR": str(work / "run"), "BOT_CLUSTER_LOG_DIR": str(work / "log"),
           "BOT_PRIVACY_RECORDS_DIR": str(data / "records"), "BOT_RECORDS_SQLITE_PATH": str(data / "b7.sqlite3"),
           "BOT_RECORDS_SPOOL_DIR": str(data / "spool"),
           "BOT_RASA_TRACKER_STORE": f"sqlite:///{work / 'trackers.sqlite3'}"}
    n_sipp = min(5, calls)
    pcaps = make_pcaps(files, work, n_sipp)
    out = open(work / "cluster.txt", "wb")
    cluster = subprocess.Popen([sys.executable, "-m", "bot.cli", "cluster"], cwd=settings.root, env=env,
                               stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    faults: list[dict[str, Any]] = []
    callers: list[subprocess.Popen] = []
    t0_wall = time.time()
    try:
        deadline = time.monotonic() + 300
        while "cluster is answering" not in (work / "cluster.txt").read_text(errors="replace"):
            if cluster.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bot cluster did not start; see {work}")
            await asyncio.sleep(0.5)
        t0, t0_wall = time.monotonic(), time.time()
        for i, (pcap, length_ms) in enumerate(pcaps):
            callers.append(start_sipp(i, pcap, length_ms, calls // n_sipp + (i < calls % n_sipp), work))
        for at, what in FAULTS:
            await asyncio.sleep(max(0.0, t0 + at * window - time.monotonic()))
            fault: dict[str, Any] = {"at_s": round(time.monotonic() - t0, 1), "what": what}
            if what.startswith("records disk"):
                if disk_note is not None:
                    fault["skipped"] = disk_note
                elif what.endswith("full"):
                    fault["filler_bytes"] = fill_disk(disk)
                else:
                    (disk / "filler").unlink(missing_ok=True)
            else:
                fault["pid"] = kill(what, cluster.pid, work / "run")
            faults.append(fault)
        await asyncio.sleep(max(0.0, t0 + window - time.monotonic()))
        for p in callers:  # no new calls; the calls in progress go to their end
            if p.poll() is None:
                p.send_signal(signal.SIGUSR1)
        longest = max(length for _, length in pcaps) / 1000 + 60
        end = time.monotonic() + longest
        while any(p.poll() is None for p in callers) and time.monotonic() < end:
            await asyncio.sleep(0.5)
    finally:
        for p in callers:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGTERM)
            try:
                cluster.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
        out.close()
        (disk / "filler").unlink(missing_ok=True)
    # The records as `bot report` sees them: its sweep closes the open rows of dead gateways first.
    report = json.loads(subprocess.run([sys.executable, "-m", "bot.cli", "report", "--json"], cwd=settings.root,
                                       env=env, capture_output=True, text=True, check=True).stdout)
    with sqlite3.connect(data / "b7.sqlite3") as db:
        rows = db.execute("select outcome, reason, gateway from calls").fetchall()
    if disk_note is None:
        subprocess.run(["cp", "-a", str(disk), str(work / "disk-copy")], check=False)
        subprocess.run(["umount", "-l", str(disk)], check=False)
    trace: dict[str, dict[str, Any]] = {}
    for i in range(n_sipp):
        trace.update(read_trace(work / f"caller-{i}-messages.log", t0_wall))
    kinds = Counter(classify(c) for c in trace.values())
    answered = sum(c["invite_status"] == 200 for c in trace.values())
    bad = sorted(({"t_s": c["t_s"], "gateway": c["gateway"], "why": classify(c), "call_id": cid}
                  for cid, c in trace.items() if classify(c).startswith(("ended badly", "cut", "refused"))),
                 key=lambda x: x["t_s"] or 0)
    log = (work / "cluster.txt").read_text(errors="replace")
    return {"calls": calls, "minutes": minutes, "faults": faults, "dialled": len(trace), "answered": answered,
            "callers": dict(kinds.most_common()), "bad_calls": bad,
            "recorded": len(rows), "lost_records": max(0, answered - len(rows)),
            "gateway_died": report["gateway_died"], "in_progress": report["in_progress"],
            "outcomes": dict(Counter(f"{o}: {r}" for o, r, _ in rows).most_common()),
            "restarts": log.count("starting it again"), "disk": disk_note or f"tmpfs {DISK_SIZE}", "work": str(work)}


def section(r: dict[str, Any]) -> str:
    faults = ", ".join(f"{f['what']} at {f['at_s']:.0f} s" + (" (skipped)" if f.get("skipped") else "")
                       for f in r["faults"])
    completed = sum(v for k, v in r["callers"].items() if k.startswith("completed"))
    bad = {k: v for k, v in r["callers"].items() if not k.startswith("completed")}
    lines = [
        "## Faults (cluster): soak and fault campaign",
        "",
        f"`bot cluster` (Kamailio, 2 gateways, one brain with the SQLite tracker store) with {r['calls']} "
        f"simultaneous callers (sipp playing real recordings from pcaps through Kamailio; a call is two questions "
        f"with {LISTEN_S:.0f} s of listening after each, then the caller hangs up unless the bot ended it first, "
        f"and dials again) for {r['minutes']:g} min; SIGKILL of gateway 1, the Rasa server and the action "
        f"server, and the records' disk ({r['disk']}) filled and freed: {faults}. `bot cluster` starts what died again.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| calls dialled / answered | {r['dialled']} / {r['answered']} |",
        f"| calls completed (transferred, goodbye, or the caller's BYE answered) | {completed} |",
        f"| calls that ended badly or were refused, why | {'; '.join(f'{k} × {v}' for k, v in bad.items()) or 'none'} |",
        f"| records written / lost (answered calls without a record) | {r['recorded']} / {r['lost_records']} |",
        f"| of which closed as gateway_died (open rows of the killed gateway) | {r['gateway_died']} |",
        f"| restarts by bot cluster | {r['restarts']} |",
        "",
        "Recorded outcomes (outcome: reason): " + "; ".join(f"{k} × {v}" for k, v in r["outcomes"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    from bot.config import load_settings

    ap = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=CALLS, help=f"simultaneous calls (default {CALLS})")
    ap.add_argument("--minutes", type=float, default=MINUTES, help=f"length of the campaign (default {MINUTES:g})")
    ap.add_argument("--out", type=Path, help="also write the result as JSON here")
    a = ap.parse_args()
    res = asyncio.run(run(load_settings(), a.calls, a.minutes))
    if a.out:
        a.out.write_text(json.dumps(res, ensure_ascii=False, indent=1))
    print(json.dumps(res, ensure_ascii=False, indent=1))
    print(section(res))
