import numpy as np
import pytest

from bot.audio.resample import StreamResampler, resample


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 10000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(float)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[spectrum.argmax()])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt((x.astype(float) ** 2).mean()))


@pytest.mark.parametrize("src,dst", [(16000, 8000), (8000, 16000), (44100, 16000), (48000, 8000)])
def test_resample_keeps_length_pitch_and_level(src, dst):
    y = resample(tone(1000, src), src, dst)
    assert y.dtype == np.int16 and abs(y.size - dst) <= 1
    assert peak_hz(y, dst) == pytest.approx(1000, abs=2)
    assert rms(y[dst // 10:-dst // 10]) == pytest.approx(10000 / np.sqrt(2), rel=0.02)


def test_downsampling_removes_what_the_new_rate_cannot_carry():
    kept = resample(tone(3000, 16000), 16000, 8000)
    aliased = resample(tone(5000, 16000), 16000, 8000)  # would fold to 3 kHz without filtering
    assert rms(kept) > 6000
    assert rms(aliased) < rms(kept) / 100  # more than 40 dB down


def test_same_rate_is_a_copy_and_bad_input_is_refused():
    x = tone(440, 8000)
    y = resample(x, 8000, 8000)
    assert y is not x and np.array_equal(x, y)
    with pytest.raises(TypeError, match="int16"):
        resample(x.astype(np.float32), 8000, 16000)
    with pytest.raises(ValueError, match="positive"):
        resample(x, 0, 16000)


def test_stream_resampler_matches_whole_signal_resampling():
    x = tone(700, 8000, seconds=2)
    for quality in ("HQ", "QQ"):
        stream = StreamResampler(8000, 16000, quality=quality)
        chunks = [stream.process(x[i:i + 160]) for i in range(0, x.size, 160)] + [stream.flush()]
        y = np.concatenate(chunks)
        assert abs(y.size - 2 * x.size) <= 2
        assert peak_hz(y, 16000) == pytest.approx(700, abs=1)
    low_latency = StreamResampler(8000, 16000, quality="QQ")
    assert all(low_latency.process(x[i:i + 160]).size >= 300 for i in range(160, 1600, 160))
