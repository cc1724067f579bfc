"""Load the editors' YAML into a KnowledgeBase, collecting every problem with its file and line.

A problem never raises: editors get the whole list at once. `KnowledgeBase` is returned only
when there is no error, so a broken file can never reach a build.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from bot.content.build import training_variants
from bot.content.checks import (CHOICE_PLACEHOLDERS, CHOICE_PROMPT, PLACEHOLDERS, Collector, check_keys, load_yaml,
                                 spoken_text_problems)
from bot.content.lined_yaml import LineDict, line_of
from bot.danger.match import DangerMatcher
from bot.danger.model import DangerNet
from bot.content.model import Concept, FaqEntry, Intent, KnowledgeBase, Problem, Source, Validity
from bot.text import comparable, nfc, strip_diacritics

MIN_EXAMPLES = 5
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

FAQ_KEYS = {"id", "category", "question", "topic", "examples", "answer", "source", "verified",
            "verification_note", "validity"}
MAX_TOPIC_SYLLABLES = 14  # read twice inside one question ("hỏi về A, hay về B?"): keep it short
FAQ_REQUIRED = ("id", "category", "question", "examples", "answer", "source", "verified")
INTENT_KEYS = {"id", "type", "route", "examples", "response", "action"}
INTENT_REQUIRED = ("id", "type", "route", "examples", "response")
CONCEPT_KEYS = {"id", "meaning", "words"}
CONCEPTS_FILE = "concepts.yml"
META_KEYS = {"version", "language", "policy_period", "validity", "categories", "branches", "human"}

# What the dialogue (domain.yml, rules.yml, actions/) relies on: these must exist.
REQUIRED_INTENTS = ("greet", "goodbye", "thanks", "affirm", "deny", "repeat", "request_human",
                    "emergency", "covid_testing_quarantine", "symptoms_advice", "report_violation",
                    "social_security_complaint", "need_food_supplies", "out_of_scope")
REQUIRED_PROMPTS = ("greeting", "anything_else", "ask_question", "rephrase", "not_understood_transfer",
                    "unverified_transfer", "human_transfer", "keypad_transfer", "out_of_scope_transfer",
                    "nothing_to_repeat", "empty_input", "no_input_goodbye", "max_call_length",
                    "system_error", "transfer_failed")


def _text(entry: LineDict, key: str, path: Path, out: Collector, what: str) -> str:
    value = entry.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        out.error(path, entry.key_lines.get(key, entry.line), f"{what}: '{key}' must be text")
        return ""
    return nfc(value).strip()


def _examples(entry: LineDict, path: Path, out: Collector, what: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    raw = entry.get("examples")
    if not isinstance(raw, list) or not raw:
        out.error(path, entry.key_lines.get("examples", entry.line), f"{what}: 'examples' must be a non-empty list")
        return (), ()
    result, lines = [], []
    for item in raw:
        if not isinstance(item, str) or not item.strip():
            out.error(path, line_of(item, entry.line), f"{what}: an example is empty or not text")
            continue
        result.append(nfc(item).strip())
        lines.append(line_of(item, entry.line))
    if len(result) < MIN_EXAMPLES:
        out.warn(path, line_of(raw, entry.line), f"{what}: only {len(result)} examples; "
                 f"{MIN_EXAMPLES} or more help the bot recognise callers' wordings")
    return tuple(result), tuple(lines)


def _date(value: Any, path: Path, line: int, out: Collector, what: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        out.error(path, line, f"{what}: '{value}' is not a date (write YYYY-MM-DD)")
        return None


def _validity(raw: Any, path: Path, line: int, out: Collector, what: str,
              default: Validity = Validity()) -> Validity:
    if raw is None:
        return default
    if not isinstance(raw, dict):
        out.error(path, line, f"{what}: 'validity' must have 'from' and/or 'until'")
        return default
    for key in raw:
        if key not in ("from", "until"):
            out.error(path, line, f"{what}: unknown key 'validity.{key}' (allowed: from, until)")
    start = _date(raw.get("from"), path, line, out, what)
    until = _date(raw.get("until"), path, line, out, what)
    if start and until and until < start:
        out.error(path, line, f"{what}: validity ends before it starts")
    return Validity(start, until)


def _load_meta(path: Path, out: Collector) -> tuple[str, dict[str, str], dict[int, str], Validity]:
    data = load_yaml(path, out)
    if data is None:
        return "", {}, {}, Validity()
    if not isinstance(data, LineDict):
        out.error(path, 1, "expected keys version, categories, branches")
        return "", {}, {}, Validity()
    check_keys(data, META_KEYS, ("categories", "branches"), path, out, "meta")
    categories = {str(k): str(v) for k, v in (data.get("categories") or {}).items()}
    branches: dict[int, str] = {}
    for key, name in (data.get("branches") or {}).items():
        if not isinstance(key, int) or not 1 <= key <= 9:
            out.error(path, data.get("branches").key_lines.get(str(key), 0), f"branch '{key}' must be a keypad digit 1-9")
            continue
        for message in spoken_text_problems(str(name), f"branch {key} name"):
            out.error(path, data.get("branches").key_lines.get(str(key), 0), message)
        branches[key] = str(name)
    validity = _validity(data.get("validity"), path, data.key_lines.get("validity", 1), out, "meta")
    return str(data.get("version", "")), categories, branches, validity


def _load_prompts(path: Path, out: Collector) -> dict[str, str]:
    data = load_yaml(path, out)
    if data is None:
        return {}
    prompts = data.get("prompts") if isinstance(data, dict) else None
    if not isinstance(prompts, LineDict):
        out.error(path, 1, "expected a 'prompts:' mapping of name: text")
        return {}
    result = {}
    for name, text in prompts.items():
        line = prompts.key_lines.get(str(name), prompts.line)
        if not isinstance(text, str) or not text.strip():
            out.error(path, line, f"prompt '{name}' is empty")
            continue
        allowed = PLACEHOLDERS | CHOICE_PLACEHOLDERS if name == CHOICE_PROMPT else PLACEHOLDERS
        for message in spoken_text_problems(text, f"prompt '{name}'", allow_placeholders=allowed):
            out.error(path, line, message)
        if name == CHOICE_PROMPT and not all(p in text for p in CHOICE_PLACEHOLDERS):
            out.error(path, line, f"prompt '{name}' must name both choices: {{first}} and {{second}}")
        result[str(name)] = nfc(text).strip()
    for name in REQUIRED_PROMPTS:
        if name not in result and name not in prompts:
            out.error(path, prompts.line, f"prompt '{name}' is missing (the dialogue uses it)")
    return result


def _top_list(path: Path, key: str, out: Collector) -> list | None:
    """The file's one top-level list (`key:`), reporting a wrong shape or other top-level keys."""
    data = load_yaml(path, out)
    if data is None:
        return None
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        out.error(path, 1, f"expected a '{key}:' list")
        return None
    if isinstance(data, LineDict):
        for other in data:
            if other != key:
                out.error(path, data.key_lines.get(str(other), 1), f"unknown top-level key '{other}' (only '{key}')")
    return items


