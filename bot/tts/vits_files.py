"""Which VITS voice a directory holds (`find_voice`): the operator provides the directory
(`voice.tts_model_dir`); nothing is ever downloaded.

Piper voice — `make_tts("piper", DIR)` (or "vits-onnx", which recognises the layout):

    DIR/NAME.onnx        e.g. model.onnx or vi_VN-vais1000-medium.onnx (one voice per directory)
    DIR/NAME.onnx.json   audio.sample_rate, espeak.voice ("vi"), phoneme_type ("espeak" | "text"),
                         phoneme_id_map, num_symbols, num_speakers, speaker_id_map,
                         inference.noise_scale / length_scale / noise_w

Coqui-trained VITS — `make_tts("vits-onnx", DIR)`, the model exported with Coqui's
`Vits.export_onnx()` (Coqui TTS itself is not needed here):

    DIR/NAME.onnx        the export (Coqui's default name is coqui_vits.onnx)
    DIR/config.json      the training config Coqui wrote beside the checkpoint; read here:
                         audio.sample_rate; characters.{characters_class, characters, phonemes,
                         punctuations, pad, eos, bos, blank, is_unique, is_sorted};
                         use_phonemes, phoneme_language ("vi"), phonemizer ("espeak");
                         text_cleaner (basic_cleaners, multilingual_cleaners, …); add_blank;
                         enable_eos_bos_chars; model_args.{inference_noise_scale, length_scale,
                         inference_noise_scale_dp, num_speakers}
    DIR/speakers.json    optional, multi-speaker: {"name": id}

How each config turns text into ids: bot/tts/vits_text.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.tts.base import TtsUnavailable
from bot.tts.neural import model_dir_path

PIPER_LAYOUT = "NAME.onnx + NAME.onnx.json (a Piper voice)"
COQUI_LAYOUT = "NAME.onnx + config.json (a Coqui VITS ONNX export)"


@dataclass(frozen=True)
class VoiceFiles:
    layout: str  # "piper" | "coqui"
    model: Path
    config: Path


def _one_model(candidates: list[Path], directory: Path) -> Path:
    if len(candidates) == 1:
        return candidates[0]
    named = [p for p in candidates if p.name == "model.onnx"]
    if named:
        return named[0]
    raise TtsUnavailable(f"{directory}: several voices ({', '.join(p.name for p in candidates)}); "
                         "keep one voice per directory, or name the one to use model.onnx")


def find_voice(model_dir: Path | str | None, layout: str = "auto", engine: str = "vits-onnx") -> VoiceFiles:
    """Which layout `model_dir` holds and its files; TtsUnavailable naming the expected files."""
    if layout not in ("auto", "piper", "coqui"):
        raise ValueError(f"layout must be auto, piper or coqui, not {layout!r}")
    expected = PIPER_LAYOUT if layout == "piper" else COQUI_LAYOUT if layout == "coqui" \
        else f"{PIPER_LAYOUT} or {COQUI_LAYOUT}"
    directory = model_dir_path(model_dir, engine, expected)
    models = sorted(p for p in directory.glob("*.onnx") if p.is_file())
    if not models:
        raise TtsUnavailable(f"{directory}: no .onnx model; expected {expected}")
    piper = [p for p in models if p.with_name(p.name + ".json").is_file()]
    if layout in ("auto", "piper") and piper:
        model = _one_model(piper, directory)
        return VoiceFiles("piper", model, model.with_name(model.name + ".json"))
    if layout in ("auto", "coqui") and (directory / "config.json").is_file():
        return VoiceFiles("coqui", _one_model(models, directory), directory / "config.json")
    names = ", ".join(p.name for p in sorted(directory.iterdir()))
    raise TtsUnavailable(f"{directory}: found {names}; expected {expected} "
                         f"(the config beside {models[0].name} is missing)")
