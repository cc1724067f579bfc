"""Conversations in Rasa's SQL tracker store, configured as bot/brain/servers.py writes endpoints.yml
from `rasa.tracker_store`: one Rasa process stores a conversation, another one (a restarted or a
second brain) reads it back, on SQLite and on a real PostgreSQL server (the records tests'
throwaway cluster) with the same psycopg 3 URL the call records use. Through Rasa's own store
classes in the Rasa environment; the whole-server restart is in test_cluster.py."""
from __future__ import annotations

import subprocess
import uuid

import pytest

from bot.brain.servers import _stores, rasa_bin, rasa_env
from tests.records.conftest import PgCluster, _pg_bin

RASA_SIDE = r'''
import asyncio, sys
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

async def main(endpoints, mode, sender):
    store = TrackerStore.create(read_endpoint_config(endpoints, "tracker_store"), Domain.empty())
    print("STORE", type(store).__name__)
    if mode == "write":
        tracker = DialogueStateTracker(sender, slots=[])
        tracker.update(UserUttered("hộ nghèo được hỗ trợ bao nhiêu tiền"))
        await store.save(tracker)
    else:
        for who in (sender, "someone-else"):
            tracker = await store.retrieve(who)
            print("HEARD", who, [e.text for e in tracker.events if isinstance(e, UserUttered)] if tracker else None)

asyncio.run(main(*sys.argv[1:]))
'''


@pytest.fixture(scope="module")
def pg():
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (Debian package postgresql)")
    cluster = PgCluster(bin_dir)
    yield cluster
    cluster.remove()


def _rasa(settings, endpoints, mode: str, sender: str) -> str:
    done = subprocess.run([str(rasa_bin(settings, "python")), "-c", RASA_SIDE, str(endpoints), mode, sender],
                          capture_output=True, text=True, env=rasa_env(settings), cwd=settings.root, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_conversation_stored_by_one_rasa_process_is_read_by_the_next(settings, tmp_path, kind, request):
    if not rasa_bin(settings, "python").exists():
        pytest.fail("the Rasa environment .venv-rasa is missing (make install)")
    url = f"sqlite:///{tmp_path / 'trackers.sqlite3'}" if kind == "sqlite" else \
        request.getfixturevalue("pg").new_database()  # postgresql+psycopg://...: as records.url
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(_stores(settings.replace(rasa={"tracker_store": url})), encoding="utf-8")
    sender = f"call-{uuid.uuid4().hex[:8]}"
    assert "STORE SQLTrackerStore" in _rasa(settings, endpoints, "write", sender)
    out = _rasa(settings, endpoints, "read", sender)
    assert f"HEARD {sender} ['hộ nghèo được hỗ trợ bao nhiêu tiền']" in out, out
    assert "HEARD someone-else None" in out, out
