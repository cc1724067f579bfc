"""ASR benchmark: accuracy (WER/CER), speed (RTF), memory per stream, concurrent streams per process.

Corpus: the 76 read sentences in /work/shared/speech/{vivos,vieneu} (see its SOURCES.md).
Two paths per recording:
  (a) engine alone: the 16 kHz file, whole, through `transcribe()` of an engine set to 16 kHz;
  (b) the project's path: file -> 8 kHz G.711 µ-law line -> decode -> 20 ms frames -> stream.
Text is scored after `bot.asr.metrics.normalise` (NFC, lowercase, no punctuation).

`run()` returns a JSON-able dict; `section(result)` renders it for docs/benchmarks.md.
`python -m bench.asr [results.json]` runs it alone and prints the section.
"""
from __future__ import annotations

import gc
import json
import multiprocessing
import os
import sys
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.asr.base import AsrEngine
from bot.asr.metrics import error_rates, normalise
from bot.audio.files import read_audio
from bot.audio.frames import AudioFrame, frames_of
from bot.audio.phone import PHONE_RATE, from_phone_line, to_phone_line
from bot.call.timing import FRAME_MS, FRAME_S

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT.parent / "shared" / "speech"
FOLDERS = ("vivos", "vieneu")
FRAME = PHONE_RATE * FRAME_MS // 1000  # 20 ms at 8 kHz
LAG_BUDGET_MS = 250.0  # recognition may trail the caller by this much (p99) and turns still feel prompt


@dataclass(frozen=True)
class Utterance:
    path: Path
    text: str
    subset: str  # "vivos-test" (held out), "vivos-train-spk01" (the model may know it), "vieneu"


def corpus(speech: Path = SPEECH) -> list[Utterance]:
    items = []
    for folder in FOLDERS:
        for line in (speech / folder / "transcripts.tsv").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            name, text = line.split("\t", 1)
            subset = folder if folder != "vivos" else ("vivos-test" if "VIVOSDEV" in name else "vivos-train-spk01")
            items.append(Utterance(speech / folder / name, text, subset))
    return items


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def phone_frames(samples: np.ndarray, rate: int) -> list[np.ndarray]:
    """What the gateway hands the ASR on a call: 20 ms of 8 kHz audio after G.711 µ-law."""
    line = from_phone_line(to_phone_line(samples, rate))
    return [f.samples for f in frames_of(line, PHONE_RATE)]


def stream_frames(engine: AsrEngine, frames: list[np.ndarray]) -> str:
    with engine.stream() as stream:
        for frame in frames:
            stream.accept(frame)
        return stream.final()


def listen_frames(engine: AsrEngine, frames: list[np.ndarray]) -> str:
    """(c) As a call hears it: half a second of line silence around the recording, Silero VAD and
    the turn detector decide what reaches the recogniser (pre-roll, turn ends), every turn's text."""
    from bot.audio.frames import AudioFrame
    from bot.call.hearing import CallerTurn, Hearing
    from bot.vad.silero_onnx import SileroOnnxVad
    from bot.vad.turns import TurnConfig

    quiet = [np.zeros(frames[0].size, np.int16)] * 25
    hearing = Hearing(SileroOnnxVad(), engine.stream(), TurnConfig(end_pause_ms=350, max_turn_ms=15000,
                                                                  min_speech_ms=200))
    texts: list[str] = []
    t = 0.0
    try:
        for frame in [*quiet, *frames, *quiet]:
            for event in hearing.feed(AudioFrame.from_samples(frame, PHONE_RATE), t):
                if isinstance(event, CallerTurn):
                    texts.append(event.text)
            t += FRAME_MS
        texts += [e.text for e in hearing.flush(t) if isinstance(e, CallerTurn)]
    finally:
        hearing.close()
    return " ".join(x for x in texts if x)