def _load_intents(path: Path, branches: dict[int, str], out: Collector) -> list[Intent]:
    items = _top_list(path, "intents", out)
    if items is None:
        return []
    intents = []
    for entry in items:
        if not isinstance(entry, LineDict):
            out.error(path, line_of(entry, items.line), "each intent must be a mapping with id, type, route, examples, response")
            continue
        what = f"intent '{entry.get('id', '?')}'"
        ok = check_keys(entry, INTENT_KEYS, INTENT_REQUIRED, path, out, what)
        kind = entry.get("type")
        if kind not in ("dialog", "routing"):
            out.error(path, entry.key_lines.get("type", entry.line), f"{what}: type must be dialog or routing")
        route = str(entry.get("route", ""))
        if route not in ("none", "human") and not (route.startswith("branch_") and route[7:].isdigit()):
            out.error(path, entry.key_lines.get("route", entry.line), f"{what}: route must be none, human or branch_N")
        elif route.startswith("branch_") and int(route[7:]) not in branches:
            out.error(path, entry.key_lines.get("route", entry.line), f"{what}: unknown branch '{route}' (meta.yml lists {sorted(branches)})")
        response = _text(entry, "response", path, out, what)
        for message in spoken_text_problems(response, f"{what} response"):
            out.error(path, entry.key_lines.get("response", entry.line), message)
        examples, example_lines = _examples(entry, path, out, what)
        if ok:
            intents.append(Intent(str(entry["id"]), str(kind), route, examples, response, path, entry.line,
                                  example_lines))
    return intents


