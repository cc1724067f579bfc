"""The studio's files: accept keeps the previous take, restore swaps back and can be undone,
earlier takes are capped, and the live gateway is told after every change."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.studio import store as store_module
from bot.studio.store import Sentence, Store, StudioError

SENTENCE = Sentence("greeting", "prompt", "prompts", "Câu nói cố định", "Xin chào, đây là tổng đài.")
CURRENT = {SENTENCE.id: SENTENCE}


def take(store: Store, level: int, needs_override: bool = False, blocked: bool = False) -> str:
    pcm = np.full(1600, level, np.int16)
    report = {"flags": [], "words": {"ok": not needs_override, "cer": 0.0}}
    return store.new_take(SENTENCE, "lan", pcm, 16000, pcm[::2], 8000, report, needs_override, blocked).take


def live_level(store: Store) -> int:
    pcm, _ = sf.read(str(store.recordings_dir / "greeting.wav"), dtype="int16")
    return int(np.median(pcm))


@pytest.fixture
def store(tmp_path: Path) -> tuple[Store, list[int]]:
    changes: list[int] = []
    return Store(tmp_path / "recordings", tmp_path / "studio", lambda: changes.append(1)), changes


def test_accept_restore_and_restore_again(store):
    s, changes = store
    assert s.status(CURRENT)["greeting"]["status"] == "synthetic"
    s.accept(take(s, 100), "lan", False, CURRENT)
    s.accept(take(s, 200), "minh", False, CURRENT)
    assert live_level(s) == 200 and len(changes) == 2
    info = s.status(CURRENT)["greeting"]
    assert (info["status"], info["recorded_by"], info["previous"]) == ("current", "minh", 1)
    s.restore("greeting", "lan")
    assert live_level(s) == 100 and len(changes) == 3
    assert s.status(CURRENT)["greeting"]["recorded_by"] == "lan"
    s.restore("greeting", "lan")  # undo the restore
    assert live_level(s) == 200 and s.status(CURRENT)["greeting"]["previous"] == 1


def test_refusals_change_nothing(store):
    s, changes = store
    with pytest.raises(StudioError) as refused:
        s.restore("greeting", "lan")
    assert refused.value.status == 404
    flagged = take(s, 100, needs_override=True)
    with pytest.raises(StudioError) as refused:
        s.accept(flagged, "lan", False, CURRENT)
    assert refused.value.code == "needs_override"
    with pytest.raises(StudioError) as refused:
        s.accept(take(s, 0, blocked=True), "lan", True, CURRENT)
    assert refused.value.code == "blocked"
    changed = {SENTENCE.id: Sentence(**{**SENTENCE.__dict__, "text": "Một câu khác."})}
    with pytest.raises(StudioError) as refused:
        s.accept(take(s, 100), "lan", True, changed)
    assert refused.value.code == "text_changed"
    assert changes == [] and not (s.recordings_dir / "greeting.wav").exists()
    s.accept(flagged, "lan", True, CURRENT)  # the same take, with the editor's explicit override
    assert live_level(s) == 100 and changes == [1]


def test_a_changed_text_makes_the_recording_stale(store):
    s, _ = store
    s.accept(take(s, 100), "lan", False, CURRENT)
    changed = {SENTENCE.id: Sentence(**{**SENTENCE.__dict__, "text": "Một câu khác."})}
    assert s.status(changed)["greeting"]["status"] == "stale"


def test_earlier_takes_are_capped(store, monkeypatch):
    s, _ = store
    monkeypatch.setattr(store_module, "KEEP_PREVIOUS", 3)
    for level in range(100, 700, 100):
        s.accept(take(s, level), "lan", False, CURRENT)
    assert s.status(CURRENT)["greeting"]["previous"] == 3
    s.restore("greeting", "lan")
    assert live_level(s) == 500  # the newest earlier take


def test_a_bad_take_id_is_not_a_path(store):
    s, _ = store
    for bad in ["../../users", "", "0" * 23, "g" * 24]:
        with pytest.raises(StudioError):
            s.take(bad)
