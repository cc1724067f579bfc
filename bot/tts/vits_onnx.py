"""VITS voices exported to ONNX, run with onnxruntime: Piper voices and Coqui-trained VITS.

Both are the same network behind the same ONNX interface (Piper's trainer is a fork of the VITS
code Coqui also uses):

    inputs   input          [1, T] int64    symbol ids of one sentence
             input_lengths  [1]    int64    T
             scales         [3]    float32  noise_scale, length_scale, noise_w
             sid            [1]    int64    speaker (multi-speaker voices only)
             langid         [1]    int64    language (multilingual Coqui exports only; we send 0)
    output   [1, 1, samples] float32 in [-1, 1], at the config's sample rate

They differ in how text becomes ids, which the config file beside the model describes. The
engine reads the model directory the operator provides (`voice.tts_model_dir`); it never
downloads anything. Which files a voice directory holds: bot/tts/vits_files.py; text → ids for
each kind: bot/tts/vits_text.py.

Every sentence is synthesised on its own and followed by `sentence_silence_s` of silence.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.tts.base import TtsCapabilities, TtsError, TtsUnavailable
from bot.tts.neural import SentenceVoice, files_digest
from bot.tts.vits_files import find_voice
from bot.tts.vits_text import CoquiText, PiperText

REQUIRED_INPUTS = ("input", "input_lengths", "scales")
OPTIONAL_INPUTS = ("sid", "langid")


class VitsOnnxEngine(SentenceVoice):
    """A Piper voice or a Coqui VITS export, from a local directory, on onnxruntime (CPU)."""

    capabilities = TtsCapabilities(streaming=False)

    def __init__(self, model_dir: Path | str | None, layout: str = "auto", speaker: int | str | None = None,
                 length_scale: float | None = None, noise_scale: float | None = None, noise_w: float | None = None,
                 phonemizer: str = "auto", sentence_silence_s: float = 0.2, volume: float = 1.0,
                 threads: int | None = None, espeak_binary: str = "espeak-ng") -> None:
        engine = "piper" if layout == "piper" else "vits-onnx"
        self.files = find_voice(model_dir, layout, engine)
        self.name = "piper" if self.files.layout == "piper" else "vits-onnx"
        try:
            config = json.loads(self.files.config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise TtsUnavailable(f"{self.files.config}: not readable JSON: {exc}") from None
        if not isinstance(config, dict):
            raise TtsUnavailable(f"{self.files.config}: expected a JSON object")
        self.text: PiperText | CoquiText
        if self.files.layout == "piper":
            self.text = PiperText(config, self.files.config, phonemizer, espeak_binary)
        else:
            self.text = CoquiText(config, self.files.config, espeak_binary)
        self.sample_rate = self.text.sample_rate
        default_noise, default_length, default_w = self.text.scales
        self.scales = np.array([default_noise if noise_scale is None else noise_scale,
                                default_length if length_scale is None else length_scale,
                                default_w if noise_w is None else noise_w], dtype=np.float32)
        self.sentence_silence_s = float(sentence_silence_s)
        self.volume = float(volume)

        try:
            import onnxruntime as ort  # noqa: PLC0415  (heavy: only when this engine is chosen)
        except ImportError as exc:
            raise TtsUnavailable(f"TTS engine '{self.name}' needs the Python package onnxruntime "
                                 f"(pip install -r requirements/gateway.lock): {exc}") from None
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self._session = ort.InferenceSession(str(self.files.model), sess_options=options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise TtsUnavailable(f"{self.files.model}: onnxruntime cannot load it: {exc}") from None
        inputs = [i.name for i in self._session.get_inputs()]
        missing = [n for n in REQUIRED_INPUTS if n not in inputs]
        extra = [n for n in inputs if n not in REQUIRED_INPUTS + OPTIONAL_INPUTS]
        if missing or extra:
            raise TtsUnavailable(f"{self.files.model}: inputs {inputs} are not a VITS export's "
                                 f"({', '.join(REQUIRED_INPUTS)}, optional {', '.join(OPTIONAL_INPUTS)})")
        self._sid = self._speaker_feed(speaker, "sid" in inputs)
        self._langid = np.array([0], dtype=np.int64) if "langid" in inputs else None
        self.speaker = None if self._sid is None else int(self._sid[0])
        self._digest = files_digest([self.files.model, self.files.config])

    def _speaker_feed(self, speaker: int | str | None, has_sid: bool) -> np.ndarray | None:
        names = self.text.speaker_ids
        if not has_sid:
            if speaker is not None:
                raise TtsUnavailable(f"{self.files.model.name} has one speaker; speaker={speaker!r} cannot be used")
            return None
        if speaker is None:
            sid = 0
        elif isinstance(speaker, str) and speaker in names:
            sid = names[speaker]
        elif isinstance(speaker, int) or (isinstance(speaker, str) and speaker.isdigit()):
            sid = int(speaker)
        else:
            raise TtsUnavailable(f"unknown speaker {speaker!r}; this voice has "
                                 f"{', '.join(names) or 'numbered speakers only'}")
        count = self.text.num_speakers
        if count > 1 and not 0 <= sid < count:
            raise TtsUnavailable(f"speaker {sid} out of range: this voice has {count} speakers (0-{count - 1})")
        return np.array([sid], dtype=np.int64)

    @property
    def voice_key(self) -> str:
        noise, length, w = (f"{float(x):g}" for x in self.scales)
        return (f"{self.name}:{self.files.model.stem}:{self._digest}:{self.text.phonemizer}:spk{self.speaker}"
                f":n{noise}:l{length}:w{w}:sil{self.sentence_silence_s:g}:vol{self.volume:g}")

    def ids(self, text: str) -> list[list[int]]:
        """The id sequence of each sentence of `text`, as fed to the model."""
        return self.text.sentences(text)

    def infer(self, ids: Sequence[int]) -> np.ndarray:
        """One sentence's ids → float samples (blocking)."""
        feeds = {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
                 "scales": self.scales}
        if self._sid is not None:
            feeds["sid"] = self._sid
        if self._langid is not None:
            feeds["langid"] = self._langid
        try:
            out = self._session.run(None, feeds)[0]
        except Exception as exc:  # onnxruntime's own exception types
            raise TtsError(f"{self.files.model.name}: inference failed on {len(ids)} ids: {exc}") from None
        return np.asarray(out, dtype=np.float32).reshape(-1)

    unsayable = "no known characters or phonemes"

    async def aclose(self) -> None:
        self._session = None  # type: ignore[assignment]