def _load_concepts(path: Path, out: Collector) -> list[Concept]:
    """concepts.yml (optional): each concept an id, what it means, and its words. A word in two
    concepts, or a word of one letter, is an error (the brain would tag the wrong thing)."""
    if not path.exists():
        return []
    items = _top_list(path, "concepts", out)
    if items is None:
        return []
    concepts: list[Concept] = []
    owner: dict[str, str] = {}  # a word (compared without case and spacing) -> its concept
    for entry in items:
        if not isinstance(entry, LineDict):
            out.error(path, line_of(entry, items.line), "each concept must be a mapping with id, meaning, words")
            continue
        what = f"concept '{entry.get('id', '?')}'"
        ok = check_keys(entry, CONCEPT_KEYS, ("id", "meaning", "words"), path, out, what)
        ident = str(entry.get("id", ""))
        if ident and not ID_PATTERN.match(ident):
            out.error(path, entry.key_lines.get("id", entry.line), f"{what}: id must be lower case letters, digits and _")
            ok = False
        if any(c.id == ident for c in concepts):
            out.error(path, entry.line, f"{what}: the id is used twice")
            ok = False
        raw = entry.get("words")
        if raw is not None and not isinstance(raw, list):
            out.error(path, entry.key_lines.get("words", entry.line), f"{what}: words must be a list")
            continue
        words: list[str] = []
        for n, word in enumerate(raw or []):
            line = line_of(word, entry.key_lines.get("words", entry.line) + 1 + n)
            text = " ".join(nfc(str(word)).lower().split()) if isinstance(word, str) else ""
            if len(text.replace(" ", "")) < 2:
                out.error(path, line, f"{what}: word {word!r} is empty or a single letter")
                continue
            if text in owner:
                if owner[text] == ident:
                    out.warn(path, line, f"{what}: '{text}' is listed twice")
                else:
                    out.error(path, line, f"{what}: '{text}' is already a word of concept '{owner[text]}'")
                continue
            owner[text] = ident
            words.append(text)
        if ok and words:
            concepts.append(Concept(ident, str(entry["meaning"]).strip(), tuple(words), path, entry.line))
    return concepts


def _load_faqs(path: Path, categories: dict[str, str], default_validity: Validity,
               out: Collector) -> list[FaqEntry]:
    items = _top_list(path, "faqs", out)
    if items is None:
        return []
    faqs = []
    for entry in items:
        if not isinstance(entry, LineDict):
            out.error(path, line_of(entry, items.line), "each FAQ entry must be a mapping (id, category, question, ...)")
            continue
        what = f"FAQ '{entry.get('id', '?')}'"
        ok = check_keys(entry, FAQ_KEYS, FAQ_REQUIRED, path, out, what)
        category = str(entry.get("category", ""))
        if category and category not in categories:
            out.error(path, entry.key_lines.get("category", entry.line),
                      f"{what}: unknown category '{category}' (meta.yml lists: {', '.join(categories)})")
        answer = _text(entry, "answer", path, out, what)
        for message in spoken_text_problems(answer, f"{what} answer"):
            out.error(path, entry.key_lines.get("answer", entry.line), message)
        source = entry.get("source")
        document = source.get("document") if isinstance(source, dict) else None
        if not isinstance(document, str) or not document.strip():
            out.error(path, entry.key_lines.get("source", entry.line), f"{what}: missing source document (answers must cite their source)")
        urls = source.get("urls") if isinstance(source, dict) else None
        if urls is not None and (not isinstance(urls, list) or not all(isinstance(u, str) for u in urls)):
            out.error(path, entry.key_lines.get("source", entry.line), f"{what}: source urls must be a list of links")
            urls = []
        verified = entry.get("verified")
        if not isinstance(verified, bool):
            out.error(path, entry.key_lines.get("verified", entry.line), f"{what}: verified must be true or false")
        validity = _validity(entry.get("validity"), path, entry.key_lines.get("validity", entry.line), out, what, default_validity)
        examples, example_lines = _examples(entry, path, out, what)
        topic = _topic(entry, path, out, what)
        if ok and isinstance(verified, bool) and isinstance(document, str):
            faqs.append(FaqEntry(
                id=str(entry["id"]), category=category, question=_text(entry, "question", path, out, what),
                examples=examples, answer=answer, source=Source(nfc(document).strip(), tuple(urls or ())),
                verified=verified, validity=validity,
                verification_note=_text(entry, "verification_note", path, out, what),
                file=path, line=entry.line, example_lines=example_lines, topic=topic))
    return faqs


def _topic(entry: LineDict, path: Path, out: Collector, what: str) -> str:
    """A few words naming the entry for the either/or question; optional (without it the entry
    is never offered as a choice: the bot answers or asks to rephrase as before)."""
    line = entry.key_lines.get("topic", entry.line)
    if entry.get("topic") is None:
        out.warn(path, entry.line, f"{what}: no 'topic'; when a question sits between this entry and another, "
                 "the bot cannot ask which one the caller means")
        return ""
    topic = _text(entry, "topic", path, out, what)
    if not topic:
        out.error(path, line, f"{what}: 'topic' must be a few words of text")
        return ""
    for message in spoken_text_problems(topic, f"{what} topic"):
        out.error(path, line, message)
    if len(topic.split()) > MAX_TOPIC_SYLLABLES:
        out.error(path, line, f"{what}: 'topic' has {len(topic.split())} words; at most {MAX_TOPIC_SYLLABLES} "
                  "(it is read inside a question, twice over)")
    if topic.endswith((".", "?", "!")):
        out.error(path, line, f"{what}: 'topic' is part of a sentence; no final punctuation")
    return topic