def accuracy(engine_8k: AsrEngine, engine_16k: AsrEngine, items: list[Utterance]) -> dict[str, Any]:
    rows = []
    for item in items:
        samples, rate = read_audio(item.path)
        t0 = time.perf_counter()
        alone = engine_16k.transcribe(samples, rate)
        t1 = time.perf_counter()
        frames = phone_frames(samples, rate)
        t2 = time.perf_counter()
        project = stream_frames(engine_8k, frames)
        t3 = time.perf_counter()
        call = listen_frames(engine_8k, frames)
        t4 = time.perf_counter()
        rows.append({"file": f"{item.path.parent.name}/{item.path.name}", "subset": item.subset,
                     "ref": normalise(item.text), "alone": alone, "project": project, "call": call,
                     "audio_s": samples.size / rate, "alone_s": t1 - t0, "project_s": t3 - t2,
                     "call_s": t4 - t3})

    def score(selected: list[dict], key: str) -> dict[str, float]:
        wer, cer = error_rates([(r["ref"], r[key]) for r in selected])
        audio = sum(r["audio_s"] for r in selected)
        return {"wer": round(wer, 4), "cer": round(cer, 4), "n": len(selected), "audio_s": round(audio, 1),
                "rtf": round(sum(r[f"{key}_s"] for r in selected) / audio, 4)}

    subsets = ["all"] + sorted({r["subset"] for r in rows})
    result: dict[str, Any] = {}
    for key in ("alone", "project", "call"):
        result[key] = {s: score(rows if s == "all" else [r for r in rows if r["subset"] == s], key) for s in subsets}
    for r in rows:
        r["cer"] = round(error_rates([(r["ref"], r["project"])])[1], 3)
    result["worst"] = [{k: r[k] for k in ("file", "cer", "ref", "project")}
                       for r in sorted(rows, key=lambda r: -r["cer"])[:8]]
    return result


def call_audio(items: list[Utterance], seconds: float) -> list[np.ndarray]:
    """About `seconds` of back-to-back held-out speech as 20 ms phone-line frames (a worst case:
    a real caller is silent while the bot speaks)."""
    frames: list[np.ndarray] = []
    for item in items:
        samples, rate = read_audio(item.path)
        frames += phone_frames(samples, rate)
        if len(frames) * FRAME_S >= seconds:
            break
    return frames


