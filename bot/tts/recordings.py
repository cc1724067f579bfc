"""Prompts recorded by a person, used instead of TTS while they still say the current text.

An editor drops `data/recordings/<id>.wav` with `<id>.txt` (the exact text read) or `<id>.yml`
(`text: "..."`). Ids are those of `spoken_texts`: a FAQ id, an intent id, a prompt name, or
`<prompt>.<branch>`. A recording is played for any reply that contains its text as whole
sentences; when the editors change that text it silently stops matching and shows as stale.

The voice studio (bot/studio/) writes the same files (`save_recording`) and calls
`RecordedPrompts.reload()` on the gateway's instance, so a new take is heard from the next
sentence on, without a restart; a call in progress keeps the audio it already has.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from bot.audio.files import read_audio
from bot.config import ROOT
from bot.content.model import KnowledgeBase
from bot.tts.texts import canonical, split_sentences, spoken_texts

DEFAULT_DIR = ROOT / "data/recordings"


@dataclass(frozen=True)
class Recording:
    id: str
    wav: Path
    text: str | None  # None: no readable sidecar, so it can never be trusted
    playable: bool = True  # libsndfile can read the audio
    stamp: tuple[int, int] = (0, 0)  # (mtime ns, size) when found: a replaced file is a new recording

    @property
    def usable(self) -> bool:
        return self.text is not None and self.playable


def _sidecar_text(wav: Path) -> str | None:
    txt, yml = wav.with_suffix(".txt"), wav.with_suffix(".yml")
    if txt.exists():
        return canonical(txt.read_text(encoding="utf-8")) or None
    if yml.exists():
        try:
            data = yaml.safe_load(yml.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            return None
        text = data.get("text") if isinstance(data, dict) else None
        return canonical(text) if isinstance(text, str) and text.strip() else None
    return None


def _playable(wav: Path) -> bool:
    try:
        return sf.info(str(wav)).frames > 0
    except (sf.LibsndfileError, RuntimeError):
        return False


def _stamp(wav: Path) -> tuple[int, int]:
    try:
        st = wav.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def find_recordings(directory: Path) -> list[Recording]:
    if not directory.is_dir():
        return []
    return [Recording(wav.stem, wav, _sidecar_text(wav), _playable(wav), _stamp(wav))
            for wav in sorted(directory.glob("*.wav"))]


@dataclass(frozen=True)
class _Index:
    """One consistent view of the directory. Replaced whole by `reload`, never changed in place,
    so a call looking a sentence up while an editor accepts a take sees the old or the new
    recordings, never half of each."""

    by_sentences: dict[tuple[str, ...], Recording] = field(default_factory=dict)
    longest: int = 0
    audio: dict[tuple[Path, tuple[int, int], int], np.ndarray] = field(default_factory=dict)


def _index(directory: Path) -> _Index:
    by_sentences: dict[tuple[str, ...], Recording] = {}
    for rec in find_recordings(directory):
        if rec.usable and rec.text:
            by_sentences.setdefault(split_sentences(rec.text), rec)
    return _Index(by_sentences, max((len(k) for k in by_sentences), default=0))


class RecordedPrompts:
    """Recordings indexed by the sentences they say; audio is read on first use."""

    def __init__(self, directory: Path = DEFAULT_DIR) -> None:
        self.directory = Path(directory)
        self._index = _index(self.directory)

    def reload(self) -> int:
        """Read the directory again (a take was accepted or restored) and return how many
        recordings are usable. One attribute swap: lookups in progress finish on the old view."""
        self._index = _index(self.directory)
        return len(self._index.by_sentences)

    def __len__(self) -> int:
        return len(self._index.by_sentences)

    def match(self, parts: tuple[str, ...], start: int) -> tuple[Recording, int] | None:
        """The longest recording saying parts[start:start+n]; returns it and n."""
        index = self._index
        for n in range(min(index.longest, len(parts) - start), 0, -1):
            rec = index.by_sentences.get(parts[start:start + n])
            if rec is not None:
                return rec, n
        return None

    def audio(self, rec: Recording, sample_rate: int) -> np.ndarray:
        """The recording as mono int16 at `sample_rate` (read and converted once per file version:
        the key holds the file's stamp, so a replaced take is never served from the old audio)."""
        cache = self._index.audio
        key = (rec.wav, rec.stamp, sample_rate)
        pcm = cache.get(key)
        if pcm is None:
            pcm = read_audio(rec.wav, sample_rate)[0]
            pcm.setflags(write=False)  # shared by every call that plays it
            cache[key] = pcm
        return pcm


def save_recording(directory: Path, rid: str, pcm: np.ndarray, rate: int, text: str) -> Recording:
    """Write `<rid>.wav` (16-bit mono) and `<rid>.txt` (the text it says) in the recordings format.

    Each file is written under a temporary name and renamed over the old one, so a reader sees a
    whole old file or a whole new one. The text goes last: until it is there the new audio is
    paired with the old text, which the studio only does under its lock, reloading after both.
    """
    directory.mkdir(parents=True, exist_ok=True)
    wav, txt = directory / f"{rid}.wav", directory / f"{rid}.txt"
    tmp_wav, tmp_txt = (p.with_name(f".{p.name}.{os.getpid()}.tmp") for p in (wav, txt))
    sf.write(str(tmp_wav), np.asarray(pcm, dtype=np.int16), rate, format="WAV", subtype="PCM_16")
    tmp_txt.write_text(canonical(text) + "\n", encoding="utf-8")
    os.replace(tmp_wav, wav)
    os.replace(tmp_txt, txt)
    yml = directory / f"{rid}.yml"
    if yml.exists():  # an older hand-made sidecar would otherwise be read if the .txt went missing
        yml.unlink()
    return Recording(rid, wav, canonical(text), True, _stamp(wav))


def recording_problems(kb: KnowledgeBase, directory: Path = DEFAULT_DIR) -> list[tuple[str, str, str]]:
    """(id, status, why) for every recording; see `recording_status`."""
    current = spoken_texts(kb)
    found = []
    for rec in find_recordings(Path(directory)):
        if rec.id not in current:
            found.append((rec.id, "orphan", "no answer, response or prompt has this id"))
        elif rec.text is None:
            found.append((rec.id, "stale", f"no {rec.id}.txt / {rec.id}.yml with the text it says"))
        elif not rec.playable:
            found.append((rec.id, "stale", "the audio cannot be read (not a WAV, or empty)"))
        elif rec.text != canonical(current[rec.id]):
            found.append((rec.id, "stale", "the text changed since it was recorded"))
        else:
            found.append((rec.id, "ok", ""))
    return found


def recording_status(kb: KnowledgeBase, directory: Path = DEFAULT_DIR) -> list[tuple[str, str]]:
    """(id, 'ok' | 'stale' | 'orphan') for every recording: orphan = no such id any more,
    stale = not played: its text changed, its text file is missing or its audio is unreadable."""
    return [(rid, status) for rid, status, _ in recording_problems(kb, directory)]


def recording_warnings(kb: KnowledgeBase, directory: Path = DEFAULT_DIR) -> list[str]:
    """What `bot validate` warns about: stale recordings (not played: the bot speaks that sentence
    with the synthetic voice) and FAQ answers with no current recording (a caller hears the
    synthetic voice for the answers that matter most). One line each, fit for editors."""
    directory = Path(directory)
    warnings, current = [], set()
    for rid, status, why in recording_problems(kb, directory):
        if status == "ok":
            current.add(rid)
        elif status == "stale":
            warnings.append(f"{directory / (rid + '.wav')}: stale recording ({why}); "
                            "the synthetic voice says it until it is recorded again")
    missing = [f.id for f in kb.faqs if f.id not in current]
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        warnings.append(f"{len(missing)} of {len(kb.faqs)} answers have no current recording "
                        f"(callers hear the synthetic voice): {shown}")
    return warnings
