"""Fixtures for ASR tests: the real vietasr engine (loaded once) and the shared recordings."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bot.audio.files import read_audio
from bot.audio.frames import frames_of
from bot.audio.phone import from_phone_line, to_phone_line

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "speech"
needs_speech = pytest.mark.skipif(not SPEECH.is_dir(), reason=f"real recordings not available ({SPEECH})")


def transcripts(folder: str) -> list[tuple[Path, str]]:
    lines = (SPEECH / folder / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
    return [(SPEECH / folder / name, text) for name, text in (line.split("\t", 1) for line in lines if line)]


def held_out() -> list[tuple[Path, str]]:
    """Recordings the engine cannot have trained on: VIVOS test split + the vieneu voices."""
    return [item for item in transcripts("vivos") if "VIVOSDEV" in item[0].name] + transcripts("vieneu")


def phone_line(path: Path) -> np.ndarray:
    """A recording as the bot hears it on a call: 8 kHz after a G.711 µ-law round trip."""
    samples, rate = read_audio(path)
    return from_phone_line(to_phone_line(samples, rate))


def stream_in_frames(engine, samples_8k: np.ndarray) -> str:
    """The project's streaming path: 20 ms frames into one stream, then final()."""
    with engine.stream() as stream:
        for frame in frames_of(samples_8k, 8000):
            stream.accept(frame.samples)
        return stream.final()


@pytest.fixture(scope="session")
def vietasr_engine():
    from bot.asr.vietasr_onnx_engine import VietAsrOnnxEngine

    engine = VietAsrOnnxEngine()
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def vietasr_native_engine():
    from bot.asr.vietasr_native_engine import VietAsrEngine

    engine = VietAsrEngine()
    yield engine
    engine.close()


@dataclass(frozen=True)
class LongTurn:
    """31 s: 8 VIVOS test recordings back to back, heard as one caller's turn by `engine`."""
    whole: np.ndarray
    separately: str  # each recording transcribed on its own, joined
    at_once: str     # the whole streamed in 20 ms frames as one turn
    references: str


def long_turn(engine) -> LongTurn:
    items = held_out()[:8]
    pieces = [phone_line(path) for path, _ in items]
    whole = np.concatenate(pieces)
    return LongTurn(whole, " ".join(engine.transcribe(p, 8000) for p in pieces),
                    stream_in_frames(engine, whole), " ".join(ref for _, ref in items))

