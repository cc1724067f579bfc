"""The telephone line as the bot hears it: 8 kHz, G.711 µ-law (the PSTN/SIP norm in Vietnam).

`to_phone_line` + `from_phone_line` simulate a call for benchmarks and tests: band-limiting to
4 kHz by resampling, then 8-bit µ-law quantisation.
"""
from __future__ import annotations

import numpy as np

from bot.audio.g711 import ulaw_decode, ulaw_encode
from bot.audio.resample import resample

PHONE_RATE = 8000


def to_phone_line(samples: np.ndarray, rate: int) -> bytes:
    """int16 mono at `rate` -> µ-law bytes at 8 kHz (what arrives in RTP payloads)."""
    return ulaw_encode(resample(samples, rate, PHONE_RATE))


def from_phone_line(data: bytes) -> np.ndarray:
    """µ-law bytes at 8 kHz -> int16 samples at 8 kHz."""
    return ulaw_decode(data)


def through_phone_line(samples: np.ndarray, rate: int) -> np.ndarray:
    """What the bot hears of `samples`: int16 at 8 kHz after the µ-law round trip."""
    return from_phone_line(to_phone_line(samples, rate))
