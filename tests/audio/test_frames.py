import dataclasses

import numpy as np
import pytest

from bot.audio.frames import AudioFrame, frames_of, samples_per_frame


def test_frame_exposes_samples_and_duration():
    samples = np.array([0, 1, -1, 32767, -32768], dtype=np.int16)
    frame = AudioFrame.from_samples(samples, 8000)
    assert frame.pcm == b"\x00\x00\x01\x00\xff\xff\xff\x7f\x00\x80"  # little-endian on the wire
    assert frame.samples.dtype == np.int16
    assert frame.samples.tolist() == samples.tolist()
    assert frame.duration_ms == pytest.approx(5 / 8000 * 1000)
    assert AudioFrame(bytes(320), 8000).duration_ms == 20.0


def test_frame_is_immutable_and_validated():
    frame = AudioFrame(bytes(4), 8000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.sample_rate = 16000
    with pytest.raises(ValueError, match="odd number of bytes"):
        AudioFrame(bytes(3), 8000)
    with pytest.raises(ValueError, match="positive"):
        AudioFrame(bytes(2), 0)


def test_frames_of_cuts_20_ms_frames_and_pads_the_tail():
    pcm = np.arange(8000 // 50 * 3 + 7, dtype=np.int16)  # three frames and 7 samples at 8 kHz
    frames = list(frames_of(pcm, 8000))
    assert [f.num_samples for f in frames] == [160, 160, 160, 160]
    assert np.concatenate([f.samples for f in frames])[: pcm.size].tolist() == pcm.tolist()
    assert frames[-1].samples[7:].tolist() == [0] * 153
    assert len(list(frames_of(pcm, 8000, pad=False))) == 3


def test_frames_of_accepts_bytes_and_other_lengths():
    frames = list(frames_of(bytes(16000 * 2), 16000, ms=10))
    assert len(frames) == 100 and all(f.num_samples == 160 and f.sample_rate == 16000 for f in frames)
    assert list(frames_of(b"", 8000)) == []


def test_samples_per_frame_refuses_fractional_frames():
    assert samples_per_frame(44100, 20) == 882
    with pytest.raises(ValueError, match="whole number"):
        samples_per_frame(11025, 20)
