"""Media benchmark: recognition through the call's playout (bot/audio/jitter.py) when the network
loses, delays and reorders packets, with and without loss concealment; the turn's end after a
line that falls silent (DTX); the playout's CPU cost.

Each of the 76 read sentences in /work/shared/speech/{vivos,vieneu} goes file → 8 kHz G.711 µ-law
→ 20 ms RTP packets sent every 20 ms → a simulated network (independent random loss; a delay drawn
uniformly from 0 to the jitter, so packets overtake each other) → `Playout`, pulled every 20 ms on a
virtual clock exactly as `LiveCall` pulls it → the recogniser's streaming session → CER
(`bot.asr.metrics`). Seeds are fixed: every run sees the same losses.

`run()` returns a JSON-able dict; `section(result)` renders it for docs/benchmarks.md
(`python -m bench.run --only media`).
"""
from __future__ import annotations

import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.asr import SPEECH, Utterance, corpus, phone_frames
from bot.asr.base import AsrEngine
from bot.asr.metrics import error_rates
from bot.audio.files import read_audio
from bot.audio.frames import AudioFrame
from bot.audio.jitter import Playout
from bot.audio.phone import PHONE_RATE

STEP = 0.02
# (name, loss, jitter_s, conceal_frames): the conditions measured, in the order shown.
CONDITIONS = [
    ("direct (no network, no playout)", 0.0, 0.0, None),
    ("playout, clean network", 0.0, 0.0, 2),
    ("1 % loss, concealment", 0.01, 0.0, 2), ("1 % loss, no concealment", 0.01, 0.0, 0),
    ("3 % loss, concealment", 0.03, 0.0, 2), ("3 % loss, no concealment", 0.03, 0.0, 0),
    ("5 % loss, concealment", 0.05, 0.0, 2), ("5 % loss, no concealment", 0.05, 0.0, 0),
    ("40 ms jitter", 0.0, 0.04, 2),
    ("40 ms jitter + 3 % loss, concealment", 0.03, 0.04, 2),
]
SEEDS = (1,)  # one fixed loss pattern per recording (76 recordings: ~17 000 packets per condition)
LEAD, TAIL = 2, 30  # the silence the playout adds around a recording (its depth, then the line gone quiet)


def network(frames: list[np.ndarray], loss: float, jitter_s: float, rng: random.Random,
            ) -> list[tuple[float, int, np.ndarray]]:
    """(arrival time, sequence number, samples) of the packets that arrive, in arrival order."""
    out = []
    for i, frame in enumerate(frames):
        if rng.random() < loss:
            continue
        out.append((i * STEP + rng.uniform(0.0, jitter_s), (60000 + i) % 65536, frame))  # wraps mid-way
    return sorted(out, key=lambda p: p[0])


def play(packets: list[tuple[float, int, np.ndarray]], conceal: int, tail_s: float = TAIL * STEP,
         ) -> tuple[list[tuple[float, AudioFrame]], Playout]:
    """The playout's output on the call's 20 ms clock (frames with their slot times)."""
    playout = Playout(conceal_frames=conceal)
    out: list[tuple[float, AudioFrame]] = []
    end = (packets[-1][0] if packets else 0.0) + tail_s
    k, slot = 0, 0.0
    while slot <= end:
        while k < len(packets) and packets[k][0] <= slot:
            at, seq, frame = packets[k]
            playout.push(AudioFrame.from_samples(frame, PHONE_RATE), at, seq=seq, ts=(seq * 160) % 2**32)
            k += 1
        out += [(slot, f) for f in playout.pull(slot)]
        slot = round(slot + STEP, 6)
    return out, playout


def recognise(engine: AsrEngine, frames: list[AudioFrame]) -> str:
    with engine.stream() as stream:
        for frame in frames:
            stream.accept(frame.samples)
        return stream.final()


