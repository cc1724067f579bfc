"""G.711 µ-law and A-law with lookup tables (no `audioop`, which Python 3.13 removed).

The tables follow ITU-T G.711 as implemented by the reference `g711.c` (Sun Microsystems, public
domain), the same code behind libsndfile, sox and Python's old `audioop`: µ-law works on the top
14 bits of a sample, A-law on the top 13 bits. Encoding is one table look-up per sample: a
65 536-entry table indexed by the sample's unsigned 16-bit pattern.
"""
from __future__ import annotations

import numpy as np

_ULAW_BIAS = 0x84  # 132: the µ-law bias on the 16-bit scale (0x21 on the 14-bit scale)
_ULAW_CLIP = 8159  # largest 14-bit magnitude µ-law can code, before the bias
_SEG_ULAW_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_SEG_ALAW_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _ulaw_decode_table() -> np.ndarray:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((code & 0x0F) << 3) + _ULAW_BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (code & 0x70) >> 4
    t = (code & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(code & 0x80, t, -t).astype(np.int16)


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_SEG_ULAW_END, mag)  # first segment whose end >= magnitude
    code = (seg << 4) | ((mag >> (seg + 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return _by_bit_pattern((code ^ mask).astype(np.uint8))


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_SEG_ALAW_END, mag)
    quant = np.where(seg < 2, mag >> 1, mag >> np.maximum(seg, 1)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (seg << 4) | quant)
    return _by_bit_pattern((code ^ mask).astype(np.uint8))


def _by_bit_pattern(table_from_minus_32768: np.ndarray) -> np.ndarray:
    """Reorder a table built for -32768..32767 so it is indexed by `samples.view(np.uint16)`."""
    return np.roll(table_from_minus_32768, -32768)


# Read-only constant tables (built once at import, ~130 KB).
ULAW_DECODE = _ulaw_decode_table()
ALAW_DECODE = _alaw_decode_table()
ULAW_ENCODE = _ulaw_encode_table()
ALAW_ENCODE = _alaw_encode_table()
for _table in (ULAW_DECODE, ALAW_DECODE, ULAW_ENCODE, ALAW_ENCODE):
    _table.flags.writeable = False


def _as_int16(pcm: np.ndarray | bytes) -> np.ndarray:
    if isinstance(pcm, (bytes, bytearray, memoryview)):
        return np.frombuffer(pcm, dtype="<i2")
    array = np.asarray(pcm)
    if array.dtype != np.int16:
        raise TypeError(f"expected int16 samples, got {array.dtype}")
    return array


def ulaw_encode(pcm: np.ndarray | bytes) -> bytes:
    """int16 samples (array or little-endian bytes) -> µ-law bytes, one per sample."""
    return ULAW_ENCODE[_as_int16(pcm).view(np.uint16)].tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """µ-law bytes -> int16 samples."""
    return ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(pcm: np.ndarray | bytes) -> bytes:
    """int16 samples (array or little-endian bytes) -> A-law bytes, one per sample."""
    return ALAW_ENCODE[_as_int16(pcm).view(np.uint16)].tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """A-law bytes -> int16 samples."""
    return ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]