def memory_per_stream(frames: list[np.ndarray], n: int = 50, seconds: float = 10.0) -> dict[str, Any]:
    """RSS growth for `n` open streams that each heard `seconds` of speech, in a fresh process:
    in this one, memory freed by earlier streams would be reused and hide the cost."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_memory_probe, (frames[: int(seconds * 50)], n))


def _memory_probe(frames: list[np.ndarray], n: int) -> dict[str, Any]:
    engine = make_engine("vietasr", PHONE_RATE)
    with engine.stream() as warm_up:  # first-use allocations (model arenas) belong to the engine
        for frame in frames:
            warm_up.accept(frame)
    gc.collect()
    before = rss_mb()
    streams = [engine.stream() for _ in range(n)]
    for stream in streams:
        for frame in frames:
            stream.accept(frame)
    delta = rss_mb() - before
    return {"streams": n, "audio_s_each": round(len(frames) / 50, 1), "rss_delta_mb": round(delta, 1),
            "per_stream_mb": round(delta / n, 2), "engine_rss_mb": round(before, 1)}


def concurrency_trial(engine: AsrEngine, frames: list[np.ndarray], n: int, seconds: float,
                      with_vad: bool) -> dict[str, Any]:
    """Feed one 20 ms frame to each of `n` streams per round, as a gateway would every 20 ms.

    Streams start at different points of the audio, as real calls do, so the engine's periodic
    inference steps do not all fall in the same round. Lag is computed on a virtual clock: round k
    is due when its audio is complete, at (k+1)·20 ms; it starts when due or when round k-1 ends.
    """
    from bot.vad.silero_onnx import SileroOnnxVad

    streams = [engine.stream() for _ in range(n)]
    vads = [SileroOnnxVad() for _ in range(n)] if with_vad else []
    offsets = [(i * len(frames)) // n for i in range(n)]
    rounds = int(seconds * 50)
    durations, vad_time = [], 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for k in range(rounds):
        t0 = time.perf_counter()
        for i, stream in enumerate(streams):
            frame = frames[(offsets[i] + k) % len(frames)]
            if with_vad:
                v0 = time.perf_counter()
                vads[i].is_speech(AudioFrame.from_samples(frame, PHONE_RATE))
                vad_time += time.perf_counter() - v0
            stream.accept(frame)
        durations.append(time.perf_counter() - t0)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    for stream in streams:
        stream.close()
    finish, lags = 0.0, []
    for k, d in enumerate(durations):
        due = (k + 1) * FRAME_S
        finish = max(due, finish) + d
        lags.append(finish - due)
    mean_ms = 1000 * statistics.fmean(durations)
    return {"streams": n, "mean_round_ms": round(mean_ms, 2),
            "p99_round_ms": round(1000 * float(np.percentile(durations, 99)), 1),
            "p99_lag_ms": round(1000 * float(np.percentile(lags, 99)), 1),
            "max_lag_ms": round(1000 * max(lags), 1),
            "cpu_per_wall": round(cpu / wall, 2), "vad_share": round(vad_time / wall, 3) if with_vad else None,
            "realtime": mean_ms < FRAME_MS}


def concurrency(engine: AsrEngine, frames: list[np.ndarray], with_vad: bool, seconds: float = 10.0,
                limit: int = 256) -> dict[str, Any]:
    """The largest N whose mean round (one frame to every stream) stays under 20 ms."""
    trials: dict[int, dict] = {}

    def ok(n: int) -> bool:
        trials[n] = concurrency_trial(engine, frames, n, seconds, with_vad)
        return trials[n]["realtime"]

    good, bad = 0, None
    n = 1
    while n <= limit and ok(n):  # double until it fails ...
        good, n = n, n * 2
    bad = n if n <= limit else None
    while bad is not None and bad - good > 1:  # ... then bisect
        mid = (good + bad) // 2
        good, bad = (mid, bad) if ok(mid) else (good, mid)
    at = trials.get(good)
    responsive = [t["streams"] for t in trials.values() if t["realtime"] and t["p99_lag_ms"] <= LAG_BUDGET_MS]
    return {"ceiling": good, "with_vad": with_vad, "trial_audio_s": seconds, "at_ceiling": at,
            "responsive": max(responsive, default=0), "trials": [trials[k] for k in sorted(trials)]}


def make_engine(name: str, rate: int) -> AsrEngine:
    from bot.asr.registry import ENGINES

    return ENGINES.engine_class(name)(sample_rate=rate)


def against_native(items: list[Utterance]) -> list[dict[str, Any]]:
    """The default engine and viet-asr's own library on the same model and path (b): errors, CPU
    per second of audio (what limits calls per box) and the wait for the text at a turn's end."""
    phone = []
    for item in items:
        samples, rate = read_audio(item.path)
        phone.append((normalise(item.text), phone_frames(samples, rate)))
    rows = []
    for name in ("vietasr", "vietasr-native"):
        engine = make_engine(name, PHONE_RATE)
        pairs, finals, audio = [], [], 0.0
        cpu0 = time.process_time()
        try:
            for ref, frames in phone:
                with engine.stream() as stream:
                    for frame in frames:
                        stream.accept(frame)
                    t0 = time.perf_counter()
                    pairs.append((ref, stream.final()))
                    finals.append(1000 * (time.perf_counter() - t0))
                audio += len(frames) * FRAME_S
        finally:
            engine.close()
        cpu = time.process_time() - cpu0
        wer, cer = error_rates(pairs)
        rows.append({"engine": name, "wer": round(wer, 4), "cer": round(cer, 4),
                     "cpu_per_audio_s": round(cpu / audio, 3),
                     "final_p50_ms": round(float(np.percentile(finals, 50)), 1),
                     "final_p95_ms": round(float(np.percentile(finals, 95)), 1)})
    return rows


