"""espeak-ng as a subprocess: always available, robotic, fast (milliseconds per sentence)."""
from __future__ import annotations

import asyncio
import io
import shutil

import numpy as np
import soundfile as sf

from bot.tts.base import TtsCapabilities, TtsEngine, TtsError, TtsUnavailable

# vi+f2 at 120 words (= syllables) per minute: over all 139 sentences the bot says, the recogniser
# round trip (bot/tts/roundtrip.py) reads it back at a mean CER of 45.6 %, against 47.4 % at the
# old 140 (better on 82 sentences, worse on 53; docs/voice.md, docs/benchmarks.md "Voice").
DEFAULT_VOICE = "vi+f2"
DEFAULT_SPEED = 120


class EspeakEngine(TtsEngine):
    name = "espeak"
    capabilities = TtsCapabilities(streaming=False)

    def __init__(self, voice: str = DEFAULT_VOICE, speed: int = DEFAULT_SPEED, pitch: int | None = None,
                 gap: int = 0, binary: str = "espeak-ng", timeout_s: float = 10.0) -> None:
        path = shutil.which(binary)
        if path is None:
            raise TtsUnavailable(f"'{binary}' not found; install it with `make install-system` "
                                 "(Debian/Ubuntu: apt-get install espeak-ng)")
        self._binary = path
        self.voice = voice
        self.speed = int(speed)
        self.pitch = pitch
        self.gap = int(gap)  # extra pause between words (espeak-ng -g: 10 ms units, stretched at slower speeds)
        self.timeout_s = timeout_s
        self.sample_rate = 22050  # what espeak-ng produces; checked on every result

    @property
    def voice_key(self) -> str:
        key = f"espeak-ng:{self.voice}:s{self.speed}:p{self.pitch if self.pitch is not None else '-'}"
        # No gap keeps the old key, so caches rendered before the option existed stay valid.
        return key + (f":g{self.gap}" if self.gap else "")

    def _argv(self) -> list[str]:
        # Text goes through stdin (-b 1: it is UTF-8), so it can never be taken for an option.
        argv = [self._binary, "-v", self.voice, "-s", str(self.speed), "-b", "1", "--stdout"]
        if self.pitch is not None:
            argv += ["-p", str(self.pitch)]
        if self.gap:
            argv += ["-g", str(self.gap)]
        return argv

    async def synth(self, text: str) -> np.ndarray:
        text = text.strip()
        if not text:
            return np.zeros(0, dtype=np.int16)
        proc = await asyncio.create_subprocess_exec(
            *self._argv(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(text.encode("utf-8")), self.timeout_s)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise TtsError(f"espeak-ng took more than {self.timeout_s:g} s for {len(text)} characters") from None
        if proc.returncode != 0:
            raise TtsError(f"espeak-ng failed ({proc.returncode}): {err.decode(errors='replace').strip()[:200]}")
        return self._decode(out)

    def _decode(self, wav: bytes) -> np.ndarray:
        # On a pipe espeak-ng cannot seek back to fix the RIFF sizes; libsndfile reads to the end anyway.
        try:
            audio, rate = sf.read(io.BytesIO(wav), dtype="int16", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise TtsError(f"espeak-ng gave no readable WAV ({len(wav)} bytes): {exc}") from exc
        if rate != self.sample_rate:
            raise TtsError(f"espeak-ng produced {rate} Hz, expected {self.sample_rate} Hz")
        return np.ascontiguousarray(audio[:, 0])
