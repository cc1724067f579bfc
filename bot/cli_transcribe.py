"""`bot transcribe FILE...`: speech to text for audio files, offline, one line per file."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.asr.base import AsrError
from bot.audio.files import AudioFileError, read_audio
from bot.audio.phone import PHONE_RATE, through_phone_line


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `transcribe` on the `bot` command's subparsers."""
    p = subparsers.add_parser("transcribe", help="speech to text for audio files (offline)")
    p.add_argument("files", nargs="+", type=Path, help="audio files (WAV PCM/µ-law/A-law, FLAC, ...; any rate)")
    p.add_argument("--jsonl", action="store_true",
                   help='one JSON object per file: {"file", "text"} or {"file", "error"}')
    p.add_argument("--engine", help="ASR engine (default: voice.asr_engine in settings, else vietasr)")
    p.add_argument("--model-dir", help="model directory, for engines that need one (default: voice.asr_model_dir)")
    p.add_argument("--phone", action="store_true",
                   help="hear the files as the bot does on a call (8 kHz G.711 µ-law)")
    p.set_defaults(func=cmd_transcribe)
    return p


def cmd_transcribe(settings: Any, args: argparse.Namespace) -> int:
    """Entry point from `bot` (settings may be None when run on its own)."""
    from bot.asr.registry import make_asr

    voice = getattr(settings, "voice", None)
    name = args.engine or (voice.asr_engine if voice else "vietasr")
    model_dir = args.model_dir or (voice.asr_model_dir if voice and name == voice.asr_engine else None) or None
    try:
        engine = make_asr(name, model_dir)
    except AsrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = False
    try:
        for path in args.files:
            record: dict[str, str] = {"file": str(path)}
            try:
                if args.phone:
                    samples, rate = read_audio(path, None)  # rate: the file's
                    samples, rate = through_phone_line(samples, rate), PHONE_RATE
                else:
                    samples, rate = read_audio(path, engine.sample_rate)[0], engine.sample_rate
                record["text"] = engine.transcribe(samples, rate)
            except AudioFileError as exc:
                record["error"] = str(exc)
                failed = True
            _print(record, args.jsonl)
    finally:
        engine.close()
    return 1 if failed else 0


def _print(record: dict[str, str], jsonl: bool) -> None:
    if jsonl:
        print(json.dumps(record, ensure_ascii=False), flush=True)
    elif "error" in record:
        print(f"error: {record['error']}", file=sys.stderr, flush=True)
    else:
        print(f"{record['file']}\t{record['text']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run `transcribe` on its own: `python -m bot.cli_transcribe [--jsonl] FILE...`."""
    parser = argparse.ArgumentParser(prog="bot")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["transcribe", *(sys.argv[1:] if argv is None else argv)])
    return args.func(None, args)


if __name__ == "__main__":
    sys.exit(main())
