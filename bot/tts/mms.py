"""Meta MMS-TTS (a VITS voice per language) through transformers + torch, from a local directory.

The directory is what `VitsModel.save_pretrained` + `VitsTokenizer.save_pretrained` write, i.e.
the files of the facebook/mms-tts-vie model repository, copied there by the operator:

    DIR/config.json             VitsConfig (model_type "vits"; sampling_rate, 16000 for MMS)
    DIR/model.safetensors       the weights (or pytorch_model.bin, or a sharded *.index.json)
    DIR/vocab.json              character → id, read by VitsTokenizer
    DIR/tokenizer_config.json   normalize, add_blank, phonemize (false for Vietnamese), is_uroman
    DIR/special_tokens_map.json optional

Both are loaded with `local_files_only=True`: nothing is ever downloaded. Text is lowercased and
brought to the Unicode form (NFC or NFD) the vocabulary is written in; characters the vocabulary
lacks (punctuation, digits) are dropped by the tokenizer, as MMS was trained. Each sentence is
synthesised on its own with a fixed seed (VITS samples noise, so the same text gives the same
audio) and followed by `sentence_silence_s` of silence.
"""
from __future__ import annotations

import json
import logging
import threading
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from bot.tts.base import TtsCapabilities, TtsError, TtsUnavailable
from bot.tts.texts import split_sentences
from bot.tts.neural import SentenceVoice, WarnOnce, files_digest, model_dir_path

log = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "vocab.json", "tokenizer_config.json")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
EXPECTED = f"{', '.join(REQUIRED_FILES)} and {' or '.join(WEIGHT_FILES[:2])} (a saved VitsModel, e.g. mms-tts-vie)"