def accuracy(engine: AsrEngine, items: list[Utterance]) -> dict[str, Any]:
    lines = {}
    for item in items:
        samples, rate = read_audio(item.path)
        lines[item.path] = phone_frames(samples, rate)
    result: dict[str, Any] = {}
    for name, loss, jitter_s, conceal in CONDITIONS:
        pairs: list[tuple[str, str]] = []
        totals = {"packets": 0, "lost": 0, "late": 0, "concealed": 0}
        depths: list[float] = []
        seeds = SEEDS if loss > 0 or jitter_s > 0 else SEEDS[:1]
        t0 = time.perf_counter()
        for seed in seeds:
            for n, item in enumerate(items):
                frames = lines[item.path]
                if conceal is None:  # the same recording with the same silence around it, no playout
                    quiet = [np.zeros(frames[0].size, np.int16)]
                    heard = [AudioFrame.from_samples(f, PHONE_RATE) for f in quiet * LEAD + frames + quiet * TAIL]
                else:
                    rng = random.Random(seed * 100_003 + n)
                    out, playout = play(network(frames, loss, jitter_s, rng), conceal)
                    heard = [f for _, f in out]
                    s = playout.stats
                    totals["packets"] += len(frames)
                    totals["lost"] += len(frames) - s.received
                    totals["late"] += s.late
                    totals["concealed"] += s.concealed
                    depths.append(playout.depth_s * 1000)
                pairs.append((item.text, recognise(engine, heard)))
        wer, cer = error_rates(pairs)
        result[name] = {"wer": round(wer, 4), "cer": round(cer, 4), "n": len(pairs), **totals,
                        "depth_ms_max": max(depths, default=0.0), "seconds": round(time.perf_counter() - t0, 1)}
        print(f"  {name}: CER {cer:.2%} WER {wer:.2%} {totals}", flush=True)
    return result


def turn_end(items: list[Utterance], turns: Any) -> dict[str, Any]:
    """A line that falls silent (DTX): each recording cut right after its speech, then no packet at
    all. On the virtual clock, from the last packet's arrival to the turn's end as the call's
    hearing (Silero VAD + the turn detector at the configured end pause) reports it, and how long
    the recogniser's final text then takes (CPU, this machine)."""
    from bot.asr.registry import make_asr
    from bot.call.hearing import CallerTurn, Hearing
    from bot.vad.silero_onnx import SileroOnnxVad

    engine = make_asr("vietasr")
    delays: list[float] = []
    finals: list[float] = []
    missed = 0
    try:
        for item in items:
            samples, rate = read_audio(item.path)
            frames = phone_frames(samples, rate)
            loud = [i for i, f in enumerate(frames) if np.sqrt(np.mean(f.astype(float) ** 2)) > 300]
            if not loud:
                continue
            frames = [np.zeros(160, np.int16)] * 25 + frames[:loud[-1] + 1]  # ends with speech
            packets = [(i * STEP, i, f) for i, f in enumerate(frames)]
            out, _ = play(packets, Playout().conceal_frames, tail_s=3.0)  # as a call has it
            last = packets[-1][0]
            hearing = Hearing(SileroOnnxVad(), engine.stream(), turns)
            ended = None
            try:
                for slot, frame in out:
                    t0 = time.perf_counter()
                    events = hearing.feed(frame, slot * 1000)
                    if any(isinstance(e, CallerTurn) for e in events):
                        finals.append((time.perf_counter() - t0) * 1000)
                        ended = slot  # LiveCall hands this slot's frame to hearing right at the slot
                        break
            finally:
                hearing.close()
            if ended is None:
                missed += 1
            else:
                delays.append((ended - last) * 1000)
    finally:
        engine.close()
    q = statistics.quantiles(delays, n=20) if len(delays) > 1 else delays * 19
    return {"n": len(delays), "missed": missed, "end_pause_ms": turns.end_pause_ms,
            "p50_ms": round(statistics.median(delays)), "p95_ms": round(q[18]), "max_ms": round(max(delays)),
            "final_p50_ms": round(statistics.median(finals), 1), "final_p95_ms": round(
                statistics.quantiles(finals, n=20)[18] if len(finals) > 1 else finals[0], 1)}


