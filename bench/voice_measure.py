"""The recogniser round trip of many sentences with one synthetic voice, on every core.

Each worker process loads its own recogniser (vietasr is not thread-safe) and its own voice, then
scores sentences one at a time: the pieces from a prompt cache of its own (8 kHz, empty at start),
joined as a call joins them, through the µ-law line, transcribed, compared (bot/tts/roundtrip.py).
"""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_state: dict[str, Any] = {}


@dataclass(frozen=True)
class Voice:
    label: str                 # how the benchmark names it
    engine: str                # registry name
    options: dict[str, Any]    # constructor options
    every: int = 1             # measure every n-th sentence (a voice too slow for all of them here)
    limit: int | None = None   # and at most this many of them


def _init(voice: Voice, asr_name: str, recordings_dir: str | None, scratch: str) -> None:
    # Heavy imports happen in the worker only, after the spawn.
    from bot.asr.registry import make_asr
    from bot.tts.cache import PromptCache
    from bot.tts.recordings import RecordedPrompts
    from bot.tts.registry import make_tts

    engine = make_tts(voice.engine, **voice.options)
    recordings = RecordedPrompts(Path(recordings_dir)) if recordings_dir else None
    # An empty cache: every piece is synthesised, so synthesis speed is measured too.
    _state.update(engine=engine, asr=make_asr(asr_name),
                  cache=PromptCache.for_engine(engine, tempfile.mkdtemp(dir=scratch), recordings=recordings))


def _score(item: tuple[str, str]) -> dict[str, Any]:
    from bot.tts.roundtrip import round_trip

    sid, text = item
    cache = _state["cache"]
    plan = cache.plan(text)
    recorded = bool(plan) and all(seg.source == "recording" for seg in plan)
    started = time.perf_counter()
    # The worker's own cache keeps each sentence once: the per-branch prompts repeat most of theirs,
    # and synthesis (not the recogniser) is the slow part for neural voices.
    audio = asyncio.run(cache.audio(text, _state["engine"]))
    synth_s = time.perf_counter() - started
    fresh = [seg for seg in plan if not seg.cached]
    synth_audio_s = sum(len(cache.get(seg.text)) for seg in fresh) / cache.sample_rate
    trip = round_trip(audio, cache.sample_rate, text, _state["asr"])
    return {"id": sid, "text": text, "cer": trip.cer, "heard": trip.heard, "seconds": trip.seconds, "synth_s": synth_s,
            "synth_audio_s": synth_audio_s, "source": "recording" if recorded else "synthetic"}


def measure(voice: Voice, items: list[tuple[str, str]], asr_name: str = "vietasr",
            workers: int | None = None, recordings_dir: Path | None = None,
            on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """One row per (id, text): cer, heard, seconds of audio, synthesis seconds (wall, per worker),
    source (recording when `recordings_dir` has current recordings saying the whole text).
    `on_row` sees each row as soon as it is measured (a slow voice's partial results survive)."""
    workers = workers or os.cpu_count() or 1
    # spawn, not fork: onnxruntime and the recogniser's native threads do not survive a fork.
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="voice-bench-") as scratch:
        initargs = (voice, asr_name, str(recordings_dir) if recordings_dir else None, scratch)
        with ctx.Pool(workers, initializer=_init, initargs=initargs) as pool:
            rows = []
            for row in pool.imap(_score, items, chunksize=1):
                rows.append(row)
                if on_row:
                    on_row(row)
            return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    cers = [r["cer"] for r in rows]
    audio_s = sum(r["seconds"] for r in rows)
    synth_audio_s = sum(r["synth_audio_s"] for r in rows)
    return {
        "n": len(rows),
        "mean_cer": round(statistics.fmean(cers), 4) if cers else None,
        "median_cer": round(statistics.median(cers), 4) if cers else None,
        "worst": [{"id": r["id"], "cer": round(r["cer"], 3)} for r in sorted(rows, key=lambda r: -r["cer"])[:5]],
        "audio_s": round(audio_s, 1),
        # Synthesis cost per second of speech: what live synthesis of an unknown sentence costs a call.
        "synth_rtf": round(sum(r["synth_s"] for r in rows) / synth_audio_s, 4) if synth_audio_s else None,
    }
