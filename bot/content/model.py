"""The knowledge base as plain, typed values (what the editors' YAML means)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from bot.danger.model import DangerNet

BRANCH_WORDS = {1: "một", 2: "hai", 3: "ba", 4: "bốn", 5: "năm", 6: "sáu"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the content, pointing at the file and line to fix."""

    file: Path
    line: int
    message: str
    severity: str = "error"  # "error" blocks a build; "warning" is shown only

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Source:
    document: str
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Validity:
    start: dt.date | None = None
    until: dt.date | None = None


@dataclass(frozen=True)
class FaqEntry:
    id: str
    category: str
    question: str
    examples: tuple[str, ...]
    answer: str
    source: Source
    verified: bool
    validity: Validity = Validity()
    verification_note: str = ""
    file: Path = Path()
    line: int = 0
    example_lines: tuple[int, ...] = ()
    topic: str = ""  # a few words naming the entry, for "Anh chị hỏi về A, hay về B?"


@dataclass(frozen=True)
class Intent:
    """A non-FAQ intent: a dialogue move (type dialog) or a transfer (type routing)."""

    id: str
    type: str  # "dialog" | "routing"
    route: str  # "none" | "human" | "branch_N"
    examples: tuple[str, ...]
    response: str
    file: Path = Path()
    line: int = 0
    example_lines: tuple[int, ...] = ()

    def branch(self, human_branch: int) -> int | None:
        if self.route == "human":
            return human_branch
        if self.route.startswith("branch_"):
            return int(self.route.removeprefix("branch_"))
        return None


@dataclass(frozen=True)
class Concept:
    """Words the editors say mean one thing to the brain ("xe ôm", "phụ hồ", "đồng nát": a job
    without a contract). The classifier sees the concept's name next to any of its words, so a
    word listed here counts like the words of the examples without an example of its own."""

    id: str
    meaning: str
    words: tuple[str, ...]
    file: Path = Path()
    line: int = 0


@dataclass(frozen=True)
class KnowledgeBase:
    version: str
    categories: dict[str, str]
    branches: dict[int, str]
    faqs: tuple[FaqEntry, ...]
    intents: tuple[Intent, ...]
    prompts: dict[str, str]
    files: tuple[Path, ...] = field(default=())
    danger: DangerNet | None = None  # the safety net (danger.yml), checked before any answer
    concepts: tuple[Concept, ...] = ()  # concepts.yml: words that mean one thing to the brain

    def faq(self, faq_id: str) -> FaqEntry | None:
        return next((f for f in self.faqs if f.id == faq_id), None)

    def intent(self, intent_id: str) -> Intent | None:
        return next((i for i in self.intents if i.id == intent_id), None)

    def prompt(self, name: str, branch: int | None = None) -> str:
        """A fixed prompt with {branch} and {branch_name} filled in (numbers as words)."""
        text = self.prompts[name]
        if branch is not None:
            text = text.replace("{branch}", BRANCH_WORDS.get(branch, str(branch)))
            text = text.replace("{branch_name}", self.branches.get(branch, ""))
        return text
