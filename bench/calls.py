"""Voice-path benchmark: end of caller speech -> first answer audio, concurrency, memory per call.

Calls are simulated on the call's clock (bot/call/virtual_clock.py) against the real brain, with
the prompt cache rendered first (as `make prompts` does in production).
"""
from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from bench.brain import percentile, rss_mb
from bot.brain.client import BrainClient
from bot.brain.servers import start_brain, stop_brain
from bot.call.session import CallSession, call_config, make_engines
from bot.call.timing import FRAME_MS
from bot.call.virtual_clock import VirtualClock, caller_audio, parse_script, run_call
from bot.config import Settings
from bot.content.load import load_knowledge_base

BENCH_PORT = 5605
CYCLE_SPEECH_S = 4.0  # the recordings last ~4 s
# A call is "in real time" when the caller hears no gap (a phone's jitter buffer absorbs one
# frame: no more than 0.1 % of frames over 20 ms late) and the bot still answers promptly.
MAX_LATE_20_SHARE = 0.001
MAX_REPLY_P95_MS = 800


def recordings(speech: Path) -> list[Path]:
    files = []
    for folder in ("vivos", "vieneu"):
        files += sorted((speech / folder).glob("*.wav"))
    return files


async def latency(settings: Settings, engines, client, files: list[Path]) -> dict[str, Any]:
    config = call_config(settings)
    latencies = []
    for path in files:
        clock = VirtualClock()
        session = CallSession(f"bench-{uuid.uuid4().hex[:8]}", engines, client, config, clock, lambda e: None)
        summary = await run_call(session, parse_script([str(path)]), clock, config.rate)
        latencies += summary.latency_ms
    return {"n": len(latencies), "p50_ms": round(statistics.median(latencies)), "p95_ms": round(percentile(latencies, 95)),
            "max_ms": round(max(latencies)), "end_pause_ms": settings.voice.end_pause_ms}


async def concurrency(settings: Settings, engines, client, files: list[Path], sizes: list[int],
                      gap_s: float, seconds: float = 40.0) -> list[dict[str, Any]]:
    """N live calls at once through `CallHost`, exactly as a transport runs them: a caller line
    sends a 20 ms frame every 20 ms, recognition runs in the host's worker threads, the bot's
    audio is paced on its 20 ms grid. Measured: how late outgoing frames leave (what the caller
    hears), and end of caller speech -> first reply frame under load (what the backlog costs)."""
    from bot.gateway.host import CallHost
    from tests.fakes import CallerLine, RecordingPeer  # an in-memory phone line and transport

    config = call_config(settings)
    rate = config.rate
    audio = [caller_audio(str(f), rate) for f in files[:12]]
    rows = []
    for n in sizes:
        host = CallHost(settings, engines, client, config)
        await host.load_workers()  # as the gateway does at start-up, before it takes calls
        base_rss = rss_mb_self()
        calls = [host.open_call(RecordingPeer()) for _ in range(n)]
        runs = [asyncio.create_task(c.run()) for c in calls]
        lines = [CallerLine(c, rate) for c in calls]
        loop = asyncio.get_running_loop()
        cpu0 = time.process_time()
        t0 = loop.time()

        async def caller(i: int, line: CallerLine) -> None:
            # Calls are not in lock-step: starts spread evenly over one speak+listen cycle, as
            # independent callers' turns are (a burst of everyone at once is another test).
            await asyncio.sleep((i * 0.618) % 1 * (CYCLE_SPEECH_S + gap_s))
            k = i
            while loop.time() - t0 < seconds:
                await line.say(audio[k % len(audio)])
                k += 1
                await asyncio.sleep(gap_s)

        callers = [asyncio.create_task(caller(i, line)) for i, line in enumerate(lines)]
        await asyncio.sleep(seconds)
        peak_rss = rss_mb_self()
        for task in callers:
            task.cancel()
        for line in lines:
            line.hang_up()
        summaries = await asyncio.gather(*runs)
        cpu_s = time.process_time() - cpu0
        wall_s = loop.time() - t0
        await host.aclose()
        lateness = list(host.stats.lateness_ms)
        late = sum(x > 0 for x in lateness)
        late_20 = sum(x > FRAME_MS for x in lateness)
        replies = [x for s in summaries for x in s.latency_ms]
        rows.append({"calls": n, "gap_s": gap_s, "late_frames": late, "frames": len(lateness),
                     "late_share": round(late / max(1, len(lateness)), 4),
                     "late_20ms_share": round(late_20 / max(1, len(lateness)), 5),
                     "lateness_p99_ms": round(percentile(lateness, 99), 1),
                     "lateness_max_ms": round(max(lateness, default=0.0), 1),
                     "replies": len(replies),
                     "reply_p50_ms": round(statistics.median(replies)) if replies else None,
                     "reply_p95_ms": round(percentile(replies, 95)) if replies else None,
                     "cpu_per_call_pct": round(100 * cpu_s / wall_s / n, 1),
                     "rss_per_call_mb": round((peak_rss - base_rss) / n, 2)})
        print(f"  calls={n} gap={gap_s}: {rows[-1]}", flush=True)
    return rows


