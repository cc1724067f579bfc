from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.audio.files import AudioFileError, read_audio, write_wav

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "speech"


def tone(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def test_reads_mono_pcm_exactly(tmp_path):
    x = tone(440, 16000)
    write_wav(tmp_path / "a.wav", x, 16000)
    y, rate = read_audio(tmp_path / "a.wav")
    assert rate == 16000 and y.dtype == np.int16 and np.array_equal(x, y)
    write_wav(tmp_path / "b.wav", x.astype("<i2").tobytes(), 16000)
    assert np.array_equal(read_audio(tmp_path / "b.wav")[0], x)


def test_stereo_is_downmixed_by_averaging(tmp_path):
    left, right = tone(440, 16000), tone(1000, 16000)
    sf.write(tmp_path / "s.wav", np.stack([left, right], axis=1), 16000, subtype="PCM_16")
    y, rate = read_audio(tmp_path / "s.wav")
    expected = np.round((left.astype(int) + right.astype(int)) / 2)
    assert rate == 16000 and np.abs(y - expected).max() <= 1


def test_44k1_stereo_is_resampled_to_the_target_rate(tmp_path):
    x = tone(1000, 44100, seconds=2)
    sf.write(tmp_path / "cd.wav", np.stack([x, x], axis=1), 44100, subtype="PCM_16")
    y, rate = read_audio(tmp_path / "cd.wav", target_rate=8000)
    assert rate == 44100  # the file's own rate is reported
    assert abs(y.size - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(y.astype(float)))
    assert np.fft.rfftfreq(y.size, 1 / 8000)[spectrum.argmax()] == pytest.approx(1000, abs=1)


@pytest.mark.parametrize("subtype", ["ULAW", "ALAW", "PCM_24", "FLOAT"])
def test_reads_g711_and_other_wav_encodings(tmp_path, subtype):
    x = tone(440, 8000)
    sf.write(tmp_path / "g.wav", x, 8000, subtype=subtype)
    y, rate = read_audio(tmp_path / "g.wav")
    snr = 10 * np.log10((x.astype(float) ** 2).sum() / (((y.astype(float) - x) ** 2).sum() + 1e-9))
    assert rate == 8000 and y.size == x.size and snr > 30


def test_bad_files_raise_one_clear_line(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("this is a text file, not audio\n" * 20)
    sf.write(tmp_path / "silent.wav", np.zeros(0, np.int16), 8000, subtype="PCM_16")
    header_only = (tmp_path / "silent.wav").read_bytes()[:30]
    (tmp_path / "cut.wav").write_bytes(header_only)
    cases = {
        "missing.wav": "no such file",
        "empty.wav": "empty file",
        "notes.wav": "not a readable audio file",
        "silent.wav": "no audio samples",
        "cut.wav": "not a readable audio file",
    }
    for name, reason in cases.items():
        with pytest.raises(AudioFileError) as info:
            read_audio(tmp_path / name, 8000)
        message = str(info.value)
        assert reason in message and name in message and "\n" not in message, message
    with pytest.raises(AudioFileError, match="directory"):
        read_audio(tmp_path)


def test_write_wav_refuses_float_samples(tmp_path):
    with pytest.raises(TypeError, match="int16"):
        write_wav(tmp_path / "f.wav", np.zeros(10, np.float32), 8000)


@pytest.mark.skipif(not SPEECH.is_dir(), reason=f"real recordings not available ({SPEECH})")
def test_reads_a_real_recording():
    x, rate = read_audio(SPEECH / "vieneu" / "ly_female_north.wav", target_rate=8000)
    assert rate == 16000 and x.dtype == np.int16
    assert 3 < x.size / 8000 < 6 and np.abs(x).max() > 5000