def run(speech: Path = SPEECH) -> dict[str, Any]:
    items = corpus(speech)
    load_before = os.getloadavg()[0]  # other jobs on the machine slow every number below
    rss0 = rss_mb()
    t0 = time.perf_counter()
    engine = make_engine("vietasr", PHONE_RATE)
    load_s = time.perf_counter() - t0
    rss_loaded = rss_mb()
    engine_16k = make_engine("vietasr", 16000)
    try:
        result: dict[str, Any] = {
            "engine": "`vietasr`: viet-asr 0.1.0.dev11's embedded model run by onnxruntime "
                      "(bot/asr/vietasr_onnx_engine.py)",
            "against_native": against_native(items),
            "cpu_count": os.cpu_count(),
            "load_s": round(load_s, 2), "load_rss_mb": round(rss_loaded - rss0, 1),
            "accuracy": accuracy(engine, engine_16k, items),
        }
        held_out = [i for i in items if i.subset != "vivos-train-spk01"]
        frames = call_audio(held_out, seconds=60)
        result["memory"] = memory_per_stream(frames)
        result["concurrency"] = concurrency(engine, frames, with_vad=False)
        result["concurrency_with_vad"] = concurrency(engine, frames, with_vad=True)
        result["inference"] = inference_profile(engine, frames)
        result["load_avg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    finally:
        engine.close()
        engine_16k.close()
    return result


def inference_profile(engine: AsrEngine, frames: list[np.ndarray]) -> dict[str, float]:
    """Where a stream's time goes: most 20 ms frames are only buffered; every few hundred ms one
    frame runs the model. That step, single-threaded, is what limits streams per core."""
    costs = []
    with engine.stream() as stream:
        for frame in frames[:1500]:
            t0 = time.perf_counter()
            stream.accept(frame)
            costs.append(1000 * (time.perf_counter() - t0))
    heavy = [i for i, c in enumerate(costs) if c > 5]
    return {"median_frame_ms": round(statistics.median(costs), 3),
            "inference_step_ms": round(statistics.median([costs[i] for i in heavy]), 1) if heavy else 0.0,
            "inference_every_ms": round(20 * float(statistics.median(np.diff(heavy))), 0) if len(heavy) > 1 else 0.0,
            "share_of_time_in_inference": round(sum(costs[i] for i in heavy) / sum(costs), 3)}


def section(r: dict[str, Any]) -> str:
    a, p = r["accuracy"]["alone"], r["accuracy"]["project"]
    k = r["accuracy"].get("call", {})
    c, cv, mem, inf = r["concurrency"], r["concurrency_with_vad"], r["memory"], r["inference"]
    labels = {"all": "all 76", "vivos-test": "VIVOS test split (held out)",
              "vivos-train-spk01": "VIVOS train speaker SPK01 (model may know it)", "vieneu": "vieneu voices"}
    lines = [
        "## Speech recognition (ASR)",
        "",
        f"Engine: {r['engine']}. Corpus: the {p['all']['n']} read sentences of `shared/speech/vivos` and",
        "`vieneu` (16 kHz; see its SOURCES.md). Scored after NFC, lowercase, punctuation removed.",
        "(a) engine alone: `transcribe()` on the whole 16 kHz file; (b) the project's path: file → 8 kHz",
        "G.711 µ-law → decode →",
        "20 ms frames → streaming session → final; (c) as a call hears it: (b) with",
        "0.5 s of line silence around, Silero VAD and the turn detector choosing what reaches the recogniser.",
        "",
        "| subset | n | audio | WER (a) | CER (a) | WER (b) | CER (b) | WER (c) | CER (c) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label in labels.items():
        if key in p:
            call = (f"{k[key]['wer']:.1%} | {k[key]['cer']:.1%}" if key in k else "– | –")
            lines.append(f"| {label} | {p[key]['n']} | {p[key]['audio_s']:.0f} s | {a[key]['wer']:.1%} | "
                         f"{a[key]['cer']:.1%} | {p[key]['wer']:.1%} | {p[key]['cer']:.1%} | {call} |")
    at, atv = c["at_ceiling"], cv["at_ceiling"]
    lines += [
        "",
        "The same model in viet-asr's own library (engine `vietasr-native`, the default until session 8),",
        "on path (b): its bundled onnxruntime runs the graph without a current onnxruntime's fusions, and",
        "its beam search and segmentation lose words that greedy decoding of our own stream keeps.",
        "",
        "| engine | WER (b) | CER (b) | CPU per second of audio | text at a turn's end, p50 / p95 |",
        "|---|---|---|---|---|",
        *[f"| `{x['engine']}` | {x['wer']:.1%} | {x['cer']:.1%} | {x['cpu_per_audio_s']:.3f} s | "
          f"{x['final_p50_ms']} / {x['final_p95_ms']} ms |" for x in r.get("against_native", [])],
        "",
        "| cost | value |",
        "|---|---|",
        f"| model load | {r['load_s']} s, +{r['load_rss_mb']:.0f} MB RSS |",
        f"| real-time factor, one stream (a) / (b) | {a['all']['rtf']:.3f} / {p['all']['rtf']:.3f} |",
        f"| memory per stream ({mem['streams']} open streams, {mem['audio_s_each']:.0f} s of speech each, "
        f"fresh process) | {mem['per_stream_mb']} MB (process with the engine: {mem['engine_rss_mb']:.0f} MB) |",
        f"| inference | one step of ~{inf['inference_step_ms']} ms every ~{inf['inference_every_ms']:.0f} ms "
        f"of audio; other frames {inf['median_frame_ms']} ms; {inf['share_of_time_in_inference']:.0%} "
        "of the time is in these steps |",
        f"| concurrent streams in real time, one process, ASR only | **{c['ceiling']}** "
        f"(mean round {at['mean_round_ms']} ms of 20, p99 lag {at['p99_lag_ms']} ms, CPU/wall {at['cpu_per_wall']}) |"
        if at else f"| concurrent streams in real time, ASR only | {c['ceiling']} |",
        f"| same, with Silero VAD per stream | **{cv['ceiling']}** (mean round {atv['mean_round_ms']} ms, "
        f"VAD {atv['vad_share']:.0%} of the time) |" if atv else f"| same, with Silero VAD | {cv['ceiling']} |",
        "",
        f"Ceiling: the largest N for which feeding one 20 ms frame to each of N streams takes < 20 ms on",
        f"average ({c['trial_audio_s']:.0f} s of continuous held-out speech per stream, streams offset in",
        "time). Bottleneck: CPU. The model runs in the calling thread with one onnxruntime thread, so one",
        f"process's streams use one of the {r['cpu_count']} cores; the gateway runs one recognition",
        "process per core (`gateway.recognition`). Each inference step delays the rounds queued",
        "behind it, and near the ceiling these delays pile up: with recognition trailing the caller by at",
        f"most {LAG_BUDGET_MS:.0f} ms (p99), **{c['responsive']}** streams (ASR only) / **{cv['responsive']}** "
        "(with VAD) per process, of the N tried below.",
        f"Machine load average during the run: {r['load_avg'][0]} → {r['load_avg'][1]} "
        f"on {r['cpu_count']} cores (other jobs slow every number here).",
        "",
        "| streams | mean round, ASR only | p99 lag | mean round, with VAD | p99 lag |",
        "|---|---|---|---|---|",
    ]
    with_vad = {t["streams"]: t for t in cv["trials"]}
    for t in c["trials"]:
        v = with_vad.get(t["streams"])
        vad_cells = f"{v['mean_round_ms']} ms | {v['p99_lag_ms']} ms" if v else "– | –"
        lines.append(f"| {t['streams']} | {t['mean_round_ms']} ms | {t['p99_lag_ms']} ms | {vad_cells} |")
    lines += [
        "",
        "Worst recordings on the project path:",
        "",
        "| file | CER | reference | recognised |",
        "|---|---|---|---|",
    ]
    lines += [f"| {w['file']} | {w['cer']:.0%} | {w['ref']} | {w['project']} |" for w in r["accuracy"]["worst"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    # `python -m bench.asr [results.json]`: print the Markdown section, optionally keep the raw numbers.
    result = run()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(section(result))
