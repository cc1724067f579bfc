"""Processing a take: decoding every accepted format, trimming, one loudness, and the flags."""
from __future__ import annotations

import io

import av
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from bot.studio import takes
from bot.studio.takes import RATE, TakeError, decode, process

TARGET = -20.0


def speechlike(seconds: float, rate: int = 48000, level: float = 0.1, seed: int = 0) -> np.ndarray:
    """Noise shaped like syllables (4 per second), band-limited by a moving average: a stand-in
    for a voice with a realistic crest factor, deterministic."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    noise = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same")
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 4 * np.arange(n) / rate))
    return (level * noise * envelope / np.max(np.abs(noise))).astype(np.float32)


def with_silence(x: np.ndarray, before: float, after: float, rate: int = 48000) -> np.ndarray:
    quiet = lambda s: (np.random.default_rng(1).standard_normal(int(s * rate)) * 1e-4).astype(np.float32)
    return np.concatenate([quiet(before), x, quiet(after)])


def wav_bytes(x: np.ndarray, rate: int = 48000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(x, -1, 1), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def encoded(x: np.ndarray, container: str, codec: str, rate: int = 48000) -> bytes:
    """The signal as a phone or a browser would send it (PyAV's encoders, in memory)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="flt", layout="mono")
        frame.rate = rate
        fmt = stream.codec_context.codec.audio_formats[0].name
        for f in av.AudioResampler(format=fmt, layout="mono", rate=rate).resample(frame):
            for packet in stream.encode(f):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def test_silence_is_trimmed_at_both_ends_with_short_margins():
    voice = speechlike(2.0)
    p = process(wav_bytes(with_silence(voice, 1.5, 2.5)), TARGET)
    assert p.seconds_in == pytest.approx(6.0, abs=0.01)
    # The speech (2 s) and the margins (0.15 s before, 0.3 s after) remain, give or take a frame.
    assert p.seconds == pytest.approx(2.0 + takes.LEAD_S + takes.TAIL_S, abs=0.06)
    assert p.trimmed_start_s == pytest.approx(1.5 - takes.LEAD_S, abs=0.06)
    assert p.trimmed_end_s == pytest.approx(2.5 - takes.TAIL_S, abs=0.06)
    assert p.pcm.dtype == np.int16 and p.pcm.size == round(p.seconds * RATE)
    assert not p.flags


@pytest.mark.parametrize("level", [0.02, 0.1, 0.5])
def test_every_take_ends_at_the_same_loudness(level: float):
    p = process(wav_bytes(with_silence(speechlike(3.0, level=level), 0.5, 0.5)), TARGET)
    measured = pyloudnorm.Meter(RATE).integrated_loudness(p.pcm.astype(np.float64) / 32767)
    assert measured == pytest.approx(TARGET, abs=0.5)
    assert p.loudness_out == pytest.approx(TARGET, abs=0.5)
    assert np.max(np.abs(p.pcm)) / 32767 <= takes.PEAK_CEILING + 1e-3


def test_a_clipped_take_is_flagged_and_a_clean_one_is_not():
    voice = speechlike(3.0, level=0.5)
    clean = process(wav_bytes(voice), TARGET)
    clipped = process(wav_bytes(np.clip(voice * 6, -1, 1)), TARGET)
    assert [f.code for f in clean.flags] == []
    assert "clipped" in [f.code for f in clipped.flags] and clipped.clipped_fraction > takes.CLIP_FRACTION
    assert not clipped.blocked  # the editor may still choose it, explicitly


def test_a_too_quiet_take_is_flagged_but_levelled():
    p = process(wav_bytes(with_silence(speechlike(3.0, level=0.01), 0.5, 0.5)), TARGET)
    assert p.loudness_in < takes.TOO_QUIET_LUFS
    assert [f.code for f in p.flags] == ["too_quiet"]
    assert p.gain_db > 20


def test_a_take_over_room_noise_is_flagged_noisy():
    rate = 48000
    noise = (np.random.default_rng(5).standard_normal(4 * rate) * 0.02).astype(np.float32)
    voice = np.concatenate([np.zeros(rate // 2, np.float32), speechlike(3.0, level=0.1), np.zeros(rate // 2, np.float32)])
    p = process(wav_bytes(voice + noise), TARGET)
    assert "noisy" in [f.code for f in p.flags]


def test_silence_has_no_speech_and_can_never_be_used():
    p = process(wav_bytes(np.zeros(48000 * 2, np.float32)), TARGET)
    assert p.blocked and [f.code for f in p.flags] == ["no_speech"] and p.pcm.size == 0


@pytest.mark.parametrize(("container", "codec", "kind"), [
    ("wav", "pcm_s16le", "wav"), ("mp3", "libmp3lame", "mp3"), ("ogg", "libopus", "ogg"),
    ("webm", "libopus", "webm"), ("ipod", "aac", "m4a")])
def test_every_accepted_format_decodes_to_the_same_take(container: str, codec: str, kind: str):
    voice = with_silence(speechlike(2.0, level=0.2), 0.3, 0.3)
    data = encoded(voice, container, codec)
    samples, rate, found = decode(data)
    assert found == kind and rate == 48000
    assert samples.size / rate == pytest.approx(voice.size / 48000, abs=0.08)  # codecs pad a frame or two
    p = process(data, TARGET)
    assert p.seconds == pytest.approx(2.0 + takes.LEAD_S + takes.TAIL_S, abs=0.1)
    assert p.loudness_out == pytest.approx(TARGET, abs=0.7)


def test_anything_else_is_refused_before_ffmpeg_sees_it():
    adts_aac = b"\xff\xf1\x50\x80" + bytes(100)  # raw AAC: not one of the five formats
    for data in [b"", b"hello world, not audio", b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n" + bytes(100), adts_aac]:
        with pytest.raises(TakeError) as refused:
            decode(data)
        assert refused.value.code == "format"


def test_a_broken_file_of_an_accepted_format_is_a_clear_error():
    data = wav_bytes(speechlike(1.0))
    with pytest.raises(TakeError) as refused:
        decode(data[:12] + b"\x00" * 64)  # a WAV header and then nothing that makes sense
    assert refused.value.code in ("decode", "no_audio")


def test_decoding_stops_past_the_longest_take(monkeypatch):
    monkeypatch.setattr(takes, "MAX_SECONDS", 1.0)
    with pytest.raises(TakeError) as refused:
        decode(wav_bytes(speechlike(3.0)))
    assert refused.value.code == "too_long"
