"""G.711 tables: ITU-T values, round trips, symmetry, and two independent implementations."""
import io
import struct
import warnings

import numpy as np
import pytest
import soundfile as sf

from bot.audio import g711

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def test_known_mu_law_values():
    # G.711 Table 2a: code 0x00 is the most negative level, 0x80 the most positive, 0xFF/0x7F zero.
    assert g711.ulaw_decode(bytes([0x00, 0x80, 0xFF, 0x7F, 0xFE, 0x7E, 0xEF])).tolist() == [-32124, 32124, 0, 0, 8, -8, 132]
    assert g711.ulaw_encode(np.array([0, 32767, -32768, 8, -8], np.int16)) == bytes([0xFF, 0x80, 0x00, 0xFE, 0x7E])


def test_known_a_law_values():
    # G.711 Table 1a: even bits are inverted on the line (0x55), so the smallest levels are 0xD5/0x55.
    assert g711.alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A])).tolist() == [8, -8, 32256, -32256]
    assert g711.alaw_encode(np.array([0, -1, 32767, -32768], np.int16)) == bytes([0xD5, 0x55, 0xAA, 0x2A])


@pytest.mark.parametrize("decode", [g711.ulaw_decode, g711.alaw_decode])
def test_decode_table_is_odd_symmetric_and_monotone_per_sign(decode):
    levels = decode(ALL_CODES).astype(int)
    flipped = decode(bytes(c ^ 0x80 for c in ALL_CODES)).astype(int)
    assert (levels == -flipped).all()
    positive = sorted(set(levels[levels > 0]))
    assert len(positive) in (127, 128)  # µ-law has a +0 and a -0; A-law has no zero code
    steps = np.diff(positive)
    assert (steps > 0).all() and (np.diff(steps) >= 0).all()  # steps only grow (logarithmic)


def test_every_code_survives_decode_then_encode():
    ulaw = g711.ulaw_encode(g711.ulaw_decode(ALL_CODES))
    # The only exception: µ-law's "negative zero" (0x7F) comes back as positive zero (0xFF).
    assert [c for c in range(256) if ulaw[c] != c] == [0x7F] and ulaw[0x7F] == 0xFF
    assert g711.alaw_encode(g711.alaw_decode(ALL_CODES)) == ALL_CODES


@pytest.mark.parametrize("encode,decode", [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)])
def test_speech_level_signal_keeps_g711_quality(encode, decode):
    t = np.arange(8000) / 8000
    for amplitude in (1000, 10000, 30000):
        x = (amplitude * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
        y = decode(encode(x)).astype(float)
        snr = 10 * np.log10((x.astype(float) ** 2).sum() / ((y - x) ** 2).sum())
        assert snr > 35, (amplitude, snr)  # G.711 is ~38 dB across its range


def test_encoding_matches_the_reference_g711_c_via_audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop", reason="audioop was removed in Python 3.13")
    pcm = ALL_SAMPLES.astype("<i2").tobytes()
    assert g711.ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(pcm, 2)
    assert g711.alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(pcm, 2)
    assert g711.ulaw_decode(ALL_CODES).astype("<i2").tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    assert g711.alaw_decode(ALL_CODES).astype("<i2").tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def _g711_wav(codes: bytes, format_tag: int) -> io.BytesIO:
    """A minimal WAV (WAVE_FORMAT_MULAW=7 / ALAW=6, 8 kHz, 8 bit) holding `codes` as they are."""
    fmt = struct.pack("<HHIIHH", format_tag, 1, 8000, 8000, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(codes)) + codes
    return io.BytesIO(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_decoding_matches_libsndfile():
    ulaw, _ = sf.read(_g711_wav(ALL_CODES, 7), dtype="int16")
    alaw, _ = sf.read(_g711_wav(ALL_CODES, 6), dtype="int16")
    assert ulaw.tolist() == g711.ulaw_decode(ALL_CODES).tolist()
    assert alaw.tolist() == g711.alaw_decode(ALL_CODES).tolist()


def test_bytes_and_arrays_encode_alike_and_wrong_types_are_refused():
    x = np.array([-300, 0, 300, 12345], np.int16)
    assert g711.ulaw_encode(x) == g711.ulaw_encode(x.astype("<i2").tobytes())
    assert len(g711.alaw_encode(x)) == 4
    with pytest.raises(TypeError, match="int16"):
        g711.ulaw_encode(x.astype(np.float32))
    with pytest.raises(ValueError):
        g711.ULAW_DECODE[0] = 1  # the tables are read-only constants
