"""Checks shared by every loader of the editors' YAML: problems collected with file and line,
safe lined loading, allowed keys, and the rules for text that is read aloud."""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot.content.lined_yaml import LineDict, YamlSyntaxError, load_lined
from bot.content.model import Problem
from bot.text import sentences, syllables

MAX_SENTENCE_SYLLABLES = 70
MAX_SENTENCES = 4
PLACEHOLDERS = {"{branch}", "{branch_name}"}
# The either/or question names two entries by their topics: only that prompt may hold them.
CHOICE_PROMPT = "clarify"
CHOICE_PLACEHOLDERS = {"{first}", "{second}"}


class Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, file: Path, line: int, message: str) -> None:
        self.problems.append(Problem(file, line, message))

    def warn(self, file: Path, line: int, message: str) -> None:
        self.problems.append(Problem(file, line, message, "warning"))


def spoken_text_problems(text: str, what: str, allow_placeholders: bool | set[str] = False) -> list[str]:
    """Problems of a text that TTS will read aloud."""
    found = []
    if re.search(r"\d", text):
        found.append(f"{what} contains digits; write numbers as words (TTS reads digits badly)")
    parts = sentences(text)
    if len(parts) > MAX_SENTENCES:
        found.append(f"{what} has {len(parts)} sentences; at most {MAX_SENTENCES} are easy to follow by ear")
    for sentence in parts:
        n = syllables(re.sub(r"\{\w+\}", "x", sentence))
        if n > MAX_SENTENCE_SYLLABLES:
            found.append(f"{what} has a sentence of {n} syllables (limit {MAX_SENTENCE_SYLLABLES}): "
                         f"'{sentence[:40]}…'; split it")
    allowed = allow_placeholders if isinstance(allow_placeholders, set) else PLACEHOLDERS if allow_placeholders else set()
    unknown = set(re.findall(r"\{[^}]*\}", text)) - allowed
    if unknown:
        found.append(f"{what} has unknown placeholder(s) {sorted(unknown)}")
    return found


def load_yaml(path: Path, out: Collector) -> Any:
    try:
        data = load_lined(path)
    except YamlSyntaxError as exc:
        out.error(exc.file, exc.line, exc.message)
        return None
    except OSError as exc:
        out.error(path, 0, f"cannot read: {exc.strerror}")
        return None
    report_duplicate_keys(data, path, out)
    return data


def report_duplicate_keys(node: Any, path: Path, out: Collector) -> None:
    if isinstance(node, LineDict):
        for key, line in node.duplicate_keys:
            out.error(path, line, f"key '{key}' appears twice in the same entry; the first would be lost")
        for value in node.values():
            report_duplicate_keys(value, path, out)
    elif isinstance(node, list):
        for item in node:
            report_duplicate_keys(item, path, out)


def check_keys(entry: LineDict, allowed: set[str], required: Iterable[str], path: Path,
                out: Collector, what: str) -> bool:
    for key in entry:
        if key not in allowed:
            out.error(path, entry.key_lines.get(str(key), entry.line),
                      f"{what}: unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")
    missing = [k for k in required if entry.get(k) in (None, "", [])]
    for key in missing:
        out.error(path, entry.line, f"{what}: missing '{key}'")
    return not missing