def rss_mb_self() -> float:
    import os

    return rss_mb(os.getpid())


async def run(settings: Settings) -> dict[str, Any]:
    speech = settings.root.parent / "shared" / "speech"
    files = recordings(speech)
    if not files:
        return {"skipped": f"no recordings in {speech}"}
    kb, _ = load_knowledge_base(settings.path(settings.content.dir))
    engines = make_engines(settings, kb)
    from bot.tts.render import render_prompts

    await render_prompts(kb, engines.tts, engines.cache, progress=False)
    s = settings.replace(rasa={"port": BENCH_PORT, "actions_port": BENCH_PORT + 50})
    brain = await start_brain(s)
    try:
        async with BrainClient(brain.url, brain.token, kb, s.dialogue.human_branch, s.rasa.timeout_s) as client:
            result = {"latency": await latency(s, engines, client, files)}
            # Typical: callers speak ~4 s, then listen ~12 s to an answer. Worst: they never stop.
            result["concurrency"] = await concurrency(s, engines, client, files, [10, 20, 30, 40, 50], gap_s=12.0)
            result["concurrency_worst"] = await concurrency(s, engines, client, files, [4, 8, 12, 16], gap_s=0.5)
    finally:
        await stop_brain(brain)
    return result


def ceiling(rows: list[dict[str, Any]]) -> int:
    """The most calls that stayed in real time (see MAX_LATE_20_SHARE, MAX_REPLY_P95_MS)."""
    ok = [r["calls"] for r in rows if r["late_20ms_share"] <= MAX_LATE_20_SHARE
          and (r["reply_p95_ms"] or 0) <= MAX_REPLY_P95_MS]
    return max(ok, default=0)


def section(r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"## Calls\n\nSkipped: {r['skipped']}.\n"
    lat = r["latency"]
    lines = ["## Calls (voice path)", "",
             f"End of the caller's speech → first frame of the bot's reply, on the call's clock, over "
             f"{lat['n']} calls (one per recording in vivos/ + vieneu/, heard through 8 kHz µ-law), real brain, "
             f"prompt cache rendered: **p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms** (max {lat['max_ms']} ms). "
             f"This includes the end-of-turn pause of {lat['end_pause_ms']} ms.", "",
             "Simultaneous live calls in one gateway process, through `CallHost` exactly as the transports "
             "run them: each caller line sends a 20 ms frame every 20 ms, recognition runs in the host's "
             "worker threads (one per core), the bot's audio is paced on a 20 ms grid, the brain is the real "
             "Rasa (its own processes, on the same 2 cores). Typical: each caller speaks a recording (~4 s) "
             "then listens 12 s, callers' turns spread over the cycle; worst: callers who never stop talking "
             "(0.5 s gaps). *Late* = an outgoing frame sent after its slot; *> 20 ms* = later than a phone's "
             "jitter buffer absorbs. *Reply* = end of caller speech → first reply frame, under that load.", "",
             "| pattern | calls | frames late | > 20 ms late | lateness p99 / max | reply p50 / p95 | gateway CPU per call | RSS per call |",
             "|---|---|---|---|---|---|---|---|"]
    for key, name in (("concurrency", "typical"), ("concurrency_worst", "worst")):
        for row in r[key]:
            lines.append(f"| {name} | {row['calls']} | {row['late_share']:.2%} | {row['late_20ms_share']:.2%} | "
                         f"{row['lateness_p99_ms']} / {row['lateness_max_ms']} ms | "
                         f"{row['reply_p50_ms']} / {row['reply_p95_ms']} ms | {row['cpu_per_call_pct']} % | "
                         f"{row['rss_per_call_mb']} MB |")
    typical, worst = ceiling(r["concurrency"]), ceiling(r["concurrency_worst"])
    lines += ["", f"Sustained in real time (≤ {MAX_LATE_20_SHARE:.1%} of frames over 20 ms late and reply p95 ≤ "
              f"{MAX_REPLY_P95_MS} ms): **{typical} typical calls**, {worst} non-stop talkers per gateway "
              f"process on this 2-core machine (sizes tried: {', '.join(str(x['calls']) for x in r['concurrency'])}"
              f" and {', '.join(str(x['calls']) for x in r['concurrency_worst'])}).", "",
              "Bottlenecks, as measured: (1) the event loop. Typical calls fail the frame criterion first "
              "(from ~30 calls, while 12 non-stop talkers — far more recognition work — pass): every call "
              "costs the one loop ~100 wake-ups a second (frames in, paced frames out, ticks), and the "
              "loop shares the GIL with the recognition threads' Python steps, so it misses a slot now "
              "and then (max lateness 50-150 ms). (2) Recognition CPU: vietasr costs ~0.13 s of CPU per "
              "second of speech (RTF 0.13, native code that releases the GIL); with 16 non-stop talkers "
              "or 50 typical calls replies fall seconds behind. Each recognition worker owns its own "
              "model (one per core): vietasr is not thread-safe — two threads on one model crashed the "
              "process (segfault in libvietasr, seen in this benchmark) — so a call stays on one worker, "
              "which balances load less evenly than a shared pool did (reply p95 at 40 calls 535 → 918 ms)."]
    return "\n".join(lines) + "\n"
