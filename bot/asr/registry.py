"""Choose an ASR engine by name. Engine modules (and their heavy imports) load only when chosen."""
from __future__ import annotations

from bot.asr.base import AsrEngine, AsrError
from bot.engines import EngineSpec, Registry

# Adding an engine = one module + one line here + its tests.
ENGINES: Registry[AsrEngine] = Registry("ASR", {
    "vietasr": EngineSpec("bot.asr.vietasr_onnx_engine", "VietAsrOnnxEngine",
                          "viet-asr's embedded model, run by onnxruntime", packages="kaldi-native-fbank onnxruntime"),
    "vietasr-native": EngineSpec("bot.asr.vietasr_native_engine", "VietAsrEngine",
                                 "viet-asr's embedded model in its own library (half the speed)"),
    "vosk": EngineSpec("bot.asr.vosk_engine", "VoskEngine", "a Vosk model directory", packages="vosk"),
    "transformers": EngineSpec("bot.asr.transformers_engine", "TransformersEngine",
                               "a CTC or Whisper model directory", packages="transformers torch"),
}, error=AsrError, setting="voice.asr_engine / voice.asr_model_dir")


def make_asr(name: str, model_dir: str | None = None) -> AsrEngine:
    """Load the engine called `name` (model from `model_dir` for engines that need one)."""
    return ENGINES.make(name, model_dir=model_dir)
