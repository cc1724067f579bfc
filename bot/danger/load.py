"""Load and check the editors' danger.yml, every problem with its file and line.

The checks keep a phrase from silently never matching (empty, digits mixed with words, a phrase
that one of the kind's own exceptions always swallows) or from catching everyday words (a
one-word phrase of one or two letters), and keep the spoken texts speakable.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bot.content.checks import Collector, check_keys, load_yaml, spoken_text_problems
from bot.content.lined_yaml import LineDict, line_of
from bot.content.model import Problem
from bot.danger.match import DangerMatcher
from bot.danger.model import HUMAN, DangerKind, DangerNet
from bot.phrases import syllables
from bot.text import nfc

FILE_NAME = "danger.yml"
KIND_KEYS = {"id", "number", "transfer", "message", "transfer_failed", "phrases", "weak_phrases", "except",
             "examples"}
KIND_REQUIRED = ("id", "number", "transfer", "message", "transfer_failed", "phrases")
TOP_KEYS = {"asking_about_support", "topic_changes", "negations", "denials", "not_danger", "check_question", "dangers"}


def load_danger_net(content_dir: Path, branches: dict[int, str] | None = None) -> tuple[DangerNet | None, list[Problem]]:
    """data/faq/danger.yml as a DangerNet; None if it has any error."""
    out = Collector()
    path = content_dir / FILE_NAME
    net = _load(path, set(branches) if branches else set(range(1, 7)), out)
    if net is None or any(p.severity == "error" for p in out.problems):
        return None, out.problems
    return net, out.problems


def _load(path: Path, branches: set[int], out: Collector) -> DangerNet | None:
    data = load_yaml(path, out)
    if data is None:
        return None
    if not isinstance(data, LineDict) or not isinstance(data.get("dangers"), list):
        out.error(path, 1, "expected 'asking_about_support:' and a 'dangers:' list")
        return None
    for key in data:
        if key not in TOP_KEYS:
            out.error(path, data.key_lines.get(str(key), 1), f"unknown top-level key '{key}' (allowed: {', '.join(sorted(TOP_KEYS))})")
    asking = _phrase_list(data, "asking_about_support", path, out, "asking_about_support")
    negations = _phrase_list(data, "negations", path, out, "negations", short_ok=True)
    topic_changes = _phrase_list(data, "topic_changes", path, out, "topic_changes")
    denials = _phrase_list(data, "denials", path, out, "denials", short_ok=True)
    not_danger = _examples(data, path, out, "not_danger", key="not_danger")
    kinds: list[DangerKind] = []
    seen: dict[str, int] = {}
    for entry in data["dangers"]:
        if not isinstance(entry, LineDict):
            out.error(path, line_of(entry, data["dangers"].line), "each danger must be a mapping (id, number, transfer, message, ...)")
            continue
        kind = _kind(entry, path, branches, out)
        if kind is None:
            continue
        if kind.id in seen:
            out.error(path, entry.line, f"duplicate danger id '{kind.id}' (first at line {seen[kind.id]})")
            continue
        seen[kind.id] = entry.line
        kinds.append(kind)
    if not kinds:
        out.error(path, data.key_lines.get("dangers", 1), "no kinds of danger declared")
        return None
    check = _check_question(data, path, out)
    net = DangerNet(tuple(kinds), asking, (path,), not_danger, check, negations, denials, topic_changes)
    _check_reachable(net, out, data.key_lines.get("not_danger", 1))
    return net


def _check_question(data: LineDict, path: Path, out: Collector) -> str:
    line = data.key_lines.get("check_question", 1)
    raw = data.get("check_question")
    if raw is None:
        out.warn(path, 1, "no 'check_question': a sentence only the model suspects of danger is either put "
                 "through or answered, never asked about")
        return ""
    if not isinstance(raw, str) or not raw.strip():
        out.error(path, line, "'check_question' must be text (the question asked when danger is only suspected)")
        return ""
    text = nfc(raw).strip()
    for message in spoken_text_problems(text, "check_question"):
        out.error(path, line, message)
    if not any(word in text.lower() for word in ("một", "có")):
        out.warn(path, line, "'check_question' should tell the caller to say 'có' or press one (keypad 1 goes to 115)")
    return text


def _kind(entry: LineDict, path: Path, branches: set[int], out: Collector) -> DangerKind | None:
    what = f"danger '{entry.get('id', '?')}'"
    ok = check_keys(entry, KIND_KEYS, KIND_REQUIRED, path, out, what)
    kind_id = str(entry.get("id", ""))
    if kind_id and not kind_id.replace("_", "").isalnum() or kind_id != kind_id.lower() or not kind_id.isascii():
        out.error(path, entry.line, f"{what}: id must be lowercase letters, digits and _")
        ok = False
    transfer: Any = entry.get("transfer")
    if transfer != HUMAN and not (isinstance(transfer, int) and transfer in branches):
        out.error(path, entry.key_lines.get("transfer", entry.line),
                  f"{what}: transfer must be a branch ({', '.join(map(str, sorted(branches)))}) or 'human'")
        ok = False
    texts = {}
    for key in ("number", "message", "transfer_failed"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            if value is not None:
                out.error(path, entry.key_lines.get(key, entry.line), f"{what}: '{key}' must be text")
            ok = False
            continue
        texts[key] = nfc(value).strip()
        for message in spoken_text_problems(texts[key], f"{what} {key}"):
            out.error(path, entry.key_lines.get(key, entry.line), message)
    number = texts.get("number", "")
    for key in ("message", "transfer_failed"):
        if number and key in texts and number not in texts[key].lower():
            out.error(path, entry.key_lines.get(key, entry.line),
                      f"{what}: {key} must say the number '{number}' (callers in danger need it in words)")
    phrases = _phrase_list(entry, "phrases", path, out, what)
    weak = _phrase_list(entry, "weak_phrases", path, out, what)
    exceptions = _phrase_list(entry, "except", path, out, what)
    examples = _examples(entry, path, out, what, key="examples")
    if not phrases and entry.get("phrases") is not None:
        out.error(path, entry.key_lines.get("phrases", entry.line), f"{what}: 'phrases' must list at least one phrase")
    if not ok or not phrases:
        return None
    return DangerKind(kind_id, number, transfer, texts["message"], texts["transfer_failed"], phrases, weak,
                      exceptions, examples, path, entry.line)


def _examples(entry: LineDict, path: Path, out: Collector, what: str, key: str) -> tuple[str, ...]:
    raw = entry.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        out.error(path, entry.key_lines.get(key, entry.line), f"{what}: '{key}' must be a list of sentences")
        return ()
    result = []
    for item in raw:
        if not isinstance(item, str) or not item.strip():
            out.error(path, line_of(item, entry.key_lines.get(key, entry.line)), f"{what}: an example is empty or not text")
            continue
        result.append(nfc(item).strip())
    return tuple(result)


def _phrase_list(entry: LineDict, key: str, path: Path, out: Collector, what: str,
                 short_ok: bool = False) -> tuple[str, ...]:
    raw = entry.get(key)
    if raw is None:
        return ()
    line = entry.key_lines.get(key, entry.line)
    if not isinstance(raw, list):
        out.error(path, line, f"{what}: '{key}' must be a list of phrases")
        return ()
    result: list[str] = []
    seen: set[str] = set()
    for item in raw:
        item_line = line_of(item, line)
        if isinstance(item, int):
            item = str(item)  # 114 written without quotes
        if not isinstance(item, str) or not item.strip():
            out.error(path, item_line, f"{what}: a phrase in '{key}' is empty or not text")
            continue
        words = syllables(item)
        text = " ".join(w.text for w in words)
        if not words:
            out.error(path, item_line, f"{what}: '{item}' has no words")
            continue
        if len(words) == 1 and len(words[0].bare) <= 2 and not text.isdigit() and not short_ok:
            out.error(path, item_line, f"{what}: '{item}' is too short to mean danger on its own; write the phrase around it")
            continue
        if text in seen:
            out.warn(path, item_line, f"{what}: '{item}' is listed twice in '{key}'")
        seen.add(text)
        result.append(text)
    return tuple(result)


def _check_reachable(net: DangerNet, out: Collector, not_danger_line: int) -> None:
    """Each phrase must be able to fire on its own words: an exception that swallows it, or an
    earlier kind that always wins, makes it dead weight that editors would trust. And a
    `not_danger` sentence the phrases take for danger contradicts itself."""
    matcher = DangerMatcher(net)
    path = net.files[0] if net.files else Path(FILE_NAME)
    for sentence in net.not_danger:
        found = matcher.find(sentence)
        # A phrase in a sentence that asks about support only makes the bot ask: no contradiction.
        if found and not found.asking:
            out.warn(path, not_danger_line, f"not_danger: '{sentence}' is taken for danger '{found.kind.id}' by the phrase "
                     f"'{found.phrase}'; add an exception or sharpen the phrase")
    _check_negations(net, matcher, out)
    for kind in net.kinds:
        for phrase in (*kind.phrases, *kind.weak_phrases):
            found = matcher.find(phrase)
            if found is None:
                out.error(kind.file, kind.line, f"danger '{kind.id}': the phrase '{phrase}' can never match "
                          "(one of the kind's exceptions covers it, or it is also an asking_about_support phrase)")
            elif found.kind.id != kind.id:
                out.warn(kind.file, kind.line, f"danger '{kind.id}': '{phrase}' is caught first by "
                         f"'{found.kind.id}' ('{found.phrase}'); the caller hears that kind's message")


def _check_negations(net: DangerNet, matcher: DangerMatcher, out: Collector) -> None:
    """A negation cancels the phrase after it, a denial the one before it; where that leaves one
    of a kind's own examples without its phrase ("chưa cấp cứu kịp" is danger), the editor writes
    the phrase with the negation in it."""
    if not (net.negations or net.denials):
        return
    without = DangerMatcher(dataclasses.replace(net, negations=(), denials=()))
    for kind in net.kinds:
        for example in kind.examples:
            if matcher.find(example) is not None:
                continue  # most examples: their phrase counts, no second look needed
            plain = without.find(example)
            if plain is not None:
                out.warn(kind.file, kind.line, f"danger '{kind.id}': in the example '{example}' the phrase "
                         f"'{plain.phrase}' is negated or denied and does not count; if the negated words mean "
                         "danger, add them as a phrase of their own")
