"""A fake engine (fast, deterministic, counts its calls) and the real knowledge base."""
from __future__ import annotations

import numpy as np
import pytest

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


@pytest.fixture
def fake() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    kb, _ = load_knowledge_base(ROOT / "data/faq")
    assert kb is not None
    return kb
