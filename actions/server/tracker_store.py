"""An in-memory tracker store whose conversations survive a model swap.

Rasa's `PUT /model` builds a new Agent with a new tracker store; the stock in-memory store would
start empty and every call in progress would lose its dialogue state. This store keeps the
conversations in a dict owned by the class, i.e. by the server process, so the old and the new
agent share them. Idle conversations are evicted so a long-running server does not grow.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Iterable, Optional, Text

from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker


class ProcessTrackerStore(InMemoryTrackerStore):
    _shared: Dict[Text, Text] = {}
    _last_used: Dict[Text, float] = {}

    def __init__(self, domain: Any, event_broker: Any = None, max_idle_s: float = 3600, **kwargs: Any) -> None:
        super().__init__(domain, event_broker, **kwargs)
        self.store = ProcessTrackerStore._shared  # shared on purpose: see module docstring
        self.max_idle_s = float(max_idle_s)

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        now = time.monotonic()
        self._last_used[tracker.sender_id] = now
        self._evict_idle(now)

    async def keys(self) -> Iterable[Text]:
        return list(self.store.keys())

    def _evict_idle(self, now: float) -> None:
        stale = [k for k, t in self._last_used.items() if now - t > self.max_idle_s]
        for key in stale:
            self.store.pop(key, None)
            self._last_used.pop(key, None)

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        return await super().retrieve(sender_id)
