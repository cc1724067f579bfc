"""Editors' mistakes in danger.yml are reported with file and line; a valid edit reaches the net."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.content.load import load_knowledge_base
from bot.danger.match import DangerMatcher
from tests.content.test_validate import assert_problem_in_file, edit, errors


@pytest.mark.parametrize("old, new, message", [
    ("    transfer: 1\n", "    transfer: 9\n", "transfer must be a branch"),
    ("    transfer: 1\n", "    transfer: somebody\n", "transfer must be a branch"),
    ('    number: "một một năm"\n', '    number: "115"\n', "contains digits"),
    ("Nếu máy bị ngắt, hãy gọi một một năm.\"\n    transfer_failed",
     "Xin đừng gác máy.\"\n    transfer_failed", "must say the number"),
    ("      - tự tử\n", "      - tự tử\n      - \"\"\n", "empty or not text"),
    ("      - tự tử\n", "      - tự tử\n      - ai\n", "too short"),
    ("    except:\n      - mệt muốn chết\n", "    except:\n      - mệt muốn chết\n      - tự tử\n", "can never match"),
    ("    phrases:\n", "    phrazes:\n", "unknown key 'phrazes'"),
    ("  - id: suicide\n", "  - id: Tự tử\n", "id must be lowercase"),
    ("cần người giúp ngay không?", "gọi 115 không?", "check_question contains digits"),
    ('check_question: "Anh', 'check_question: ""\nx: "Anh', "'check_question' must be text"),
])
def test_danger_problems_name_the_file_and_line(content_copy: Path, old: str, new: str, message: str):
    assert_problem_in_file(content_copy, content_copy / "danger.yml", old, new, message)


def test_missing_danger_file_is_an_error(content_copy: Path):
    (content_copy / "danger.yml").unlink()
    assert any("danger.yml" in e and "cannot read" in e for e in errors(content_copy))


def test_a_phrase_an_editor_adds_is_caught(content_copy: Path):
    sentence = "ông ấy vừa bị ong đốt sưng hết mặt"
    kb, _ = load_knowledge_base(content_copy)
    assert DangerMatcher(kb.danger).find(sentence) is None
    edit(content_copy / "danger.yml", "      - rắn cắn\n", "      - rắn cắn\n      - ong đốt\n")
    kb, problems = load_knowledge_base(content_copy)
    assert kb is not None, [str(p) for p in problems]
    found = DangerMatcher(kb.danger).find(sentence)
    assert found is not None and found.kind.id == "medical" and found.phrase == "ong đốt"


def test_the_check_question_reaches_the_net_and_its_absence_is_a_warning(content_copy: Path):
    kb, _ = load_knowledge_base(content_copy)
    assert "nguy hiểm" in kb.danger.check_question
    path = content_copy / "danger.yml"
    text = path.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("check_question:"))
    path.write_text(text.replace(line + "\n", ""), encoding="utf-8")
    kb, problems = load_knowledge_base(content_copy)
    assert kb is not None and kb.danger.check_question == ""
    assert any("no 'check_question'" in str(p) and p.severity == "warning" for p in problems)


def test_an_example_whose_phrase_a_negation_cancels_is_a_warning(content_copy: Path):
    example = "ông ấy chưa cấp cứu kịp, nằm im ngoài sân"
    edit(content_copy / "danger.yml", "    examples:\n", f"    examples:\n      - \"{example}\"\n")
    _, problems = load_knowledge_base(content_copy)
    warned = [str(p) for p in problems if example in str(p)]
    assert warned and "is negated or denied" in warned[0] and "'cấp cứu'" in warned[0], warned
