"""`bot overlap`: editors see which entries the brain confuses, with file:line of each example.
Runs the real cross-validation (Rasa environment) on a copy of the knowledge base into which the
test writes a known overlap: examples of one entry copied into an unrelated one."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / ".venv/bin/bot"
SOURCE, TARGET = "hongheo_muc_ho_tro", "chi_tra_buu_dien"


def overlap(content: Path, *args: str) -> subprocess.CompletedProcess:
    if not (ROOT / ".venv-rasa/bin/python").exists():
        pytest.skip("the Rasa environment is not installed (make install)")
    env = {**os.environ, "BOT_CONTENT_DIR": str(content)}
    return subprocess.run([str(BOT), "overlap", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def overlapping_content(content_copy: Path) -> tuple[Path, dict[str, int]]:
    """Six of SOURCE's examples (plus a polite particle) also under TARGET; returns their lines."""
    poor = yaml.safe_load((content_copy / "entries/ho_ngheo_bao_tro.yml").read_text(encoding="utf-8"))
    copied = [f"{e} ạ" for e in next(f for f in poor["faqs"] if f["id"] == SOURCE)["examples"][:6]]
    path = content_copy / "entries/chi_tra.yml"
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == f"- id: {TARGET}")
    at = next(i for i in range(at, len(lines)) if lines[i].strip() == "examples:") + 1
    lines[at:at] = [f"      - {json.dumps(text, ensure_ascii=False)}" for text in copied]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return content_copy, {text: at + 1 + k for k, text in enumerate(copied)}


def test_a_written_overlap_is_found_with_file_and_line(overlapping_content):
    content, copied = overlapping_content
    done = overlap(content, "--folds", "3", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    found = {r["text"]: r for r in rows if r["label"] == f"faq/{TARGET}" and r["predicted"] == f"faq/{SOURCE}"}
    assert len(set(found) & set(copied)) >= 4, rows[:10]
    for text in set(found) & set(copied):
        assert found[text]["where"] == f"{content / 'entries/chi_tra.yml'}:{copied[text]}"


def test_the_report_names_the_pair_for_people(overlapping_content):
    content, _ = overlapping_content
    done = overlap(content, "--folds", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cross-validation" in done.stdout
    assert f"faq/{TARGET}  <->  faq/{SOURCE}" in done.stdout or f"faq/{SOURCE}  <->  faq/{TARGET}" in done.stdout


def test_broken_content_is_reported_like_validate_and_nothing_runs(content_copy):
    (content_copy / "entries/chi_tra.yml").write_text("faqs:\n  - id: x\n    answer: [unclosed\n", encoding="utf-8")
    done = overlap(content_copy)
    assert done.returncode != 0
    assert "chi_tra.yml:" in done.stderr
