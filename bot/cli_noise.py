"""`bot noise-learn`: measure the recogniser's mistakes on real recordings (the noise channel
the brain's training examples are garbled with; bot/noise/learn.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.asr.base import AsrError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("noise-learn", help="learn the recogniser's mistakes from ../shared/speech "
                                                  "(-> data/noise/recogniser.yml; then `make train`)")
    p.add_argument("--speech", type=Path, help="recordings with transcripts.tsv per folder (default: ../shared/speech)")
    p.add_argument("--out", type=Path, help="table to write (default: data/noise/recogniser.yml)")
    p.set_defaults(func=cmd_noise_learn)
    return p


def cmd_noise_learn(settings: Any, args: argparse.Namespace) -> int:
    from bot.asr.registry import make_asr
    from bot.noise.learn import FOLDERS, TABLE, count, transcribe, write_table

    speech = args.speech or settings.root.parent / "shared" / "speech"
    if not any((speech / folder / "transcripts.tsv").exists() for folder in FOLDERS):
        print(f"error: no recordings with transcripts.tsv in {speech}/{{{','.join(FOLDERS)}}}", file=sys.stderr)
        return 2
    try:
        engine = make_asr(settings.voice.asr_engine, settings.voice.asr_model_dir or None)
    except AsrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        pairs = transcribe(speech, engine)
    finally:
        engine.close()
    table = count(pairs)
    out = args.out or settings.path(str(TABLE))
    write_table(table, out, f"{len(pairs)} recordings in {speech.name}/{{{','.join(FOLDERS)}}} "
                            f"({settings.voice.asr_engine}, 8 kHz µ-law)")
    print(f"{table['syllables']} syllables: {table['wrong']} heard wrong, {table['lost']} lost, "
          f"{table['added']} added -> {out}")
    return 0
