"""One take, from the editor's file to the audio callers hear: decode, trim, level, check.

- decode: PyAV (ffmpeg's demuxers and decoders, bundled in the wheel). Only WAV, MP3, OGG, WebM
  and M4A are accepted, recognised by their first bytes and opened with that one demuxer forced,
  so ffmpeg never guesses a format for untrusted bytes; decoding stops past `MAX_SECONDS`.
- clipping is measured on the decoded signal before anything changes its peaks.
- trim: the quiet before the first and after the last loud 20 ms frame goes (a short margin
  stays so no consonant is cut).
- loudness: ITU-R BS.1770 integrated loudness (pyloudnorm), one target for every sentence, so
  the bot does not get louder and softer from one sentence to the next; the gain is capped so
  peaks stay below `PEAK_CEILING`.
- flags an editor must hear about: clipped, too quiet (the gain would lift the room noise too),
  noisy, no speech at all (that one can never be accepted).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
import pyloudnorm
import soxr

RATE = 16000                 # stored takes: wideband, so a future wideband line loses nothing
MAX_SECONDS = 180.0          # the longest answer read slowly is about a minute
FRAME = RATE // 50           # 20 ms
SPEECH_BELOW_PEAK_DB = 35.0  # a frame this far below the loudest frame is silence for trimming
SILENCE_FLOOR_DB = -55.0     # ... and never louder than this
LEAD_S, TAIL_S = 0.15, 0.30  # margins kept around the speech (a soft onset, a fading last syllable)
FADE_S = 0.01                # no click where the trimmed audio starts and ends
PEAK_CEILING = 10 ** (-1 / 20)  # -1 dBFS: room for the µ-law encoder and the line's filters
CLIP_LEVEL = 0.99            # |sample| at or above this counts as at full scale
CLIP_FRACTION = 0.001        # more than 1 in 1000 speech samples at full scale: audibly clipped
TOO_QUIET_LUFS = -40.0       # a take this quiet needs > 20 dB of gain: noise and hiss come up with it
NOISY_SNR_DB = 25.0          # speech less than this above the room noise: the noise is heard on the line
MIN_SPEECH_S = 0.4           # BS.1770 needs 400 ms blocks; a real sentence is longer anyway

# First bytes -> the one ffmpeg demuxer allowed to open them.
FORMATS = {"wav": "wav", "mp3": "mp3", "ogg": "ogg", "webm": "matroska", "m4a": "mp4"}


class TakeError(ValueError):
    """The file cannot be used as a take; the message is for the editor (Vietnamese)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def sniff(data: bytes) -> str | None:
    """The container by its signature: wav | mp3 | ogg | webm | m4a, or None (refused)."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM/Matroska (what browsers' MediaRecorder makes)
        return "webm"
    if head[4:8] == b"ftyp":              # ISO BMFF: M4A/MP4 (phones' voice memos)
        return "m4a"
    # MPEG audio frame sync; layer bits 00 would be AAC in ADTS, which is not accepted.
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "mp3"
    return None


def decode(data: bytes) -> tuple[np.ndarray, int, str]:
    """(float32 mono samples in -1..1, their rate, the format name). Raises TakeError."""
    kind = sniff(data)
    if kind is None:
        raise TakeError("format", "Không nhận ra định dạng tệp: chỉ nhận WAV, MP3, OGG, WebM, M4A.")
    chunks: list[np.ndarray] = []
    rate = 0
    try:
        with av.open(io.BytesIO(data), mode="r", format=FORMATS[kind]) as container:
            streams = container.streams.audio
            if not streams:
                raise TakeError("no_audio", "Tệp không có âm thanh.")
            stream = streams[0]
            rate = int(stream.rate or stream.codec_context.sample_rate or 0)
            if not 4000 <= rate <= 192000:
                raise TakeError("format", f"Tần số lấy mẫu {rate} Hz không dùng được.")
            # ffmpeg's own resampler only mixes down to mono float; the rate stays as recorded.
            mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
            total = 0
            for frame in container.decode(stream):
                for out in mono.resample(frame):
                    chunk = out.to_ndarray().reshape(-1).astype(np.float32)
                    total += chunk.size
                    if total > MAX_SECONDS * rate:
                        raise TakeError("too_long", f"Bản thu dài quá {MAX_SECONDS:.0f} giây.")
                    chunks.append(chunk)
            for out in mono.resample(None):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.float32))
    except TakeError:
        raise
    except (av.FFmpegError, ValueError, IndexError, OSError) as exc:
        raise TakeError("decode", f"Không đọc được tệp {kind.upper()}: {type(exc).__name__}.") from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise TakeError("no_audio", "Tệp không có âm thanh.")
    return samples, rate, kind


def _frame_db(x: np.ndarray) -> np.ndarray:
    """Level of each 20 ms frame in dBFS (RMS)."""
    n = x.size // FRAME
    if n == 0:
        return np.full(1, -120.0)
    frames = x[: n * FRAME].reshape(n, FRAME).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def trim(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(the speech with short margins, seconds cut at the start, at the end); all silence -> empty."""
    db = _frame_db(x)
    threshold = max(float(db.max()) - SPEECH_BELOW_PEAK_DB, SILENCE_FLOOR_DB)
    loud = np.flatnonzero(db >= threshold)
    if loud.size == 0 or db.max() < SILENCE_FLOOR_DB:
        return x[:0], x.size / RATE, 0.0
    start = max(0, loud[0] * FRAME - int(LEAD_S * RATE))
    end = min(x.size, (loud[-1] + 1) * FRAME + int(TAIL_S * RATE))
    out = x[start:end].copy()
    fade = min(int(FADE_S * RATE), out.size // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        out[:fade] *= ramp
        out[-fade:] *= ramp[::-1]
    return out, start / RATE, (x.size - end) / RATE


def loudness(x: np.ndarray) -> float:
    """Integrated loudness (LUFS, BS.1770 with gating); -inf for silence or < 400 ms."""
    if x.size < int(MIN_SPEECH_S * RATE):
        return float("-inf")
    return float(pyloudnorm.Meter(RATE).integrated_loudness(x.astype(np.float64)))


@dataclass(frozen=True)
class Flag:
    code: str       # clipped | too_quiet | noisy | peak_limited | no_speech
    message: str    # for the editor, in Vietnamese
    blocking: bool  # True: the take cannot go live at all (no speech)


@dataclass(frozen=True)
class Processed:
    pcm: np.ndarray           # int16 mono at RATE, trimmed and levelled: what is stored
    format: str
    seconds_in: float         # the take as uploaded
    seconds: float            # after trimming
    trimmed_start_s: float
    trimmed_end_s: float
    loudness_in: float        # LUFS before levelling (-inf: nothing measurable)
    loudness_out: float       # LUFS after
    gain_db: float
    clipped_fraction: float
    snr_db: float             # speech loudness above the quietest frames of the take
    flags: tuple[Flag, ...]

    @property
    def blocked(self) -> bool:
        return any(f.blocking for f in self.flags)


def process(data: bytes, target_lufs: float) -> Processed:
    """Decode and prepare one take (CPU-bound: call it in a worker thread)."""
    raw, rate, kind = decode(data)
    seconds_in = raw.size / rate
    speech_at_source = raw  # clipping is judged before resampling moves the peaks
    x = soxr.resample(raw, rate, RATE, quality="HQ").astype(np.float32) if rate != RATE else raw
    speech, cut_start, cut_end = trim(x)
    flags: list[Flag] = []
    if speech.size < int(MIN_SPEECH_S * RATE):
        flags.append(Flag("no_speech", "Không nghe thấy tiếng nói trong bản thu (hoặc quá ngắn).", True))
        empty = np.zeros(0, np.int16)
        return Processed(empty, kind, seconds_in, 0.0, cut_start, cut_end, float("-inf"), float("-inf"),
                         0.0, 0.0, 0.0, tuple(flags))
    lo, hi = int(cut_start * rate), raw.size - int(cut_end * rate)
    clipped = float(np.mean(np.abs(speech_at_source[lo:max(hi, lo + 1)]) >= CLIP_LEVEL))
    if clipped > CLIP_FRACTION:
        flags.append(Flag("clipped", f"Bản thu bị vỡ tiếng (méo) ở {clipped:.1%} số mẫu: để micro xa hơn "
                                     "hoặc giảm mức thu rồi thu lại.", False))
    level_in = loudness(speech)
    db = _frame_db(x)
    snr = float(level_in - np.percentile(db, 10)) if np.isfinite(level_in) else 0.0
    if not np.isfinite(level_in) or level_in < TOO_QUIET_LUFS:
        flags.append(Flag("too_quiet", "Bản thu quá nhỏ: nói gần micro hơn hoặc tăng mức thu.", False))
    elif snr < NOISY_SNR_DB:
        flags.append(Flag("noisy", f"Tiếng ồn nền lớn (tiếng nói chỉ to hơn nền {snr:.0f} dB): "
                                   "thu ở chỗ yên tĩnh hơn.", False))
    gain_db = (target_lufs - level_in) if np.isfinite(level_in) else 0.0
    peak = float(np.max(np.abs(speech))) or 1.0
    limit_db = 20 * np.log10(PEAK_CEILING / peak)
    if gain_db > limit_db:
        gain_db = float(limit_db)  # quieter than the target rather than clipped by us
    out = np.clip(speech * 10 ** (gain_db / 20), -1.0, 1.0)
    pcm = np.round(out * 32767).astype(np.int16)
    return Processed(pcm, kind, seconds_in, pcm.size / RATE, cut_start, cut_end, level_in,
                     loudness(out.astype(np.float32)), float(gain_db), clipped, snr, tuple(flags))
