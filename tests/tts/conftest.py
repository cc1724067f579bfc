"""A fake engine (fast, deterministic, counts its calls), recordings, and the real knowledge base."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.content.load import load_knowledge_base
from bot.content.model import KnowledgeBase
from bot.tts.base import TtsEngine
from tests.conftest import ROOT


class FakeEngine(TtsEngine):
    """0.01 s of a constant level per character, at 16 kHz: lengths are predictable."""

    name = "fake"
    sample_rate = 16000

    def __init__(self, voice: str = "a", level: int = 1000) -> None:
        self.voice = voice
        self.level = level
        self.calls: list[str] = []

    @property
    def voice_key(self) -> str:
        return f"fake:{self.voice}"

    async def synth(self, text: str) -> np.ndarray:
        self.calls.append(text)
        return np.full(len(text) * 160, self.level, dtype=np.int16)


VOICE = 3000  # the "person" records at this level; the fake engine speaks at 1000


def record(directory: Path, rid: str, text: str | None, sidecar: str = "txt", rate: int = 44100) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    stereo = np.full((rate, 2), VOICE, dtype=np.int16)  # one second, stereo, CD rate
    sf.write(directory / f"{rid}.wav", stereo, rate)
    if text is not None and sidecar == "txt":
        (directory / f"{rid}.txt").write_text(text + "\n", encoding="utf-8")
    elif text is not None:
        (directory / f"{rid}.yml").write_text(f'text: "{text}"\n', encoding="utf-8")


@pytest.fixture
def fake() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    kb, _ = load_knowledge_base(ROOT / "data/faq")
    assert kb is not None
    return kb
