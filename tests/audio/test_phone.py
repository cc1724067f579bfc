import numpy as np
import pytest

from bot.audio.g711 import ulaw_decode
from bot.audio.phone import from_phone_line, through_phone_line, to_phone_line
from bot.audio.resample import resample


def tone(freq: float, rate: int) -> np.ndarray:
    t = np.arange(rate) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def test_the_line_carries_one_mu_law_byte_per_8_khz_sample():
    line = to_phone_line(tone(1000, 16000), 16000)
    assert isinstance(line, bytes) and len(line) == 8000
    assert np.array_equal(from_phone_line(line), ulaw_decode(line))


def test_speech_band_survives_and_is_only_quantised():
    x = tone(1000, 16000)
    heard = through_phone_line(x, 16000).astype(float)
    clean = resample(x, 16000, 8000).astype(float)
    snr = 10 * np.log10((clean ** 2).sum() / ((heard - clean) ** 2).sum())
    assert 33 < snr < 45  # G.711's ~38 dB: quantised, not lost and not untouched


def test_above_4_khz_does_not_reach_the_bot():
    heard = through_phone_line(tone(6000, 16000), 16000).astype(float)
    assert np.sqrt((heard ** 2).mean()) < 60  # from an RMS of ~5700


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_any_input_rate(rate):
    assert len(to_phone_line(tone(500, rate), rate)) == pytest.approx(8000, abs=1)