def _cross_checks(faqs: list[FaqEntry], intents: list[Intent], out: Collector, today: dt.date) -> None:
    seen_ids: dict[str, tuple[Path, int]] = {}
    for item in [*faqs, *intents]:
        if not ID_PATTERN.match(item.id):
            out.error(item.file, item.line, f"id '{item.id}' must be lowercase letters, digits and _ (no spaces or accents)")
        if item.id in seen_ids:
            first = seen_ids[item.id]
            out.error(item.file, item.line, f"duplicate id '{item.id}' (first at {first[0]}:{first[1]})")
        else:
            seen_ids[item.id] = (item.file, item.line)
    owners: dict[str, tuple[str, Path, int]] = {}
    for item in [*faqs, *intents]:
        for example, line in zip(item.examples, item.example_lines):
            for key, how in ((comparable(example), "the same example"),
                             (comparable(strip_diacritics(example)), "the same example without diacritics")):
                owner = owners.get(key)
                if owner is None:
                    owners[key] = (item.id, item.file, line)
                elif owner[0] != item.id:
                    out.error(item.file, line, f"'{item.id}': {how} '{example}' is also under '{owner[0]}' "
                              f"({owner[1]}:{owner[2]}); the bot cannot learn which one is meant — keep it in one place")
                    break
    required = set(REQUIRED_INTENTS)
    for intent in intents:
        required.discard(intent.id)
    for missing in sorted(required):
        out.error(intents[0].file if intents else Path("intents.yml"), 1, f"intent '{missing}' is missing (the dialogue uses it)")
    for faq in faqs:
        if faq.validity.until and faq.validity.until < today:
            out.warn(faq.file, faq.line, f"FAQ '{faq.id}': validity ended {faq.validity.until.isoformat()}; "
                     "the answer is about a past policy")


def _danger_in_ordinary_examples(danger: DangerNet, items: list[FaqEntry | Intent], out: Collector) -> None:
    """An ordinary example that the safety net takes for danger is a false alarm waiting for a
    caller: show it to the editor, with the phrase, as the model is trained (also without
    diacritics). The emergency intent's examples are danger by design."""
    matcher = DangerMatcher(danger)
    for item in items:
        if item.id == "emergency":
            continue
        for example, line in zip(item.examples, item.example_lines):
            for variant in training_variants(example):
                found = matcher.find(variant)
                if found:
                    out.warn(item.file, line, f"'{item.id}': the safety net takes this example for danger "
                             f"'{found.kind.id}' (phrase '{found.phrase}' heard in '{found.heard}'); sharpen the "
                             "phrase in danger.yml or add an exception")
                    break


def load_knowledge_base(content_dir: Path, today: dt.date | None = None) -> tuple[KnowledgeBase | None, list[Problem]]:
    """Load data/faq/ (meta.yml, prompts.yml, intents.yml, danger.yml, concepts.yml, entries/*.yml)."""
    from bot.danger.load import FILE_NAME as DANGER_FILE, load_danger_net  # imports this module's helpers
    out = Collector()
    meta_path, prompts_path, intents_path = (content_dir / n for n in ("meta.yml", "prompts.yml", "intents.yml"))
    version, categories, branches, default_validity = _load_meta(meta_path, out)
    prompts = _load_prompts(prompts_path, out)
    intents = _load_intents(intents_path, branches, out)
    entry_files = sorted((content_dir / "entries").glob("*.yml"))
    if not entry_files:
        out.error(content_dir / "entries", 0, "no FAQ files (entries/*.yml)")
    faqs: list[FaqEntry] = []
    for path in entry_files:
        faqs += _load_faqs(path, categories, default_validity, out)
    _cross_checks(faqs, intents, out, today or dt.date.today())
    concepts = _load_concepts(content_dir / CONCEPTS_FILE, out)
    danger, danger_problems = load_danger_net(content_dir, branches)
    out.problems += danger_problems
    if danger is not None:
        _danger_in_ordinary_examples(danger, [*faqs, *intents], out)
    if any(p.severity == "error" for p in out.problems):
        return None, out.problems
    files = (meta_path, prompts_path, intents_path, content_dir / DANGER_FILE,
             *([content_dir / CONCEPTS_FILE] if concepts else []), *entry_files)
    kb = KnowledgeBase(version, categories, branches, tuple(faqs), tuple(intents), prompts, files, danger,
                       tuple(concepts))
    return kb, out.problems
