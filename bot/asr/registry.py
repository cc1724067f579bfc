"""Choose an ASR engine by name. Engine modules (and their heavy imports) load only when chosen."""
from __future__ import annotations

import importlib

from bot.asr.base import AsrEngine, AsrError

# name -> (module, class). Adding an engine = one module + one line here + its tests.
ENGINES: dict[str, tuple[str, str]] = {
    "vietasr": ("bot.asr.vietasr_engine", "VietAsrEngine"),
    "vosk": ("bot.asr.vosk_engine", "VoskEngine"),
    "transformers": ("bot.asr.transformers_engine", "TransformersEngine"),
}


def make_asr(name: str, model_dir: str | None = None) -> AsrEngine:
    """Load the engine called `name` (model from `model_dir` for engines that need one)."""
    try:
        module_name, class_name = ENGINES[name]
    except KeyError:
        raise AsrError(f"unknown ASR engine {name!r}; known engines: {', '.join(sorted(ENGINES))}") from None
    engine_class = getattr(importlib.import_module(module_name), class_name)
    return engine_class(model_dir=model_dir)
