"""`bot call`: one simulated phone call from a script, as JSON events on stdout."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path

import numpy as np

from bot.config import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("call", help="simulate a whole phone call (WAV files, keypad, silence)")
    p.add_argument("--script", action="append", required=True, metavar="ITEM",
                   help="FILE.wav (the caller speaks), dtmf:DIGITS, silence:SECONDS or barge:FILE.wav; repeatable")
    p.add_argument("--jsonl", action="store_true", help="one JSON event per line (default: readable lines)")
    p.add_argument("--out", type=Path, help="write the bot's side of the call to this WAV file")
    p.set_defaults(func=cmd_call)
    return p


def _printer(jsonl: bool):
    def emit(event: dict) -> None:
        if jsonl:
            print(json.dumps(event, ensure_ascii=False), flush=True)
        else:
            rest = {k: v for k, v in event.items() if k not in ("t", "event")}
            print(f"{event['t']:8.2f}s {event['event']:<12} {json.dumps(rest, ensure_ascii=False)}", flush=True)
    return emit


async def _call(settings: Settings, args: argparse.Namespace) -> int:
    from bot.audio.files import write_wav
    from bot.brain.client import BrainClient
    from bot.brain.servers import running_brain
    from bot.call.events import to_json
    from bot.call.records import CallRecorder
    from bot.call.session import CallSession, call_config, make_engines
    from bot.call.virtual_clock import VirtualClock, parse_script, run_call, script_problems
    from bot.content.load import load_knowledge_base

    script = parse_script(args.script)
    problems = script_problems(script)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    kb, _ = load_knowledge_base(settings.path(settings.content.dir))
    if kb is None:
        print("error: the content in data/faq/ has errors (bot validate)", file=sys.stderr)
        return 1
    engines = make_engines(settings, kb)
    config = call_config(settings)
    emit = _printer(args.jsonl)
    call_id = f"sim-{uuid.uuid4().hex[:12]}"
    recorder = CallRecorder(settings.path(settings.privacy.records_dir), call_id,
                            keep_transcripts=settings.privacy.keep_transcripts)
    bot_audio: list[np.ndarray] = []
    async with running_brain(settings) as brain:
        async with BrainClient(brain.url, brain.token, kb, settings.dialogue.human_branch,
                               settings.rasa.timeout_s) as client:
            clock = VirtualClock()
            session = CallSession(call_id, engines, client, config, clock, emit, recorder)
            summary = await run_call(session, script, clock, config.rate, bot_audio=bot_audio,
                                     max_s=settings.voice.max_call_s + 60)
    emit({**to_json(summary), "t": round(clock() / 1000, 3)})  # the last line: the summary, "t" at its end
    if args.out:
        write_wav(args.out, np.concatenate(bot_audio) if bot_audio else np.zeros(0, np.int16), config.rate)
    return 0


def cmd_call(settings: Settings, args: argparse.Namespace) -> int:
    from bot.call.virtual_clock import ScriptError

    try:
        return asyncio.run(_call(settings, args))
    except ScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
