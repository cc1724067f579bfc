"""Which fields of which call events are the caller's own words (kept only with transcripts)."""
from __future__ import annotations

from bot.call import events as call_events

# The caller's own words per event name (CallEvent.words): they go to `call_events.words`.
WORDS: dict[str, tuple[str, ...]] = {}


def _collect_words(cls: type) -> None:
    for sub in cls.__subclasses__():
        if "name" in sub.__dict__:
            WORDS[sub.name] = sub.words
        _collect_words(sub)


_collect_words(call_events.CallEvent)
