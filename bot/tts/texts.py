"""Everything the bot can say, by id: FAQ answers, intent responses, prompts (per branch), and the
safety net's messages (`danger_<kind>`, `danger_<kind>_failed`, `danger_check`)."""
from __future__ import annotations

from bot.content.checks import CHOICE_PROMPT
from bot.content.model import KnowledgeBase
from bot.text import normalise_utterance, sentences

PLACEHOLDERS = ("{branch}", "{branch_name}")


def spoken_texts(kb: KnowledgeBase) -> dict[str, str]:
    """id -> text. A prompt with a branch placeholder appears once per branch as `<name>.<branch>`."""
    texts: dict[str, str] = {}
    for faq in kb.faqs:
        texts.setdefault(faq.id, faq.answer)
    for intent in kb.intents:
        texts.setdefault(intent.id, intent.response)
    for name, raw in kb.prompts.items():
        if name == CHOICE_PROMPT:
            continue  # names two entries' topics: composed during the call, never whole beforehand
        if any(p in raw for p in PLACEHOLDERS):
            for branch in sorted(kb.branches):
                texts.setdefault(f"{name}.{branch}", kb.prompt(name, branch))
        else:
            texts.setdefault(name, kb.prompt(name))
    # A person in danger must never wait for the synthesiser: these are pre-rendered like the rest.
    for kind in (kb.danger.kinds if kb.danger else ()):
        texts.setdefault(f"danger_{kind.id}", kind.message)
        texts.setdefault(f"danger_{kind.id}_failed", kind.transfer_failed)
    if kb.danger and kb.danger.check_question:
        texts.setdefault("danger_check", kb.danger.check_question)
    return texts


def canonical(text: str) -> str:
    """The form texts are compared and keyed in: NFC, single spaces, trimmed."""
    return normalise_utterance(text)


def split_sentences(text: str) -> tuple[str, ...]:
    """The cache's unit: one sentence. Any reply the brain joins from known texts is then known."""
    return tuple(sentences(canonical(text)))
