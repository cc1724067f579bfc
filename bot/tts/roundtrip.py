"""How well a caller can follow the bot's voice, in one number: the recogniser round trip.

The audio a caller would hear (a recording or the synthetic voice, through an 8 kHz G.711 µ-law
line) is transcribed by the speech recogniser and compared with the text it should say. The
character error rate of that transcript is a stand-in for intelligibility: natural speech reads
back at about 5 %, espeak-ng at about 58 %. It is the same measure for a take in the studio, for
`bot prompts --check --jsonl` and for the voice benchmark, so their numbers can be compared.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.asr.base import AsrEngine
from bot.asr.metrics import edit_distance, normalise
from bot.audio.phone import PHONE_RATE, through_phone_line


@dataclass(frozen=True)
class RoundTrip:
    text: str        # what should have been said
    heard: str       # what the recogniser made of it, after the phone line
    cer: float       # character errors / characters of the text, capped at 1.0
    seconds: float   # length of the audio


def text_cer(text: str, heard: str) -> float:
    """Character error rate of `heard` against `text` (bot.asr.metrics' normalisation: case,
    punctuation and spacing runs do not count). Capped at 1.0: a transcript full of inserted
    words is no less useless than an empty one, and a 0..1 fraction averages sensibly."""
    ref, hyp = normalise(text), normalise(heard)
    if not ref:
        raise ValueError("the text has no words to score against")
    return min(1.0, edit_distance(ref, hyp) / len(ref))


def round_trip(audio: np.ndarray, rate: int, text: str, asr: AsrEngine) -> RoundTrip:
    """Play `audio` (mono int16 at `rate`) down a phone line, transcribe it, score it against `text`."""
    pcm = np.asarray(audio)
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise TypeError(f"expected 1-D int16 audio, got {pcm.ndim}-D {pcm.dtype}")
    line = through_phone_line(pcm, rate)
    # An empty utterance is heard as nothing: no need to ask the recogniser.
    heard = asr.transcribe(line, PHONE_RATE) if line.size else ""
    return RoundTrip(text=text, heard=heard, cer=text_cer(text, heard), seconds=pcm.size / rate)


def heard_cer(audio: np.ndarray, rate: int, text: str, asr: AsrEngine) -> float:
    """The round trip's CER alone (0 = every character heard, 1 = nothing right)."""
    return round_trip(audio, rate, text, asr).cer
