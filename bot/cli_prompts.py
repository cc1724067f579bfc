"""`bot prompts`: render everything the bot says into the prompt cache; `--check` audits recordings."""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:
    from bot.content.model import KnowledgeBase
    from bot.tts.cache import PromptCache


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("prompts", help="pre-render the bot's speech (FAQ answers, responses, prompts)")
    p.add_argument("--check", action="store_true",
                   help="render nothing; list stale/orphan recordings and unrendered sentences (exit 1 if any)")
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
        return _check(kb, cache, recordings_dir, recording_problems(kb, recordings_dir))
    stats = asyncio.run(render_prompts(kb, engine, cache))
    files, size = cache.size()
    print(f"{stats.rendered} sentences rendered in {stats.seconds:.1f} s "
          f"({stats.audio_seconds / 60:.1f} min of speech), "
          f"{stats.cached} already cached, {stats.recorded} recorded by a person; "
          f"{_where(cache.directory, settings.root)}: {files} files, {size / 1e6:.1f} MB")
    return 0


def _check(kb: KnowledgeBase, cache: PromptCache, recordings_dir: Path, problems: list[tuple[str, str, str]]) -> int:
    from bot.tts.texts import spoken_texts

    bad = [(rid, status, why) for rid, status, why in problems if status != "ok"]
    for rid, status, why in bad:
        print(f"{recordings_dir / (rid + '.wav')}: {status}: {why}")
    missing = {seg.text for text in spoken_texts(kb).values() for seg in cache.plan(text) if not seg.cached}
    count = {s: sum(p[1] == s for p in problems) for s in ("ok", "stale", "orphan")}
    print(f"recordings: {count['ok']} ok, {count['stale']} stale, {count['orphan']} orphan; "
          f"{len(missing)} sentences not rendered yet" + (" (run `bot prompts`)" if missing else ""))
    return 1 if bad or missing else 0


def _where(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
