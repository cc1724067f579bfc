"""bench/asr.py's plumbing on a fake engine: scores, trials and the Markdown section."""
import json
from collections.abc import Sequence

import numpy as np

from bench import asr as bench
from bot.asr.base import AsrEngine, AsrStream, Capabilities

from .conftest import needs_speech


class EchoStream(AsrStream):
    """Recognises every recording as 'tiếng cọc cạch', whatever it hears."""

    def accept(self, pcm: np.ndarray) -> None:
        pass

    def partial(self) -> str:
        return ""

    def final(self) -> str:
        return "tiếng cọc cạch"

    def close(self) -> None:
        pass


class EchoEngine(AsrEngine):
    name, sample_rate = "echo", 8000
    capabilities = Capabilities(streaming=True, partials=False, grammar=False)

    def stream(self, grammar: Sequence[str] | None = None) -> EchoStream:
        return EchoStream()


@needs_speech
def test_benchmark_pieces_produce_json_and_markdown():
    items = bench.corpus()
    assert len(items) == 76 and {i.subset for i in items} == {"vivos-test", "vivos-train-spk01", "vieneu"}
    first = [i for i in items if i.path.name == "VIVOSDEV01_R002.wav"]  # "tiếng cọc cạch khựng lại ..."
    accuracy = bench.accuracy(EchoEngine(), EchoEngine(), first + items[-1:])
    assert accuracy["project"]["vivos-test"]["wer"] == round(6 / 9, 4)  # 3 of 9 words right, 6 deleted
    frames = bench.call_audio(first, seconds=1)
    assert all(f.size == 160 for f in frames)
    result = {
        "engine": "echo", "cpu_count": 2, "load_s": 0.0, "load_rss_mb": 0.0, "accuracy": accuracy,
        "load_avg": [0.1, 0.2], "memory": {"streams": 2, "audio_s_each": 1.0, "rss_delta_mb": 1.0, "per_stream_mb": 0.5, "engine_rss_mb": 9.0},
        "concurrency": bench.concurrency(EchoEngine(), frames, with_vad=False, seconds=0.2, limit=4),
        "concurrency_with_vad": bench.concurrency(EchoEngine(), frames, with_vad=True, seconds=0.2, limit=2),
        "inference": bench.inference_profile(EchoEngine(), frames),
    }
    assert result["concurrency"]["ceiling"] == 4  # the fake keeps up: the search stops at the limit
    json.dumps(result)
    text = bench.section(result)
    assert text.startswith("## Speech recognition") and "| VIVOS test split (held out) | 1 |" in text
