"""Hugging Face transformers engine: a local wav2vec2-style CTC model directory (e.g. a Vietnamese
fine-tune saved with `save_pretrained`), greedy CTC decoding on CPU.

Not a streaming model: a stream buffers its turn and recognises it whole at `final()`
(partials stay empty). Loading is local only (`local_files_only`): nothing is downloaded.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.asr.base import AsrEngine, AsrError, AsrStream, Capabilities, as_pcm, clean_text
from bot.audio.resample import resample


class TransformersStream(AsrStream):
    def __init__(self, engine: TransformersEngine) -> None:
        self._engine = engine
        self._chunks: list[np.ndarray] | None = []

    def accept(self, pcm: np.ndarray) -> None:
        pcm = as_pcm(pcm)
        if self._chunks is None:
            raise AsrError("this ASR stream is closed")
        self._chunks.append(pcm.copy())  # callers may reuse their buffers

    def partial(self) -> str:
        if self._chunks is None:
            raise AsrError("this ASR stream is closed")
        return ""  # no partials: recognising the whole turn again every call would cost too much

    def final(self) -> str:
        if self._chunks is None:
            raise AsrError("this ASR stream is closed")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        self._chunks = []
        return self._engine.recognise(audio) if audio.size else ""

    def close(self) -> None:
        self._chunks = None


class TransformersEngine(AsrEngine):
    name = "transformers"
    capabilities = Capabilities(streaming=False, partials=False, grammar=False)

    def __init__(self, model_dir: str | None = None, sample_rate: int = 8000) -> None:
        """`sample_rate`: what callers feed; audio is resampled to the model's own rate."""
        if not model_dir:
            raise AsrError("the transformers engine needs model_dir: a saved CTC model (config.json, weights, "
                           "preprocessor and tokenizer files)")
        path = Path(model_dir)
        if not (path / "config.json").is_file():
            raise AsrError(f"{path}: not a transformers model directory (no config.json)")
        try:
            import torch
            from transformers import AutoModelForCTC, AutoProcessor
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise AsrError(f"transformers/torch are not installed ({exc})") from exc
        hf_logging.disable_progress_bar()  # process-wide: "Loading weights" bars would clutter the CLI
        try:
            self._processor = AutoProcessor.from_pretrained(path, local_files_only=True)
            self._model = AutoModelForCTC.from_pretrained(path, local_files_only=True).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise AsrError(f"{path}: cannot load a CTC model and its processor ({exc})") from exc
        self._torch = torch
        self.model_rate = int(self._processor.feature_extractor.sampling_rate)
        self.sample_rate = sample_rate

    def stream(self, grammar: Sequence[str] | None = None) -> TransformersStream:
        self._refuse_grammar(grammar)
        return TransformersStream(self)

    def recognise(self, pcm: np.ndarray) -> str:
        """Greedy CTC on int16 audio at `sample_rate`."""
        audio = resample(pcm, self.sample_rate, self.model_rate).astype(np.float32) / 32768.0
        inputs = self._processor(audio, sampling_rate=self.model_rate, return_tensors="pt")
        with self._torch.inference_mode():
            logits = self._model(inputs.input_values).logits
        ids = logits.argmax(dim=-1)
        return clean_text(self._processor.batch_decode(ids, skip_special_tokens=True)[0])
