"""What the studio keeps on disk: the sentences and their status, takes awaiting a decision,
accepted takes (the recordings format of bot/tts/recordings.py), earlier takes, the audit log.

    <recordings_dir>/<id>.wav, <id>.txt   the take callers hear (read by RecordedPrompts)
    <recordings_dir>/<id>.json            who accepted it, when, its checks
    <recordings_dir>/previous/<id>/<stamp>.{wav,txt,json}   earlier takes, newest last
    <work_dir>/takes/<take>/              a processed take awaiting accept (kept a day)
    <work_dir>/audit.jsonl                one line per change: who, what, which sentence, when

Blocking file work; the routes run it in worker threads. Accept and restore hold one lock so two
editors never interleave their files for the same sentence.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from bot.content.load import load_knowledge_base
from bot.content.model import KnowledgeBase
from bot.tts.recordings import find_recordings, save_recording
from bot.tts.texts import PLACEHOLDERS, canonical, spoken_texts

TAKE_ID = re.compile(r"^[0-9a-f]{24}$")
TAKE_MAX_AGE_S = 24 * 3600
PREVIOUS = "previous"
KEEP_PREVIOUS = 10  # earlier takes kept per sentence (about 1 MB each); older ones are deleted


@dataclass(frozen=True)
class Sentence:
    id: str
    kind: str         # faq | intent | prompt | transfer | danger
    group: str        # the knowledge base's grouping: a FAQ category, intents, prompts, ...
    group_title: str
    text: str


def sentences(kb: KnowledgeBase) -> list[Sentence]:
    """Every sentence the bot can say (bot.tts.texts.spoken_texts), grouped as editors know them."""
    texts = spoken_texts(kb)
    out: list[Sentence] = []
    for category, title in kb.categories.items():
        out += [Sentence(f.id, "faq", category, f"Câu trả lời: {title}", texts[f.id])
                for f in kb.faqs if f.category == category and f.id in texts]
    out += [Sentence(i.id, "intent", "intents", "Đáp lại theo ý định (chào, cảm ơn, chuyển máy…)", texts[i.id])
            for i in kb.intents if i.id in texts]
    per_branch: list[Sentence] = []  # prompts that name a branch: one sentence per branch, a group of their own
    for name, raw in kb.prompts.items():
        if any(p in raw for p in PLACEHOLDERS):
            per_branch += [Sentence(f"{name}.{b}", "transfer", "transfers", "Thông báo chuyển máy (theo nhánh)",
                                    texts[f"{name}.{b}"]) for b in sorted(kb.branches) if f"{name}.{b}" in texts]
        elif name in texts:
            out.append(Sentence(name, "prompt", "prompts", "Câu nói cố định (chào, hỏi lại, nhắc…)", texts[name]))
    out += per_branch
    for kind in (kb.danger.kinds if kb.danger else ()):
        for rid in (f"danger_{kind.id}", f"danger_{kind.id}_failed"):
            if rid in texts:
                out.append(Sentence(rid, "danger", "danger", "An toàn: tình huống nguy hiểm", texts[rid]))
    listed = {s.id for s in out}
    out += [Sentence(rid, "other", "other", "Khác", text) for rid, text in texts.items() if rid not in listed]
    return out


class Content:
    """The knowledge base as the editors last saved it, re-read when a file under it changes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._signature: tuple[Any, ...] | None = None
        self._sentences: dict[str, Sentence] = {}
        self.broken = ""  # why the files as saved now cannot be read ('' when they can)
        self._lock = threading.Lock()

    def _files(self) -> tuple[Any, ...]:
        files = sorted(self.directory.rglob("*.yml"))
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)

    def current(self) -> dict[str, Sentence]:
        """id -> sentence (blocking: ~2 s when the content changed, else a directory scan)."""
        with self._lock:
            signature = self._files()
            if signature != self._signature:
                kb, problems = load_knowledge_base(self.directory)
                if kb is not None:
                    self._sentences = {s.id: s for s in sentences(kb)}
                    self.broken = ""
                else:  # keep the last good list: the running bot keeps its last good model too
                    errors = [str(p) for p in problems if p.severity == "error"]
                    self.broken = f"{len(errors)} error(s), e.g. {errors[0] if errors else '?'}"
                self._signature = signature
            return self._sentences


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + secrets.token_hex(2)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class StudioError(Exception):
    """A request the store refuses; `status` is the HTTP status, the message is for the editor."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class Take:
    take: str
    sentence: str
    text: str          # the sentence's text when it was recorded: the take is checked against it
    user: str
    at: str
    report: dict[str, Any]   # processing and word check, as shown to the editor
    needs_override: bool     # flags or a word mismatch: only with the editor's explicit override
    blocked: bool            # no speech: never


class Store:
    def __init__(self, recordings_dir: Path, work_dir: Path, on_change: Callable[[], None]) -> None:
        self.recordings_dir = recordings_dir
        self.work_dir = work_dir
        self.takes_dir = work_dir / "takes"
        self.audit_path = work_dir / "audit.jsonl"
        self.on_change = on_change  # the live gateway re-reads its recordings
        self._lock = threading.Lock()

    # ----- status ---------------------------------------------------------------------------------
    def status(self, current: dict[str, Sentence]) -> dict[str, dict[str, Any]]:
        """id -> {status: current|stale|synthetic, recorded_by, recorded_at, previous: n}."""
        found = {r.id: r for r in find_recordings(self.recordings_dir)}
        out: dict[str, dict[str, Any]] = {}
        for rid, sentence in current.items():
            rec = found.get(rid)
            info: dict[str, Any] = {"status": "synthetic", "previous": len(self._previous(rid))}
            if rec is not None:
                fresh = rec.usable and rec.text == canonical(sentence.text)
                info["status"] = "current" if fresh else "stale"
                meta = self._meta(self.recordings_dir / f"{rid}.json")
                info["recorded_by"], info["recorded_at"] = meta.get("by"), meta.get("at")
                info["cer"] = meta.get("cer")
            out[rid] = info
        return out

    def recording_path(self, rid: str, which: str) -> Path | None:
        """The live take (`current`) or the newest earlier one (`previous`), if any."""
        if which == "current":
            path = self.recordings_dir / f"{rid}.wav"
            return path if path.exists() else None
        previous = self._previous(rid)
        return previous[-1] if previous else None

    # ----- takes ----------------------------------------------------------------------------------
    def new_take(self, sentence: Sentence, user: str, pcm: np.ndarray, rate: int, phone: np.ndarray,
                 phone_rate: int, report: dict[str, Any], needs_override: bool, blocked: bool) -> Take:
        self._sweep()
        take = Take(secrets.token_hex(12), sentence.id, sentence.text, user, _now(), report, needs_override, blocked)
        folder = self.takes_dir / take.take
        folder.mkdir(parents=True)
        if pcm.size:
            sf.write(str(folder / "take.wav"), pcm, rate, subtype="PCM_16")
            sf.write(str(folder / "phone.wav"), phone, phone_rate, subtype="PCM_16")
        (folder / "take.json").write_text(json.dumps(asdict(take), ensure_ascii=False), encoding="utf-8")
        self.audit(user, "take", sentence.id, take=take.take, checks=_summary(report))
        return take

    def take(self, take_id: str) -> Take:
        if not TAKE_ID.match(take_id):
            raise StudioError(404, "no_take", "Không có bản thu này.")
        path = self.takes_dir / take_id / "take.json"
        if not path.exists():
            raise StudioError(404, "no_take", "Không có bản thu này (có thể đã quá một ngày).")
        return Take(**json.loads(path.read_text(encoding="utf-8")))

    def take_audio(self, take_id: str) -> Path:
        self.take(take_id)
        path = self.takes_dir / take_id / "phone.wav"
        if not path.exists():
            raise StudioError(404, "no_audio", "Bản thu này không có âm thanh dùng được.")
        return path

    def accept(self, take_id: str, user: str, override: bool, current: dict[str, Sentence]) -> dict[str, Any]:
        take = self.take(take_id)
        sentence = current.get(take.sentence)
        if sentence is None:
            raise StudioError(409, "gone", "Câu này không còn trong cơ sở tri thức.")
        if canonical(sentence.text) != canonical(take.text):
            raise StudioError(409, "text_changed", "Nội dung câu đã đổi sau khi thu: hãy thu lại theo câu mới.")
        if take.blocked:
            raise StudioError(409, "blocked", "Bản thu không có tiếng nói, không dùng được.")
        if take.needs_override and not override:
            raise StudioError(409, "needs_override", "Bản thu có cảnh báo: nghe lại, rồi chọn "
                                                     "\"vẫn dùng bản thu này\" nếu chắc chắn.")
        folder = self.takes_dir / take_id
        pcm, rate = sf.read(str(folder / "take.wav"), dtype="int16")
        with self._lock:
            kept = self._keep_previous(take.sentence)
            save_recording(self.recordings_dir, take.sentence, pcm, rate, take.text)
            meta = {"by": user, "at": _now(), "take": take_id, "override": bool(take.needs_override and override),
                    "recorded_by": take.user, "cer": take.report.get("words", {}).get("cer"),
                    "checks": _summary(take.report)}
            _write_json(self.recordings_dir / f"{take.sentence}.json", meta)
            self.on_change()
        shutil.rmtree(folder, ignore_errors=True)
        self.audit(user, "accept", take.sentence, take=take_id, override=meta["override"],
                   previous_kept=kept is not None, checks=meta["checks"])
        return meta

    def restore(self, rid: str, user: str) -> dict[str, Any]:
        """Put the newest earlier take back on the line; the one it replaces becomes the newest
        earlier take, so a restore can itself be undone."""
        with self._lock:
            previous = self._previous(rid)
            if not previous:
                raise StudioError(404, "no_previous", "Câu này chưa có bản thu trước để khôi phục.")
            chosen = previous[-1]
            parked = self.recordings_dir / PREVIOUS / rid / f".restoring-{secrets.token_hex(4)}"
            for ext in (".wav", ".txt", ".json"):
                if chosen.with_suffix(ext).exists():
                    os.replace(chosen.with_suffix(ext), parked.with_suffix(ext))
            self._keep_previous(rid)
            for ext in (".txt", ".json", ".wav"):
                live = self.recordings_dir / f"{rid}{ext}"
                if parked.with_suffix(ext).exists():
                    os.replace(parked.with_suffix(ext), live)
                elif ext == ".json" and live.exists():
                    live.unlink()  # the restored take has no record of who made it: say nothing false
            self.on_change()
        meta = self._meta(self.recordings_dir / f"{rid}.json")
        self.audit(user, "restore", rid, restored=chosen.stem, recorded_by=meta.get("by"))
        return meta

    # ----- audit ----------------------------------------------------------------------------------
    def audit(self, user: str, action: str, sentence: str | None = None, **details: Any) -> None:
        """One JSON line per event, appended with a single write (lines never interleave)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": _now(), "user": user, "action": action, "sentence": sentence, **details},
                          ensure_ascii=False, default=str) + "\n"
        fd = os.open(self.audit_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)

    # ----- helpers --------------------------------------------------------------------------------
    def _previous(self, rid: str) -> list[Path]:
        folder = self.recordings_dir / PREVIOUS / rid
        return sorted(folder.glob("[0-9]*.wav")) if folder.is_dir() else []

    def _keep_previous(self, rid: str) -> Path | None:
        """Move the live take (if any) into previous/<id>/ under a time stamp."""
        wav = self.recordings_dir / f"{rid}.wav"
        if not wav.exists():
            return None
        folder = self.recordings_dir / PREVIOUS / rid
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{_stamp()}.wav"
        for ext in (".txt", ".yml", ".json"):  # sidecars first: the .wav still plays until it moves
            src = wav.with_suffix(ext)
            if src.exists():
                shutil.copy2(src, target.with_suffix(ext if ext != ".yml" else ".txt"))
        shutil.copy2(wav, target)  # copied, not moved: the line keeps a take until the new one is in place
        for old in self._previous(rid)[:-KEEP_PREVIOUS]:
            for ext in (".wav", ".txt", ".json"):
                old.with_suffix(ext).unlink(missing_ok=True)
        return target

    @staticmethod
    def _meta(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _sweep(self) -> None:
        """Takes nobody accepted are dropped after a day."""
        if not self.takes_dir.is_dir():
            return
        limit = time.time() - TAKE_MAX_AGE_S
        for folder in self.takes_dir.iterdir():
            if folder.is_dir() and folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    words = report.get("words") or {}
    return {"flags": [f["code"] for f in report.get("flags", [])], "words_ok": words.get("ok"),
            "cer": words.get("cer")}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
