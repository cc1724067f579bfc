"""The caller's audio as a steady 20 ms stream, whatever the line does: a small jitter buffer with
playout, loss concealment, and silence (or RFC 3389 comfort noise) when nothing arrives.

Why: the turn detector only advances when frames reach it. A phone or trunk with silence
suppression (DTX) stops sending RTP while its caller listens, so without a clock of our own the
caller's turn would end only at hang-up. `Playout` is pulled once per 20 ms slot by the call's
existing pacing loop (`LiveCall._speak_until_done`: no extra timer per call) and always hands back
audio for that slot once the stream has begun: the caller's next frame, a concealed lost frame, or
silence, so a pause is heard as a pause on the call's clock.

Pure and clock-driven (the caller passes `now`, in seconds): no threads, no engines, no sockets.

- Sequenced input (RTP, `seq` given): frames are put back in sequence order, duplicates and frames
  that come after their slot was played are dropped, a frame missing at its slot while later ones
  wait is lost: the previous frame is repeated, fading, for `conceal_frames` slots, then silence.
  Off by default (0: silence at once): measured on the real recordings it did not help this
  recogniser (CER at 1 / 3 / 5 % loss 3.62 / 4.55 / 4.92 % with 2 frames, 3.90 / 4.09 / 4.70 %
  without; docs/benchmarks.md, "Media as it arrives").
  A 16-bit sequence number wraps (extended as in RFC 3550 appendix A.1); a jump of more than
  `reset_gap` is a new sender and restarts the order.
- Unsequenced input (AudioSocket, the browser: reliable streams, already in order): first in,
  first out.
- Depth: playout starts (and restarts after the buffer ran dry) once the first waiting frame is
  `depth_s` old. When the stream turns out to have been late rather than paused (the frame the
  buffer ran dry on arrives soon after, without a marker bit or a timestamp jump, or a frame comes
  after it was concealed), the depth grows by a frame, up to `max_depth_s` (a PBX's usual
  buffer); it shrinks by a frame after every `shrink_after` frames played without such a sign.
  Frames that pile up beyond depth + `slack_s` (a burst, the sender's faster clock, a slot the
  event loop missed) are handed over at once, so latency stays bounded and no audio is dropped.
- Dry buffer: silence frames at the last frame's rate and length, or comfort noise at the level
  of the last RFC 3389 packet; `caller_silent` marks the caller silent (a CN packet).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from bot.audio.frames import AudioFrame

FRAME_S = 0.02
MAX_HELD = 500  # frames waiting at most (10 s of 20 ms frames): what a flood can make us keep


@dataclass
class PlayoutStats:
    received: int = 0      # real frames pushed (not counting duplicates and late ones)
    played: int = 0        # real frames handed on
    concealed: int = 0     # slots filled by repeating the previous frame
    silent: int = 0        # slots filled with silence or comfort noise
    lost: int = 0          # frames never received (sequence gaps)
    late: int = 0          # frames arriving after their slot was played or concealed
    duplicates: int = 0
    comfort_noise: int = 0  # RFC 3389 packets
    resets: int = 0        # new senders (sequence jumps)
    overflow: int = 0      # frames refused because MAX_HELD were already waiting


class Playout:
    """One call's receiving side. `push` what arrives, `pull(now)` once per 20 ms slot."""

    def __init__(self, depth_s: float = 0.04, max_depth_s: float = 0.2, min_depth_s: float = 0.04,
                 slack_s: float = 0.06, conceal_frames: int = 0, shrink_after: int = 500,
                 reset_gap: int = 1000) -> None:
        if not 0 <= min_depth_s <= depth_s <= max_depth_s:
            raise ValueError("need 0 <= min_depth_s <= depth_s <= max_depth_s")
        self.depth_s, self.min_depth_s, self.max_depth_s = depth_s, min_depth_s, max_depth_s
        self.slack_s, self.conceal_frames = slack_s, conceal_frames
        self.shrink_after, self.reset_gap = shrink_after, reset_gap
        self.stats = PlayoutStats()
        # Waiting frames by extended sequence number (sequenced) or arrival order; None = a CN packet.
        self._held: dict[int, tuple[AudioFrame | None, float, int | None]] = {}  # frame, arrival, ts
        self._next: int | None = None   # the next extended sequence number to play
        self._last_ext = 0               # highest extended sequence number seen (the sender's)
        self._offset = 0                 # ours = the sender's + offset (moved when a sender restarts)
        self._top = 0                    # highest of ours seen
        self._fifo = 0                   # arrival counter for unsequenced frames
        self._played: deque[int] = deque(maxlen=64)  # recently played keys: a late copy is a duplicate
        self._playing = False
        self._dry: tuple[float, int | None] | None = None  # when the buffer ran dry, and on which frame
        self._last_ts: int | None = None  # RTP timestamp + length of the newest frame played
        self._previous: AudioFrame | None = None  # the last real frame played (for concealment)
        self._since_real = 0             # slots since the last real frame
        self._stable = 0
        self._shape: tuple[int, int] | None = None  # (rate, samples) of the stream's frames
        self._cn_level: int | None = None  # RFC 3389 level, -dBov (0-127)
        self._quiet: dict[tuple[int, int, int | None], AudioFrame] = {}
        self._noise = np.random.default_rng(7).standard_normal(4 * 160 * 6)  # cycled, scaled per level
        self._noise_at = 0

    # ----- in ------------------------------------------------------------------------------------
    def push(self, frame: AudioFrame, now: float, seq: int | None = None, ts: int | None = None,
             marker: bool = False) -> None:
        """One frame as it arrived. `seq`/`ts`: its RTP sequence number and timestamp, if any;
        `marker`: the RTP marker bit (the first packet of a talkspurt, RFC 3551 section 4.1)."""
        self._shape = (frame.sample_rate, frame.num_samples)
        self._put(frame, now, seq, ts, marker)

    def caller_silent(self, now: float, level: int | None = None, seq: int | None = None) -> None:
        """An RFC 3389 comfort-noise packet: the caller is silent; `level` is its noise level in
        -dBov (0-127). Never speech: it plays as comfort noise. It takes its sequence number's slot."""
        self.stats.comfort_noise += 1
        if level is not None:
            self._cn_level = max(0, min(127, level))
        if seq is not None:
            self._put(None, now, seq, None, False)

    def _put(self, frame: AudioFrame | None, now: float, seq: int | None, ts: int | None, marker: bool) -> None:
        if seq is None:
            key = self._fifo
            self._fifo += 1
            if self._next is None:
                self._next = key
        else:
            raw = self._extend(seq)
            key = raw + self._offset
            if self._next is None:
                self._next, self._last_ext, self._top = key, raw, key
            elif abs(key - self._next) > self.reset_gap:
                # A new sender (or a restarted one): its numbers continue ours, after what waits.
                self.stats.resets += 1
                self._offset = self._top + 1 - raw
                key, self._last_ext, self._last_ts = self._top + 1, raw, None
                if not self._held:
                    self._next = key
            if key < self._next and not self._playing and not self._played:
                self._next = key  # the stream's first packets overtook each other: start earlier
            if key < self._next:
                if key in self._played:
                    self.stats.duplicates += 1
                else:
                    self.stats.late += 1
                    self._grow()  # it was concealed (or skipped) and came after all: we wait too little
                return
            if key in self._held:
                self.stats.duplicates += 1
                return
            self._last_ext = max(self._last_ext, raw)
            self._top = max(self._top, key)
        if self._dry is not None:
            dry_at, dry_next = self._dry
            self._dry = None
            continued = frame is not None and (seq is None or key == dry_next)
            if continued and not marker and self._contiguous(ts) and now - dry_at < self.max_depth_s:
                self._grow()  # the stream had not paused: it was late
        if len(self._held) >= MAX_HELD:  # nobody pulls (a transfer under way) or a flood: bounded
            self.stats.overflow += 1
            return
        if frame is not None:
            self.stats.received += 1
        self._held[key] = (frame, now, ts)

    # ----- out -----------------------------------------------------------------------------------
    def pull(self, now: float) -> list[AudioFrame]:
        """This slot's audio: usually one frame; more when frames piled up beyond the depth;
        none before the stream's first frame (its rate and frame length are not known yet)."""
        if self._shape is None:
            return []
        if not self._playing:
            if not self._held or now - min(e[1] for e in self._held.values()) < self.depth_s - 1e-6:
                self.stats.silent += 1
                return [self._silence()]
            self._playing = True
            # What went missing while the buffer was dry had its slots filled with silence
            # already: counted lost, not concealed (that would play stale audio late).
            self._skip_to_held()
        out = [self._slot(now)]
        while self._held and self._held_s() > self.depth_s + self.slack_s:
            self._skip_to_held()  # catching up: no slot to spare for what is missing
            out.append(self._slot(now))  # a burst or a missed slot, handed over at once
        return out

    def _skip_to_held(self) -> None:
        if self._held and self._next is not None and self._next not in self._held:
            first = min(self._held)
            if first > self._next:
                self.stats.lost += first - self._next
                self._next = first

    def drain(self) -> list[AudioFrame]:
        """Every real frame still waiting, in order (the caller hung up: their last words count)."""
        out: list[AudioFrame] = []
        for key in sorted(self._held):
            frame = self._held[key][0]
            if frame is not None:
                out.append(frame)
        self._held.clear()
        self._playing = False
        return out

    @property
    def depth_ms(self) -> float:
        return self.depth_s * 1000

    # ----- inside --------------------------------------------------------------------------------
    def _slot(self, now: float) -> AudioFrame:
        entry = self._held.pop(self._next, None) if self._next is not None else None
        if entry is not None:
            self._played.append(self._next)  # type: ignore[arg-type]
            self._next += 1  # type: ignore[operator]
            frame, _, ts = entry
            self._last_ts = None if ts is None or frame is None else (ts + frame.num_samples) % 2**32
            if frame is None:  # a comfort-noise packet
                self._since_real = self.conceal_frames + 1
                self.stats.silent += 1
                return self._silence()
            self._previous, self._since_real = frame, 0
            self.stats.played += 1
            self._stable += 1
            if self._stable >= self.shrink_after:
                self._stable = 0
                self.depth_s = max(self.min_depth_s, round(self.depth_s - FRAME_S, 3))
            return frame
        if self._held:  # the frame for this slot is missing, later ones wait: lost
            self.stats.lost += 1
            self._next += 1  # type: ignore[operator]
            return self._conceal()
        self._playing = False  # dry: a pause, or the stream is late; wait `depth_s` again
        self._dry = (now, self._next)
        self._since_real += 1
        self.stats.silent += 1
        return self._silence()

    def _conceal(self) -> AudioFrame:
        self._since_real += 1
        prev = self._previous
        if prev is None or self._since_real > self.conceal_frames:
            self.stats.silent += 1
            return self._silence()
        self.stats.concealed += 1
        # Repeat the last frame, halving it each slot: a short drop-out sounds (and recognises)
        # closer to the speech around it than a hole; longer losses fade to silence.
        scaled = (prev.samples.astype(np.float32) * (0.5 ** self._since_real)).astype("<i2")
        return AudioFrame(scaled.tobytes(), prev.sample_rate)

    def _silence(self) -> AudioFrame:
        assert self._shape is not None
        rate, n = self._shape
        level = self._cn_level
        if level is None or level >= 90:  # below ~-90 dBov: digital silence
            key = (rate, n, None)
            frame = self._quiet.get(key)
            if frame is None:
                frame = self._quiet[key] = AudioFrame(bytes(2 * n), rate)
            return frame
        # Comfort noise at the caller's level: 0 dBov is a full-scale square wave (RFC 3389 section 3).
        rms = 32767 * 10 ** (-level / 20)
        start = self._noise_at
        self._noise_at = (start + n) % (self._noise.size - n)
        noise = np.clip(self._noise[start:start + n] * rms, -32768, 32767).astype("<i2")
        return AudioFrame(noise.tobytes(), rate)

    def _held_s(self) -> float:
        assert self._shape is not None
        rate, n = self._shape
        return len(self._held) * n / rate

    def _grow(self) -> None:
        self._stable = 0
        self.depth_s = min(self.max_depth_s, round(self.depth_s + FRAME_S, 3))

    def _contiguous(self, ts: int | None) -> bool:
        """No timestamp jump since the last frame played (a jump means the sender paused)."""
        if ts is None or self._last_ts is None:
            return True
        return (ts - self._last_ts) % 2**32 == 0

    def _extend(self, seq: int) -> int:
        """A 16-bit sequence number as a growing integer (RFC 3550 appendix A.1)."""
        base = self._last_ext
        candidate = (base & ~0xFFFF) | (seq & 0xFFFF)
        if candidate - base > 0x8000:
            candidate -= 0x10000
        elif base - candidate > 0x8000:
            candidate += 0x10000
        return candidate
