"""The validator must name the file and the line of every problem an editor can make."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.content.load import load_knowledge_base
from tests.conftest import ROOT


def errors(content_dir: Path) -> list[str]:
    kb, problems = load_knowledge_base(content_dir)
    found = [str(p) for p in problems if p.severity == "error"]
    assert (kb is None) == bool(found)
    return found


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def assert_problem_in_file(content_dir: Path, path: Path, old: str, new: str, message: str) -> None:
    """Editing `old` into `new` in `path` gives an error with `message` that names the file and a
    line past the first."""
    edit(path, old, new)
    found = [e for e in errors(content_dir) if message in e]
    assert found and found[0].startswith(f"{path}:"), errors(content_dir)
    assert int(found[0].split(":")[1]) > 1


def test_shipped_content_is_valid():
    kb, problems = load_knowledge_base(ROOT / "data/faq")
    assert kb is not None, [str(p) for p in problems]
    assert len(kb.faqs) >= 57
    assert {f.id for f in kb.faqs if not f.verified} >= {"ldtd_han_nop_ho_so", "ldtd_nganh_nghe"}


def test_yaml_syntax_error_names_file_and_line(content_copy: Path):
    path = content_copy / "entries/chi_tra.yml"
    target = line_of(path, "id: chi_tra_qua_cong_ty")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[target] = "    category: chi_tra: oops"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = errors(content_copy)
    assert len(found) == 1
    file, line = re.match(r"(.+?):(\d+): error: YAML syntax", found[0]).groups()
    assert file == str(path)
    assert abs(int(line) - (target + 1)) <= 2


@pytest.mark.parametrize("old, new, message", [
    ("    verified: true\n", "    verified: true\n    verifed: true\n", "unknown key 'verifed'"),
    ('    answer: "Lao động tự do lập hồ sơ', '    answer: ""\n    x_answer: "', "missing 'answer'"),
    ("một triệu năm trăm nghìn đồng", "1.500.000 đồng", "contains digits"),
    ("    category: lao_dong_tu_do\n", "    category: lao_dong\n", "unknown category 'lao_dong'"),
    ("      document: \"Quyết định 3642/QĐ-UBND ngày 21/7/2021 (khoản 1 Điều 3 Luật Việc làm)\"",
     "      document: \"\"", "missing source document"),
    ("    verified: true\n", "    verified: yes please\n", "verified must be true or false"),
    ("    category: lao_dong_tu_do\n", "    category: lao_dong_tu_do\n    category: khac\n", "appears twice"),
])
def test_entry_problems_point_at_the_entry(content_copy: Path, old: str, new: str, message: str):
    assert_problem_in_file(content_copy, content_copy / "entries/lao_dong_tu_do.yml", old, new, message)


def test_duplicate_id_across_files(content_copy: Path):
    path = content_copy / "entries/khac.yml"
    first_id = re.search(r"- id: (\w+)", path.read_text(encoding="utf-8")).group(1)
    edit(path, f"- id: {first_id}", "- id: ldtd_muc_ho_tro")
    found = [e for e in errors(content_copy) if "duplicate id 'ldtd_muc_ho_tro'" in e]
    assert found and "lao_dong_tu_do.yml" in found[0]


def test_same_example_under_two_ids(content_copy: Path):
    path = content_copy / "entries/chi_tra.yml"
    edit(path, "    examples:\n", '    examples:\n      - "Lao động tự do được hỗ trợ bao nhiêu tiền?"\n')
    found = [e for e in errors(content_copy) if "the same example 'lao động tự do được hỗ trợ bao nhiêu tiền" in e]
    assert len(found) == 1
    assert "ldtd_muc_ho_tro" in found[0] and "chi_tra_lao_dong_tu_do" in found[0]
    ldtd = content_copy / "entries/lao_dong_tu_do.yml"
    assert f"{ldtd}:{line_of(ldtd, 'lao động tự do được hỗ trợ bao nhiêu tiền')}" in found[0]
    assert f"{path}:{line_of(path, 'Lao động tự do được hỗ trợ bao nhiêu tiền?')}" in found[0]


def test_example_differing_only_in_diacritics_is_a_clash(content_copy: Path):
    path = content_copy / "entries/chi_tra.yml"
    edit(path, "    examples:\n", '    examples:\n      - "lao dong tu do duoc ho tro bao nhieu tien"\n')
    assert any("without diacritics" in e for e in errors(content_copy))


def test_too_long_to_listen_to(content_copy: Path):
    path = content_copy / "entries/lao_dong_tu_do.yml"
    long_sentence = " ".join(["rất"] * 75)
    edit(path, 'answer: "Theo quyết định', f'answer: "{long_sentence}. Theo quyết định')
    edit(path, 'answer: "Lao động tự do lập hồ sơ', 'answer: "Một. Hai. Ba. Bốn. Lao động tự do lập hồ sơ')
    found = errors(content_copy)
    assert any("sentence of 75 syllables" in e for e in found)
    assert any("sentences; at most 4" in e for e in found)


def test_unknown_branch_in_intents(content_copy: Path):
    path = content_copy / "intents.yml"
    edit(path, "route: branch_6", "route: branch_8")
    found = [e for e in errors(content_copy) if "unknown branch 'branch_8'" in e]
    assert found and found[0].startswith(f"{path}:{line_of(path, 'route: branch_8')}:")


def test_missing_prompt_and_unknown_placeholder(content_copy: Path):
    path = content_copy / "prompts.yml"
    edit(path, "  rephrase:", "  rephrase_typo:")
    edit(path, "nhánh {branch}, anh chị vui lòng giữ máy.\"\n  unverified", "nhánh {nhanh}, anh chị vui lòng giữ máy.\"\n  unverified")
    found = errors(content_copy)
    assert any("prompt 'rephrase' is missing" in e for e in found)
    assert any("unknown placeholder" in e and "{nhanh}" in e for e in found)


def test_expired_validity_is_a_warning_not_an_error():
    kb, problems = load_knowledge_base(ROOT / "data/faq")
    assert kb is not None
    assert any("validity ended" in str(p) and p.severity == "warning" for p in problems)


@pytest.mark.parametrize("old,new,message", [
    ('      - "xích lô"\n', '      - "xích lô"\n      - "x"\n', "empty or a single letter"),
    ("  - id: nghe_tu_do\n", "  - id: Nghe-Tu-Do\n", "id must be lower case"),
    ("    meaning:", "    nghia:", "unknown key 'nghia'"),
])
def test_concept_problems_point_at_the_line(content_copy: Path, old: str, new: str, message: str):
    assert_problem_in_file(content_copy, content_copy / "concepts.yml", old, new, message)


def test_a_word_in_two_concepts_is_an_error_and_a_repeat_a_warning(content_copy: Path):
    path = content_copy / "concepts.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + '  - id: nghe_khac\n    meaning: "thử"\n    words:\n      - "xe ôm"\n      - "Xích  Lô"\n',
                    encoding="utf-8")
    found = errors(content_copy)
    assert any("'xe ôm' is already a word of concept 'nghe_tu_do'" in e for e in found)
    assert any("'xích lô' is already a word" in e for e in found)  # compared without case and spacing
    path.write_text(text.replace('      - "xích lô"\n', '      - "xích lô"\n      - "xích lô"\n'), encoding="utf-8")
    kb, problems = load_knowledge_base(content_copy)
    assert kb is not None and any("'xích lô' is listed twice" in str(p) for p in problems)
    assert kb.concepts[0].words.count("xích lô") == 1


def test_concepts_are_optional(content_copy: Path):
    (content_copy / "concepts.yml").unlink()
    kb, problems = load_knowledge_base(content_copy)
    assert kb is not None and kb.concepts == ()
