"""Recorded prompts: used while their text is current, reported ok / stale / orphan."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from bot.tts.cache import PromptCache
from bot.tts.recordings import (
    RecordedPrompts,
    recording_status,
    recording_warnings,
    save_recording,
)
from tests.tts.conftest import VOICE, FakeEngine, record


def test_status_ok_stale_orphan(tmp_path: Path, kb):
    faq = kb.faqs[0]
    record(tmp_path, faq.id, faq.answer)
    record(tmp_path, kb.faqs[1].id, kb.faqs[1].answer + " Câu cũ đã bỏ.")
    record(tmp_path, "greeting", kb.prompt("greeting"), sidecar="yml")
    record(tmp_path, "keypad_transfer.3", kb.prompt("keypad_transfer", 3))
    record(tmp_path, "cau_tra_loi_da_xoa", "Gì đó.")
    record(tmp_path, kb.faqs[2].id, None)  # no text file: cannot be trusted
    assert sorted(recording_status(kb, tmp_path)) == sorted([
        (faq.id, "ok"), (kb.faqs[1].id, "stale"), ("greeting", "ok"), ("keypad_transfer.3", "ok"),
        ("cau_tra_loi_da_xoa", "orphan"), (kb.faqs[2].id, "stale"),
    ])


def test_no_recordings_directory_is_no_recordings(tmp_path: Path, kb):
    assert recording_status(kb, tmp_path / "missing") == []


async def test_a_current_recording_replaces_tts_also_inside_a_longer_reply(tmp_path: Path, kb):
    answer = kb.faqs[0].answer
    record(tmp_path / "rec", kb.faqs[0].id, answer)
    fake = FakeEngine()
    cache = PromptCache.for_engine(fake, tmp_path / "cache", recordings=RecordedPrompts(tmp_path / "rec"))
    audio = cache.get(answer)
    assert audio is not None and len(audio) == 8000 and np.median(audio) == VOICE  # resampled, mono
    reply = answer + " " + kb.prompt("anything_else")
    stats = await cache.render_all([reply], fake)
    assert (stats.recorded, stats.rendered) == (1, 1) and fake.calls == [kb.prompt("anything_else")]
    joined = cache.get(reply)
    assert joined is not None and np.median(joined[:8000]) == VOICE and np.median(joined[8000:]) == 1000


async def test_a_stale_recording_is_not_played(tmp_path: Path, kb):
    answer = kb.faqs[0].answer
    record(tmp_path / "rec", kb.faqs[0].id, "Câu trả lời của năm ngoái.")
    fake = FakeEngine()
    cache = PromptCache.for_engine(fake, tmp_path / "cache", recordings=RecordedPrompts(tmp_path / "rec"))
    assert cache.get(answer) is None
    audio = await cache.audio(answer, fake)
    assert np.median(audio) == 1000 and audio.max() < VOICE


async def test_a_recording_without_its_text_file_is_never_played(tmp_path: Path, kb):
    answer = kb.faqs[0].answer
    record(tmp_path / "rec", kb.faqs[0].id, None)
    recordings = RecordedPrompts(tmp_path / "rec")
    assert len(recordings) == 0
    cache = PromptCache.for_engine(FakeEngine(), tmp_path / "cache", recordings=recordings)
    assert cache.get(answer) is None


async def test_an_unreadable_recording_is_stale_and_never_played(tmp_path: Path, kb):
    faq = kb.faqs[0]
    (tmp_path / f"{faq.id}.wav").write_bytes(b"not audio at all")
    (tmp_path / f"{faq.id}.txt").write_text(faq.answer, encoding="utf-8")
    assert recording_status(kb, tmp_path) == [(faq.id, "stale")]
    cache = PromptCache.for_engine(FakeEngine(), tmp_path / "cache", recordings=RecordedPrompts(tmp_path))
    assert cache.get(faq.answer) is None


def test_a_broken_yaml_sidecar_makes_the_recording_stale_not_a_crash(tmp_path: Path, kb):
    faq = kb.faqs[0]
    record(tmp_path, faq.id, None)
    (tmp_path / f"{faq.id}.yml").write_text('text: "unclosed\n  - [', encoding="utf-8")
    assert recording_status(kb, tmp_path) == [(faq.id, "stale")]
    assert len(RecordedPrompts(tmp_path)) == 0


async def test_reload_puts_a_new_take_on_the_line_and_a_replaced_take_is_never_served_from_memory(tmp_path: Path, kb):
    answer = kb.faqs[0].answer
    fake = FakeEngine()
    recordings = RecordedPrompts(tmp_path / "rec")
    cache = PromptCache.for_engine(fake, tmp_path / "cache", recordings=recordings)
    assert cache.plan(answer)[0].source == "sentence"  # nothing recorded yet: the synthetic voice
    save_recording(tmp_path / "rec", kb.faqs[0].id, np.full(16000, 2000, np.int16), 16000, answer)
    assert cache.plan(answer)[0].source == "sentence"  # written, but the live view is unchanged ...
    assert recordings.reload() == 1                     # ... until the studio reloads it
    first = await cache.audio(answer, fake)
    assert np.median(first) == 2000 and fake.calls == []
    # A second take for the same id (same path): the next sentence plays the new audio, not the cached one.
    save_recording(tmp_path / "rec", kb.faqs[0].id, np.full(8000, 5000, np.int16), 16000, answer)
    recordings.reload()
    second = await cache.audio(answer, fake)
    assert np.median(second) == 5000 and len(second) == 4000


def test_save_recording_writes_the_recordings_format(tmp_path: Path, kb):
    faq = kb.faqs[0]
    record(tmp_path, faq.id, None)
    (tmp_path / f"{faq.id}.yml").write_text('text: "old"\n', encoding="utf-8")
    save_recording(tmp_path, faq.id, np.full(1600, 100, np.int16), 16000, "  " + faq.answer + " ")
    assert (tmp_path / f"{faq.id}.txt").read_text(encoding="utf-8").strip() == faq.answer
    assert not (tmp_path / f"{faq.id}.yml").exists()
    assert sf.info(str(tmp_path / f"{faq.id}.wav")).samplerate == 16000
    assert recording_status(kb, tmp_path) == [(faq.id, "ok")]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_validate_warnings_name_stale_recordings_and_count_answers_without_one(tmp_path: Path, kb):
    record(tmp_path, kb.faqs[0].id, kb.faqs[0].answer)
    record(tmp_path, kb.faqs[1].id, "Một câu trả lời đã đổi.")
    warnings = recording_warnings(kb, tmp_path)
    assert len(warnings) == 2
    assert f"{kb.faqs[1].id}.wav: stale recording (the text changed" in warnings[0]
    assert warnings[1].startswith(f"{len(kb.faqs) - 1} of {len(kb.faqs)} answers have no current recording")
    assert kb.faqs[1].id in warnings[1] and kb.faqs[0].id not in warnings[1]


def test_bot_validate_warns_but_does_not_fail_on_recordings(tmp_path: Path, kb):
    import subprocess
    import sys

    from tests.conftest import ROOT

    record(tmp_path / "rec", kb.faqs[1].id, "Một câu trả lời đã đổi.")
    settings_file = tmp_path / "settings.yml"
    settings_file.write_text(f"content: {{dir: {ROOT / 'data/faq'}}}\nvoice: {{recordings_dir: {tmp_path / 'rec'}}}\n")
    done = subprocess.run([sys.executable, "-m", "bot.cli", "--settings", str(settings_file), "validate"],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert f"{kb.faqs[1].id}.wav: stale recording" in done.stderr
    assert f"{len(kb.faqs)} of {len(kb.faqs)} answers have no current recording" in done.stderr
