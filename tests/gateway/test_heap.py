"""Start-up objects are frozen out of the garbage collector's full collections (bot/gateway/heap.py)."""
from __future__ import annotations

import gc

from bot.gateway.heap import settle_heap


def test_start_up_objects_leave_the_collectors_generations():
    loaded = [{"n": n} for n in range(1000)]  # what a start-up leaves behind: long-lived containers
    before = gc.get_freeze_count()
    try:
        settle_heap()
        assert gc.get_freeze_count() >= before + len(loaded)
        tracked = {id(o) for o in gc.get_objects()}  # a full collection walks these, no longer ours
        assert not any(id(o) in tracked for o in loaded)
    finally:
        gc.unfreeze()  # the other tests' objects go back to the oldest generation
