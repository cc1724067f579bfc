"""Choosing an engine by name."""
from __future__ import annotations

import pytest

from bot.tts.base import TtsUnavailable

from bot.tts import make_tts
from bot.tts.espeak import EspeakEngine


def test_registry_makes_espeak_by_default_with_options():
    engine = make_tts()
    assert isinstance(engine, EspeakEngine) and engine.voice == "vi+f2" and engine.speed == 120
    assert make_tts("espeak", speed=160).speed == 160


@pytest.mark.parametrize("name", ["piper", "vits-onnx", "mms"])
def test_neural_engines_need_a_model_directory(name):
    with pytest.raises(TtsUnavailable, match="needs a model directory"):
        make_tts(name)


def test_unknown_engine_lists_what_exists():
    with pytest.raises(ValueError, match="unknown TTS engine 'festival'.*espeak"):
        make_tts("festival")
