"""Choose a speech synthesiser by name (settings / command line)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.tts.base import TtsEngine

AVAILABLE = ("espeak",)
# Named so a configuration can mention them; each needs its model files under model_dir.
PLANNED = {
    "piper": "Piper VITS voices (onnxruntime)",
    "vits-onnx": "a Vietnamese VITS model exported to ONNX",
    "mms": "Meta MMS-TTS Vietnamese (transformers + torch)",
}


def make_tts(name: str = "espeak", model_dir: Path | str | None = None, **options: Any) -> TtsEngine:
    """The engine called `name`; `options` go to its constructor (e.g. voice, speed)."""
    key = name.strip().lower()
    if key == "espeak":
        from bot.tts.espeak import EspeakEngine  # engines import their own heavy dependencies

        return EspeakEngine(**options)
    if key in PLANNED:
        raise NotImplementedError(f"TTS engine '{key}' ({PLANNED[key]}) is planned but not implemented yet; "
                                  f"available: {', '.join(AVAILABLE)}")
    raise ValueError(f"unknown TTS engine '{name}'; available: {', '.join(AVAILABLE)}; "
                     f"planned: {', '.join(PLANNED)}")