def check_model_dir(model_dir: Path | str | None) -> tuple[Path, Path]:
    """(directory, weights file) or TtsUnavailable naming what is missing."""
    directory = model_dir_path(model_dir, "mms", EXPECTED)
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    weights = next((directory / w for w in WEIGHT_FILES if (directory / w).is_file()), None)
    if weights is None:
        missing.append(" or ".join(WEIGHT_FILES[:2]))
    if missing:
        raise TtsUnavailable(f"{directory}: missing {', '.join(missing)}; the 'mms' engine expects {EXPECTED}")
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TtsUnavailable(f"{directory / 'config.json'}: not readable JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("model_type") != "vits":
        kind = config.get("model_type") if isinstance(config, dict) else None
        raise TtsUnavailable(f"{directory / 'config.json'}: model_type is {kind!r}, not 'vits' (an MMS-TTS voice)")
    return directory, weights


def _import_torch_transformers() -> tuple[Any, Any]:
    try:
        import torch  # noqa: PLC0415  (heavy: only when this engine is chosen)
        import transformers  # noqa: PLC0415
    except ImportError as exc:
        raise TtsUnavailable("TTS engine 'mms' needs the Python packages torch and transformers "
                             f"(pip install -r requirements/gateway.lock): {exc}") from None
    return torch, transformers


class MmsEngine(SentenceVoice):
    """A VitsModel + VitsTokenizer from a local directory, on the CPU."""

    name = "mms"
    capabilities = TtsCapabilities(streaming=False)

    def __init__(self, model_dir: Path | str | None, speaker: int | None = None, length_scale: float | None = None,
                 noise_scale: float | None = None, noise_w: float | None = None, seed: int = 0,
                 sentence_silence_s: float = 0.2, volume: float = 1.0, threads: int | None = None) -> None:
        self.directory, weights = check_model_dir(model_dir)
        torch, transformers = _import_torch_transformers()
        self._torch = torch
        transformers.utils.logging.disable_progress_bar()  # the CLI prints answers, not loading bars
        if threads:
            torch.set_num_threads(int(threads))
        try:
            self._model = transformers.VitsModel.from_pretrained(str(self.directory), local_files_only=True).eval()
            self._tokenizer = transformers.VitsTokenizer.from_pretrained(str(self.directory), local_files_only=True)
        except Exception as exc:  # transformers raises OSError, ValueError, RuntimeError, safetensors errors…
            raise TtsUnavailable(f"{self.directory}: cannot load the MMS voice: {exc}") from None
        config = self._model.config
        if getattr(self._tokenizer, "phonemize", False):
            raise TtsUnavailable(f"{self.directory / 'tokenizer_config.json'}: phonemize is true (an English-style "
                                 "MMS voice needing the phonemizer package); Vietnamese voices read letters: "
                                 "set \"phonemize\": false")
        vocab = self._tokenizer.get_vocab()
        top = max(vocab.values(), default=0)
        if top >= config.vocab_size:
            raise TtsUnavailable(f"{self.directory}: vocab.json uses id {top} but config.json has "
                                 f"vocab_size {config.vocab_size}: tokenizer and model do not belong together")
        self._vocab = set(vocab)
        self.sample_rate = int(config.sampling_rate)
        if length_scale is not None:
            if length_scale <= 0:
                raise ValueError("length_scale must be > 0")
            self._model.speaking_rate = 1.0 / float(length_scale)
        if noise_scale is not None:
            self._model.noise_scale = float(noise_scale)
        if noise_w is not None:
            self._model.noise_scale_duration = float(noise_w)
        if speaker is not None and not 0 <= int(speaker) < max(1, config.num_speakers):
            raise TtsUnavailable(f"speaker {speaker} out of range: this voice has {config.num_speakers} speaker(s)")
        self.speaker = int(speaker) if speaker is not None and config.num_speakers > 1 else None
        self.seed = int(seed)
        self.sentence_silence_s = float(sentence_silence_s)
        self.volume = float(volume)
        self._lock = threading.Lock()  # one synthesis at a time: the seeded noise uses torch's global RNG
        self._unknown = WarnOnce("vocab.json")
        shards: list[Path] = []
        if weights.name.endswith(".index.json"):  # sharded weights: the shards are the voice too
            shards = sorted(self.directory.glob("*.safetensors")) or sorted(self.directory.glob("*.bin"))
        self._digest = files_digest([self.directory / "config.json", self.directory / "vocab.json",
                                     self.directory / "tokenizer_config.json", weights, *shards])

    @property
    def voice_key(self) -> str:
        m = self._model
        return (f"mms:{self.directory.name}:{self._digest}:spk{self.speaker}:rate{float(m.speaking_rate):g}"
                f":n{float(m.noise_scale):g}:w{float(m.noise_scale_duration):g}:seed{self.seed}"
                f":sil{self.sentence_silence_s:g}:vol{self.volume:g}")

    def _fit(self, sentence: str) -> str:
        """Lowercase, in the Unicode form most of the vocabulary's letters are written in."""
        best = ""
        for form in ("NFC", "NFD"):
            text = unicodedata.normalize(form, sentence).lower()
            if sum(c in self._vocab for c in text) > sum(c in self._vocab for c in best):
                best = text
        return best or unicodedata.normalize("NFC", sentence).lower()

    def ids(self, text: str) -> list[list[int]]:
        """Token ids of each sentence of `text`, as fed to the model (sentences with nothing known left out)."""
        out = []
        for sentence in split_sentences(text):
            fitted = self._fit(sentence)
            self._unknown([c for c in fitted if c.isalnum() and c not in self._vocab], self.directory.name)
            ids = self._tokenizer(fitted)["input_ids"]
            pad = self._tokenizer.pad_token_id
            if any(i != pad for i in ids):
                out.append(list(ids))
        return out

    def infer(self, ids: list[int]) -> np.ndarray:
        """One sentence's ids → float samples (blocking)."""
        torch = self._torch
        input_ids = torch.tensor([ids], dtype=torch.long)
        try:
            with self._lock, torch.inference_mode(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                waveform = self._model(input_ids=input_ids, speaker_id=self.speaker).waveform
        except Exception as exc:  # torch raises RuntimeError/IndexError on bad input
            raise TtsError(f"MMS inference failed on {len(ids)} ids: {exc}") from None
        return waveform[0].float().cpu().numpy()

    unsayable = "no character of it is in vocab.json"

    async def aclose(self) -> None:
        self._model = None
