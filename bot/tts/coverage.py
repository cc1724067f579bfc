"""Every sentence the bot can say, what kind it is, and whether a person's recording says it.

Kinds (the `kind` field of `bot prompts --check --jsonl`):
  answer    a FAQ answer (data/faq/, `answer:`)
  response  an intent's response (greeting back, thanks, the transfer announcements of intents)
  prompt    a fixed prompt of the call: greeting, reprompts, rephrase, goodbye; one per branch
            (`<name>.<branch>`) when it names the branch
  danger    the safety net's messages (`danger_<kind>`, `danger_<kind>_failed`, ...)

Source: `recording` when current editors' recordings say the whole text, else `synthetic`.
Stale: a recording with this id exists but cannot be played for it (its text changed, its text
file is missing or its audio unreadable), so callers hear the synthetic voice instead.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot.content.model import KnowledgeBase
from bot.tts.cache import PromptCache
from bot.tts.recordings import recording_problems
from bot.tts.texts import spoken_texts

KINDS = ("answer", "response", "prompt", "danger")


@dataclass(frozen=True)
class Sentence:
    id: str
    kind: str
    text: str
    source: str   # "recording" | "synthetic"
    stale: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def kinds(kb: KnowledgeBase) -> dict[str, str]:
    """id -> kind for every id of `spoken_texts` (same precedence: the first owner of an id wins)."""
    faqs = {f.id for f in kb.faqs}
    intents = {i.id for i in kb.intents}
    out: dict[str, str] = {}
    for sid in spoken_texts(kb):
        if sid in faqs:
            out[sid] = "answer"
        elif sid in intents:
            out[sid] = "response"
        elif sid.split(".", 1)[0] in kb.prompts:
            out[sid] = "prompt"
        else:  # spoken_texts adds nothing else but the safety net's messages
            out[sid] = "danger"
    return out


def coverage(kb: KnowledgeBase, cache: PromptCache, recordings_dir: Path) -> list[Sentence]:
    """One entry per id, in `spoken_texts` order."""
    stale = {rid for rid, status, _ in recording_problems(kb, recordings_dir) if status == "stale"}
    kind = kinds(kb)
    out = []
    for sid, text in spoken_texts(kb).items():
        plan = cache.plan(text)
        recorded = bool(plan) and all(seg.source == "recording" for seg in plan)
        out.append(Sentence(sid, kind[sid], text, "recording" if recorded else "synthetic", sid in stale))
    return out
