"""The caller's playout (bot/audio/jitter.py) on a virtual clock: order, duplicates, loss and its
concealment, the dry buffer's silence and comfort noise, wrap-around, timestamp jumps, markers,
adaptive depth."""
from __future__ import annotations

import numpy as np
import pytest

from bot.audio.frames import AudioFrame
from bot.audio.jitter import Playout


def tone(i: int) -> AudioFrame:
    """Frame `i`: a constant level that names it (i * 10 + 100), so the tests can tell frames apart."""
    return AudioFrame(np.full(160, 100 + 10 * i, np.int16).tobytes(), 8000)


def label(frame: AudioFrame) -> str:
    s = frame.samples
    if not s.any():
        return "_"
    if (s == s[0]).all() and int(s[0]) >= 100 and (int(s[0]) - 100) % 10 == 0:
        return str((int(s[0]) - 100) // 10)
    return "~"  # concealed (faded) or comfort noise


class Line:
    """Packets sent every 20 ms from t=0; `arrive` lists (packet index, extra delay s)."""

    def __init__(self, playout: Playout) -> None:
        self.p = playout
        self.t = 0.0
        self.out: list[str] = []

    def run(self, arrivals: list[tuple[float, int, int | None, bool]], until: float) -> str:
        """arrivals: (arrival time, frame number, seq or None, marker). Pull every 20 ms."""
        pending = sorted(arrivals, key=lambda a: a[0])
        while self.t <= until + 1e-9:
            while pending and pending[0][0] <= self.t + 1e-9:
                at, i, seq, marker = pending.pop(0)
                self.p.push(tone(i), at, seq=seq, ts=None if seq is None else 160 * i, marker=marker)
            self.out += [label(f) for f in self.p.pull(self.t)]
            self.t = round(self.t + 0.02, 6)
        return "".join(self.out)


def steady(n: int, first_seq: int = 100, start: float = 0.0, skip: tuple[int, ...] = ()) -> list:
    return [(start + 0.02 * i, i, (first_seq + i) % 65536, i == 0) for i in range(n) if i not in skip]


def test_nothing_before_the_first_frame_then_a_steady_stream_with_silence_when_it_stops():
    p = Playout(depth_s=0.04)
    assert p.pull(0.0) == []  # the stream's rate is not known yet: nothing to play
    out = Line(p).run(steady(5), until=0.3)
    # waits 40 ms (depth), plays 0-4 one per slot, then silence every slot: the pause is heard
    assert out.startswith("__0123") and out.rstrip("_") == "__01234"
    assert len(out) == 16 and p.stats.played == 5 and p.stats.lost == 0


def test_reordered_packets_are_played_in_sequence_order():
    arrivals = steady(6)
    arrivals[2], arrivals[3] = (arrivals[3][0] - 0.001, *arrivals[2][1:]), (arrivals[2][0], *arrivals[3][1:])
    out = Line(Playout(depth_s=0.04)).run(arrivals, until=0.2)
    assert out.rstrip("_").lstrip("_") == "012345"


def test_the_first_packets_overtaking_each_other_are_still_played_in_order():
    arrivals = [(0.0, 1, 101, False), (0.005, 0, 100, True)] + steady(6)[2:]
    assert Line(Playout(depth_s=0.04)).run(arrivals, until=0.3).strip("_") == "012345"


def test_duplicates_are_dropped():
    arrivals = steady(4) + [(0.05, 1, 101, False), (0.2, 2, 102, False)]  # a copy in time, and a late one
    p = Playout(depth_s=0.04)
    out = Line(p).run(arrivals, until=0.3)
    assert out.strip("_") == "0123" and p.stats.duplicates == 2 and p.stats.late == 0


def test_a_lost_packet_is_concealed_by_the_previous_frame_fading_then_silence():
    p = Playout(depth_s=0.08, conceal_frames=2)
    out = Line(p).run(steady(10, skip=(3, 4, 5)), until=0.5)
    # 3 lost frames: the previous one repeated at half, a quarter, then silence, then 6...
    assert out.strip("_") == "012~~_6789"
    assert p.stats.lost == 3 and p.stats.concealed == 2
    p0 = Playout(depth_s=0.04, conceal_frames=0)  # concealment off: silence in the hole
    assert Line(p0).run(steady(10, skip=(3,)), until=0.4).strip("_") == "012_456789"


def test_a_loss_longer_than_the_depth_is_silence_on_the_clock_and_nothing_is_played_late():
    p = Playout(depth_s=0.04)
    out = Line(p).run(steady(10, skip=(3, 4, 5, 6)), until=0.5)
    # the buffer runs dry at frame 3's slot: silence; 7 restarts playout after the depth
    assert out.strip("_").replace("_", " ").split() == ["012", "789"]
    assert p.stats.lost == 4 and p.stats.concealed == 0


def test_sequence_numbers_wrap_at_65535():
    p = Playout(depth_s=0.04)
    out = Line(p).run(steady(8, first_seq=65533), until=0.3)
    assert out.strip("_") == "01234567" and p.stats.resets == 0 and p.stats.lost == 0


def test_a_sequence_jump_is_a_new_sender_and_restarts_the_order():
    p = Playout(depth_s=0.04)
    arrivals = steady(3) + [(0.06 + 0.02 * i, 3 + i, 30000 + i, i == 0) for i in range(3)]
    out = Line(p).run(arrivals, until=0.3)
    assert out.replace("_", "") == "012345" and p.stats.resets == 1 and p.stats.lost == 0


def test_dtx_pause_plays_silence_on_the_clock_and_a_new_talkspurt_does_not_grow_the_depth():
    p = Playout(depth_s=0.04)
    # talkspurt 0-2, 1 s of nothing (DTX), talkspurt 3-5 continuing the sequence: timestamp jump + marker
    arrivals = steady(3) + [(1.0 + 0.02 * k, 3 + k, 103 + k, k == 0) for k in range(3)]
    line = Line(p)
    out = line.run([(a, i, s, m) for a, i, s, m in arrivals], until=1.3)
    assert out.count("_") > 45  # the second of silence reached the listener slot by slot
    assert out.replace("_", "") == "012345" and p.depth_s == pytest.approx(0.04)


def test_a_late_stream_grows_the_depth_a_timestamp_jump_or_marker_does_not():
    # The stream stalls 60 ms mid-talkspurt, then goes on (same timestamps): it was late.
    late = steady(3) + [(0.04 + 0.08 + 0.02 * k, 3 + k, 103 + k, False) for k in range(3)]
    p = Playout(depth_s=0.04, max_depth_s=0.2)
    Line(p).run(late, until=0.4)
    assert p.depth_s > 0.04
    # The same arrival times with a timestamp jump (the sender paused): no growth.
    q = Playout(depth_s=0.04)
    line = Line(q)
    pending = list(late)
    while line.t <= 0.4:
        while pending and pending[0][0] <= line.t + 1e-9:
            at, i, seq, marker = pending.pop(0)
            ts = 160 * i + (8000 if i >= 3 else 0)
            q.push(tone(i), at, seq=seq, ts=ts)
        q.pull(line.t)
        line.t = round(line.t + 0.02, 6)
    assert q.depth_s == pytest.approx(0.04)
    r = Playout(depth_s=0.04)  # marker bit on the first frame after the pause: a new talkspurt
    Line(r).run(steady(3) + [(0.12 + 0.02 * k, 3 + k, 103 + k, k == 0) for k in range(3)], until=0.4)
    assert r.depth_s == pytest.approx(0.04)


def test_a_packet_concealed_then_arriving_late_is_dropped_and_grows_the_depth():
    arrivals = steady(8, skip=(2,)) + [(0.2, 2, 102, False)]
    p = Playout(depth_s=0.04, conceal_frames=2)
    out = Line(p).run(arrivals, until=0.4)
    assert out.strip("_") == "01~34567" and p.stats.late == 1 and p.depth_s > 0.04


def test_the_depth_never_exceeds_the_maximum_and_shrinks_when_calm():
    p = Playout(depth_s=0.04, max_depth_s=0.1, shrink_after=20)
    for _ in range(10):
        p._grow()
    assert p.depth_s == pytest.approx(0.1)
    Line(p).run(steady(60), until=1.5)
    assert p.depth_s < 0.1


def test_a_burst_is_handed_over_at_once_instead_of_piling_up():
    p = Playout(depth_s=0.04, slack_s=0.06)
    arrivals = [(0.0, i, 200 + i, i == 0) for i in range(25)]  # half a second at once
    line = Line(p)
    frames_per_pull = []
    for k in range(5):
        before = len(line.out)
        line.run(arrivals if k == 0 else [], until=line.t)
        frames_per_pull.append(len(line.out) - before)
    assert max(frames_per_pull) > 1 and p._held_s() <= 0.04 + 0.06 + 1e-9
    assert p.stats.played + len(p._held) == 25  # nothing dropped


def test_unsequenced_frames_play_first_in_first_out_with_silence_after():
    p = Playout(depth_s=0.04)
    out = Line(p).run([(0.02 * i, i, None, False) for i in range(4)], until=0.3)
    assert out.strip("_") == "0123" and out.endswith("____")


def test_comfort_noise_packets_are_silence_at_their_level_never_speech():
    p = Playout(depth_s=0.04)
    line = Line(p)
    line.run(steady(3), until=0.1)
    p.caller_silent(0.1, level=60, seq=103)
    frames = []
    for k in range(10):
        frames += p.pull(0.12 + 0.02 * k)
    quiet = [f for f in frames if f.samples.any() and label(f) == "~"]
    assert quiet, "comfort noise expected at the CN level"
    rms = np.sqrt(np.mean(np.concatenate([f.samples for f in quiet]).astype(float) ** 2))
    assert 10 < rms < 100  # -60 dBov: about 33 of 32767
    assert p.stats.comfort_noise == 1 and p.stats.played == 3 and p.stats.lost == 0
    # the next talkspurt continues the sequence after the CN packet: nothing counted lost
    p.push(tone(4), 0.5, seq=104, ts=9000, marker=True)
    assert "4" in [label(f) for f in p.pull(0.54) + p.pull(0.56)] and p.stats.lost == 0


def test_drain_hands_over_what_waits_when_the_caller_hangs_up():
    p = Playout(depth_s=0.06)
    for i in range(3):
        p.push(tone(i), 0.0, seq=10 + i)
    p.push(tone(4), 0.0, seq=14)
    assert [label(f) for f in p.drain()] == ["0", "1", "2", "4"]
    assert p.drain() == []


def test_a_flood_while_nobody_pulls_is_bounded():
    from bot.audio.jitter import MAX_HELD

    p = Playout()
    for k in range(MAX_HELD + 300):
        p.push(tone(1), 0.0, seq=(k * 7919) % 65536)  # numbers all over the place: resets too
    assert len(p._held) == MAX_HELD and p.stats.overflow == 300
    out = p.pull(1.0)  # the next slot hands the backlog on, no more frames than were held
    assert 1 < len(out) <= MAX_HELD and p.stats.played <= MAX_HELD