def cpu_cost(seconds: float = 60.0) -> dict[str, Any]:
    """The playout's own work per 20 ms slot (push + pull), on a 40 ms-jitter, 3 %-loss stream."""
    rng = random.Random(9)
    frames = [np.full(160, 1000, np.int16)] * int(seconds / STEP)
    packets = network(frames, 0.03, 0.04, rng)
    t0 = time.process_time()
    play(packets, 2, tail_s=0.0)
    used = time.process_time() - t0
    per_slot_us = used / len(frames) * 1e6
    return {"per_slot_us": round(per_slot_us, 1), "core_share_per_call": round(per_slot_us / 20_000, 5)}


def run(settings: Any, speech: Path = SPEECH) -> dict[str, Any]:
    """`settings`: loaded once by the runner (the turn detector's end pause comes from them)."""
    from bot.asr.registry import make_asr
    from bot.call.session import call_config

    items = corpus(speech)
    load_before = os.getloadavg()[0]
    engine = make_asr("vietasr")
    try:
        result: dict[str, Any] = {"engine": "vietasr (viet-asr's model run by onnxruntime, streaming, 8 kHz)", "n": len(items),
                                  "accuracy": accuracy(engine, items)}
    finally:
        engine.close()
    result["turn_end"] = turn_end(items, call_config(settings).turns)
    result["cpu"] = cpu_cost()
    result["load_avg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def section(r: dict[str, Any]) -> str:
    a, t, c = r["accuracy"], r["turn_end"], r["cpu"]
    lines = [
        "## Media as it arrives (jitter buffer, loss, silence suppression)",
        "",
        f"The {r['n']} read sentences of `shared/speech/vivos` and `vieneu` → 8 kHz G.711 µ-law → 20 ms RTP",
        "packets → a simulated network (independent random loss; per-packet delay uniform in 0-jitter, so",
        "packets overtake each other) → the call's playout (`bot/audio/jitter.py`: reorder, duplicates,",
        "adaptive depth from 40 ms; concealment where a row says so = the previous frame repeated at ½",
        "then ¼, then silence; calls run without it, silence at once, as these numbers advise),",
        "pulled every 20 ms on a virtual clock as `LiveCall` pulls it → the recogniser's streaming session",
        f"({r['engine']}). One fixed loss pattern per recording. \"direct\" has the same silence around",
        "each recording as the playout adds (its 40 ms depth before, 0.6 s after), so only the network differs.",
        "",
        "| condition | n | CER | WER | packets lost | late (dropped) | concealed | depth max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, v in a.items():
        if v.get("packets"):
            net = (f"{v['lost']} of {v['packets']} ({v['lost'] / v['packets']:.1%}) | {v['late']} | "
                   f"{v['concealed']} | {v['depth_ms_max']:.0f} ms")
        else:
            net = "– | – | – | –"
        lines.append(f"| {name} | {v['n']} | {v['cer']:.1%} | {v['wer']:.1%} | {net} |")
    lines += [
        "",
        "| measure | value |",
        "|---|---|",
        f"| a line that falls silent (DTX) right after the speech: last packet → the turn ends, on the call's "
        f"clock (playout depth + Silero + end pause {t['end_pause_ms']:.0f} ms; n={t['n']}, missed {t['missed']}) | "
        f"p50 {t['p50_ms']} ms, p95 {t['p95_ms']} ms, max {t['max_ms']} ms |",
        f"| then the recogniser's final text (CPU, this machine) | p50 {t['final_p50_ms']} ms, "
        f"p95 {t['final_p95_ms']} ms |",
        f"| the playout's CPU (push + pull, 40 ms jitter, 3 % loss) | {c['per_slot_us']} µs per 20 ms slot = "
        f"{c['core_share_per_call']:.3%} of a core per call |",
        "",
        f"Load average before / after: {r['load_avg'][0]} / {r['load_avg'][1]} (2 cores, shared machine).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import sys

    from bot.config import load_settings

    res = run(load_settings())
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    print(section(res))
