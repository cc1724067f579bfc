"""What callers' words look like after a phone line and a recogniser (or a hurried typist).

`channel`: the seeded noise channel (`garble`, `garbled_copy`) that garbles evaluation splits and
augments training examples; `learn`: measures the recogniser's own mistakes on real recordings
and writes them to data/noise/recogniser.yml, which the channel then follows.
"""
from bot.noise.channel import garble, garbled_copy

__all__ = ["garble", "garbled_copy"]
