"""`bot prompts`: render everything the bot says into the prompt cache; `--check` audits recordings;
`--check --jsonl` also measures, sentence by sentence, how well a caller would follow it."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.config import Settings

if TYPE_CHECKING:
    from bot.content.model import KnowledgeBase
    from bot.tts.base import TtsEngine
    from bot.tts.cache import PromptCache


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("prompts", help="pre-render the bot's speech (FAQ answers, responses, prompts)")
    p.add_argument("--check", action="store_true",
                   help="render nothing; list stale/orphan recordings and unrendered sentences (exit 1 if any)")
    p.add_argument("--jsonl", action="store_true",
                   help="with --check: one JSON object per sentence on stdout: id, kind (answer | response | prompt | "
                        "danger), text, source (recording | synthetic), stale, cer (the recogniser's character "
                        "error rate on what a caller hears through an 8 kHz G.711 line, 0..1); the summary goes "
                        "to stderr. Transcribes every sentence: minutes, not seconds")
    p.add_argument("--only", help="with --jsonl: comma-separated ids to measure (default: all)")
    p.add_argument("--engine", help="TTS engine (default: voice.tts_engine in settings.yml)")
    p.add_argument("--model-dir", help="voice model directory (default: voice.tts_model_dir)")
    p.add_argument("--cache-dir", help="prompt cache directory (default: voice.prompt_cache_dir)")
    p.add_argument("--recordings", help="editors' recordings: <id>.wav + <id>.txt (default: voice.recordings_dir)")
    p.add_argument("--rate", type=int, default=8000, help="cache sample rate in Hz (default: 8000)")
    p.set_defaults(func=cmd_prompts)
    return p


def cmd_prompts(settings: Settings, args: argparse.Namespace) -> int:
    from bot.content.load import load_knowledge_base
    from bot.tts import TtsUnavailable, make_tts
    from bot.tts.cache import PromptCache
    from bot.tts.recordings import RecordedPrompts, recording_problems
    from bot.tts.render import render_prompts

    kb, problems = load_knowledge_base(settings.path(settings.content.dir))
    if kb is None:
        for problem in problems:
            if problem.severity == "error":
                print(problem, file=sys.stderr)
        print("the content in data/faq/ has errors; fix them (bot validate)", file=sys.stderr)
        return 1
    voice = settings.voice
    recordings_dir = settings.path(args.recordings or voice.recordings_dir)
    try:
        engine = make_tts(args.engine or voice.tts_engine, args.model_dir or voice.tts_model_dir or None)
    except (TtsUnavailable, NotImplementedError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    cache = PromptCache.for_engine(engine, settings.path(args.cache_dir or voice.prompt_cache_dir), args.rate, RecordedPrompts(recordings_dir))
    if args.check:
        if args.jsonl:
            only = {i.strip() for i in args.only.split(",") if i.strip()} if args.only else None
            measured = _jsonl(settings, kb, cache, engine, recordings_dir, only)
            if measured:
                return measured
        return _check(kb, cache, recordings_dir, recording_problems(kb, recordings_dir),
                      sys.stderr if args.jsonl else sys.stdout)
    stats = asyncio.run(render_prompts(kb, engine, cache))
    files, size = cache.size()
    print(f"{stats.rendered} sentences rendered in {stats.seconds:.1f} s "
          f"({stats.audio_seconds / 60:.1f} min of speech), "
          f"{stats.cached} already cached, {stats.recorded} recorded by a person; "
          f"{_where(cache.directory, settings.root)}: {files} files, {size / 1e6:.1f} MB")
    return 0


def _check(kb: KnowledgeBase, cache: PromptCache, recordings_dir: Path, problems: list[tuple[str, str, str]],
           out: TextIO = sys.stdout) -> int:
    from bot.tts.texts import spoken_texts

    bad = [(rid, status, why) for rid, status, why in problems if status != "ok"]
    for rid, status, why in bad:
        print(f"{recordings_dir / (rid + '.wav')}: {status}: {why}", file=out)
    missing = {seg.text for text in spoken_texts(kb).values() for seg in cache.plan(text) if not seg.cached}
    count = {s: sum(p[1] == s for p in problems) for s in ("ok", "stale", "orphan")}
    print(f"recordings: {count['ok']} ok, {count['stale']} stale, {count['orphan']} orphan; "
          f"{len(missing)} sentences not rendered yet" + (" (run `bot prompts`)" if missing else ""), file=out)
    return 1 if bad or missing else 0


def _jsonl(settings: Settings, kb: KnowledgeBase, cache: PromptCache, engine: TtsEngine, recordings_dir: Path,
           only: set[str] | None) -> int:
    """Print one JSON line per sentence; 0 when done, 1 when it could not measure."""
    from bot.asr.base import AsrError
    from bot.asr.registry import make_asr
    from bot.tts.base import TtsError
    from bot.tts.coverage import coverage
    from bot.tts.roundtrip import heard_cer

    sentences = coverage(kb, cache, recordings_dir)
    if only is not None:
        unknown = only - {s.id for s in sentences}
        if unknown:
            print(f"error: no sentence has the id {', '.join(sorted(unknown))}", file=sys.stderr)
            return 1
        sentences = [s for s in sentences if s.id in only]
    try:
        asr = make_asr(settings.voice.asr_engine, settings.voice.asr_model_dir or None)
    except AsrError as exc:
        print(f"error: the recogniser that measures the round trip cannot load: {exc}", file=sys.stderr)
        return 1
    for sentence in sentences:
        # Exactly what a call would play: recordings and cached pieces, the rest synthesised as
        # the cache would store it (nothing is written: --check renders nothing).
        try:
            audio = asyncio.run(cache.preview(sentence.text, engine))
            cer: float | None = round(heard_cer(audio, cache.sample_rate, sentence.text, asr), 4)
        except TtsError as exc:
            print(f"{sentence.id}: cannot synthesise: {exc}", file=sys.stderr)
            cer = None
        print(json.dumps({**sentence.as_dict(), "cer": cer}, ensure_ascii=False), flush=True)
    asr.close()
    return 0


def _where(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
