"""Where recognition runs, compared on the wire: `gateway.recognition` threads against processes.

The SIP benchmark's gateway and callers (bench/sip.py), but one gateway start per entry of
`BENCH_SIP_MODES` (default processes,threads three times over), each measured at
`BENCH_SIP_SIZES` (default 40 calls), back to back, so the noise of a shared machine falls on
both alike. Writes bench/results/sip_modes.{json,md}; the SIP section of docs/benchmarks.md shows
the latest (bench/sip.py reads it). Not part of `make bench` (about 8 minutes):

    .venv/bin/python -m bench.sip_modes
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.calls import MAX_LATE_20_SHARE, MAX_REPLY_P95_MS, recordings
from bench.sip import CYCLE_S, SECONDS, _knob, one_size, passes, recognition_workers, rss, start_gateway
from bot.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench/results"
MODES = [m.strip() for m in _knob("MODES", "processes,threads," * 3).split(",") if m.strip()]
SIZES = [int(x) for x in _knob("SIZES", "40").split(",")]


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()


async def run(settings: Settings, files: list[Path]) -> dict[str, Any]:
    """`MODES`: one gateway per entry with gateway.recognition set so, each at `SIZES`."""
    rows: list[dict[str, Any]] = []
    for i, mode in enumerate(MODES):
        with tempfile.TemporaryDirectory(prefix="bench-sip-") as tmp:
            gateway = await start_gateway(settings, Path(tmp) / "gateway.log",
                                          extra_env={"BOT_GATEWAY_RECOGNITION": mode})
            try:
                await asyncio.sleep(2.0)
                workers = recognition_workers(gateway.pid)
                idle_rss = rss(gateway.pid) + sum(rss(p) for p in workers)
                for n in SIZES:
                    load = os.getloadavg()[0]
                    row = await one_size(gateway, n, files, idle_rss)
                    rows.append({"run": i + 1, "recognition": mode, "load_1min": round(load, 2),
                                 "at": time.strftime("%H:%M:%S"), **row})
                    await asyncio.sleep(3.0)
            finally:
                await gateway.stop()
    return {"compare": rows, "seconds_per_size": SECONDS, "cycle_s": CYCLE_S, "recordings": len(files),
            "meta": {"date": time.strftime("%Y-%m-%d %H:%M"), "commit": _commit()}}


def section(r: dict[str, Any]) -> str:
    """Threads against processes (`BENCH_SIP_MODES`), run by run, then how often each passed."""
    rows = r["compare"]
    cores = os.cpu_count() or 1
    lines = [f"### Recognition in threads or in processes ({r['meta']['date']}, commit {r['meta']['commit']})", "",
             f"`python -m bench.sip_modes`: as the sweep above (`bot run`, real engines and brain, `bench/sip_caller.py` in another "
             f"process, a turn every {r['cycle_s']:.0f} s, {r['seconds_per_size']:.0f} s measured), but one gateway "
             "start per row with `gateway.recognition` set as shown, rows in the order they ran, back to back, so "
             "a busy machine's noise falls on both. *Other CPU* is what other people's processes took of the "
             f"{100 * cores} % meanwhile; *loop CPU* is the gateway's own process (with processes, the event loop "
             "alone; the gateway column adds its recognition processes).", "",
             "| run (time) | recognition | calls | > 20 ms late | jitter p99 / max | reply p50 / p95 (n) | "
             "gateway CPU (loop) | other CPU | load (1 min) | within criteria |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for x in rows:
        lines.append(
            f"| {x['run']} ({x['at']}) | {x['recognition']} | {x['calls']} | {x['late_20ms_share']:.2%} | "
            f"{x['lateness_p99_ms']} / {x['lateness_max_ms']} ms | {x['reply_p50_ms']} / {x['reply_p95_ms']} ms "
            f"({x['replies']}) | {x['gateway_cpu_pct']} % ({x.get('gateway_loop_cpu_pct', x['gateway_cpu_pct'])} %) | "
            f"{x['other_cpu_pct']} % | {x['load_1min']} | {'yes' if passes(x) else 'no'} |")
    lines.append("")
    for mode in dict.fromkeys(x["recognition"] for x in rows):
        mine = [x for x in rows if x["recognition"] == mode]
        late = sorted(x["late_20ms_share"] for x in mine)
        p95 = sorted(x["reply_p95_ms"] or 0 for x in mine)
        lines.append(f"- {mode}: {sum(passes(x) for x in mine)} of {len(mine)} runs within the criteria "
                     f"(≤ {MAX_LATE_20_SHARE:.1%} > 20 ms late, reply p95 ≤ {MAX_REPLY_P95_MS} ms); late "
                     f"{late[0]:.2%}-{late[-1]:.2%} (median {statistics.median(late):.2%}); reply p95 "
                     f"{p95[0]}-{p95[-1]} ms.")
    procs = [x for x in rows if x["recognition"] == "processes" and "gateway_loop_cpu_pct" in x]
    quiet = [x for x in procs if x["other_cpu_pct"] < 20]  # runs where the gateway got the CPU it asked for
    if procs and quiet:
        loop = statistics.median(x["gateway_loop_cpu_pct"] / x["calls"] for x in procs)
        total = statistics.median(x["gateway_cpu_pct"] / x["calls"] for x in quiet)
        rest = statistics.median(x["brain_cpu_pct"] + x["caller_cpu_pct"] for x in quiet)
        lines.append(f"- With processes the event loop's own process costs {loop:.2f} % of a core per call; the "
                     f"whole gateway {total:.1f} % per call in the runs where other processes took < 20 % "
                     f"(recognition is the rest). With Rasa and the callers ({rest:.0f} %), the {100 * cores} % "
                     f"of this machine hold at most ~{(100 * cores - rest) / total:.0f} calls, with no headroom: at "
                     f"{procs[0]['calls']} calls they are ~{procs[0]['calls'] * total + rest:.0f} % busy, recognition "
                     "queues behind the callers (replies of seconds), and the loop's process waits for a core now "
                     "and then (late packets).")
    return "\n".join(lines) + "\n"


def main() -> None:
    if os.environ.get("BENCH_SIP_RENDER"):  # only write the section again from the saved result
        result = json.loads((RESULTS / "sip_modes.json").read_text(encoding="utf-8"))
        (RESULTS / "sip_modes.md").write_text(section(result), encoding="utf-8")
        print(section(result))
        return
    settings = load_settings()
    files = recordings(settings.root.parent / "shared" / "speech")
    if not files:
        raise SystemExit("no recordings in ../shared/speech")
    result = asyncio.run(run(settings, files))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sip_modes.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    (RESULTS / "sip_modes.md").write_text(section(result), encoding="utf-8")
    print(section(result))


if __name__ == "__main__":
    main()
