"""The engine interface, the registry and the scoring helpers, without a real model."""
from collections.abc import Sequence

import numpy as np
import pytest

from bot.asr.base import AsrEngine, AsrError, AsrStream, Capabilities, as_pcm, clean_text
from bot.asr.metrics import edit_distance, error_rates, normalise
from bot.asr.registry import ENGINES, make_asr


class RecordingStream(AsrStream):
    def __init__(self, log: list[np.ndarray]) -> None:
        self.log, self.closed = log, False

    def accept(self, pcm: np.ndarray) -> None:
        self.log.append(as_pcm(pcm).copy())

    def partial(self) -> str:
        return ""

    def final(self) -> str:
        return f"{sum(x.size for x in self.log)} samples"

    def close(self) -> None:
        self.closed = True


class RecordingEngine(AsrEngine):
    name, sample_rate = "recording", 8000
    capabilities = Capabilities(streaming=True, partials=False, grammar=False)

    def __init__(self) -> None:
        self.log: list[np.ndarray] = []
        self.streams: list[RecordingStream] = []

    def stream(self, grammar: Sequence[str] | None = None) -> RecordingStream:
        self._refuse_grammar(grammar)
        self.streams.append(RecordingStream(self.log))
        return self.streams[-1]


def test_transcribe_resamples_to_the_engine_rate_and_closes_the_stream():
    engine = RecordingEngine()
    text = engine.transcribe(np.zeros(16000, np.int16), 16000)
    assert text == "8000 samples"
    assert engine.streams[-1].closed
    with pytest.raises(TypeError, match="int16"):
        engine.transcribe(np.zeros(100, np.float32), 8000)


def test_grammar_is_refused_by_engines_without_it():
    with pytest.raises(AsrError, match="no grammar mode"):
        RecordingEngine().stream(grammar=["có", "không"])


def test_clean_text_makes_one_nfc_line():
    decomposed = "kho\u0302ng"  # "không" as o + combining circumflex
    assert clean_text(f"  có\n{decomposed}  ạ ") == "có không ạ"


def test_unknown_engine_names_the_known_ones():
    with pytest.raises(AsrError) as info:
        make_asr("whisper-large", None)
    message = str(info.value)
    assert "whisper-large" in message and all(name in message for name in ENGINES)


def test_vietasr_refuses_a_model_dir_rather_than_downloading(tmp_path):
    with pytest.raises(AsrError, match="embedded"):
        make_asr("vietasr", str(tmp_path))


def test_scoring_helpers():
    assert normalise("Xin chào, Hà Nội!  ") == "xin chào hà nội"
    assert normalise("Ho\u0300a") == normalise("Hòa")  # NFC
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], ["a"]) == 1
    wer, cer = error_rates([("tiếng cọc cạch", "tiếng cọc gạch"), ("có", "có")])
    assert wer == pytest.approx(1 / 4) and cer == pytest.approx(1 / 16)
    with pytest.raises(ValueError):
        error_rates([("", "x")])
