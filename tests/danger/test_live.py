"""The gateway's safety net follows danger.yml while it runs, and never takes a broken file."""
from __future__ import annotations

import os
from pathlib import Path

from bot.content.load import load_knowledge_base
from bot.danger.live import LiveDangerNet
from bot.danger.match import DangerMatcher


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_a_saved_phrase_is_live_at_the_next_call_and_a_broken_file_changes_nothing(content_copy: Path):
    kb, _ = load_knowledge_base(content_copy)
    live = LiveDangerNet(content_copy, kb.branches, kb.danger)
    sentence = "ông ấy bị ong đốt sưng hết mặt"
    assert DangerMatcher(live.current()).find(sentence) is None

    path = content_copy / "danger.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("      - rắn cắn\n", "      - rắn cắn\n      - ong đốt\n"),
                    encoding="utf-8")
    _touch_later(path)
    assert DangerMatcher(live.current()).find(sentence).kind.id == "medical"

    path.write_text(path.read_text(encoding="utf-8").replace("    transfer: 1\n", "    transfer: nowhere\n", 1),
                    encoding="utf-8")
    _touch_later(path)
    net = live.current()  # the error is logged; the last good net keeps serving
    assert net is not None and DangerMatcher(net).find(sentence).kind.id == "medical"
