"""Call-records benchmark (bot/records/): what a record costs the event loop, how long it takes to
reach the database, a burst, and a PostgreSQL server killed under load (spool, then replay).

    .venv/bin/python -m bench.records [--json out.json]

Runs on SQLite (a temporary file) and on a throwaway PostgreSQL cluster (as the tests make it).
Records are real call records (bot/call/records.py: CallRecorder with typed events).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.brain import percentile
from bot.records.store import RecordStore
from tests.records.conftest import PgCluster, _pg_bin
from tests.records.helpers import record


def _kinds(i: int) -> str:
    return ("answered", "transferred:5:keypad", "abandoned", "transferred:3:intent")[i % 4]


def measure(url: str, work: Path, cluster: PgCluster | None, n_idle: int = 100, n_burst: int = 1000) -> dict:
    out: dict = {}
    store = RecordStore(url, work / "spool", retry_s=0.5)
    store.start()
    assert store.wait_tried(60) and store.database_up
    # One call ends at a time (a normal day): submit -> committed.
    submit, committed = [], []
    for i in range(n_idle):
        t0 = time.perf_counter()
        store.submit(record(work, f"idle{i}", _kinds(i), keep=True))
        submit.append((time.perf_counter() - t0) * 1000)
        store.flush(30)
        committed.append(store.stats.write_ms[-1])
    out["idle"] = {"records": n_idle, "submit_ms_p50": round(percentile(submit, 50), 4),
                   "submit_ms_max": round(max(submit), 3), "committed_ms_p50": round(percentile(committed, 50), 1),
                   "committed_ms_p95": round(percentile(committed, 95), 1)}
    # A burst: n_burst calls end at once.
    before = len(store.stats.write_ms)
    submit = []
    t0 = time.perf_counter()
    for i in range(n_burst):
        t = time.perf_counter()
        store.submit(record(work, f"burst{i}", _kinds(i), keep=True))
        submit.append((time.perf_counter() - t) * 1000)
    store.flush(600)
    took = time.perf_counter() - t0
    lat = store.stats.write_ms[before:]
    out["burst"] = {"records": n_burst, "seconds": round(took, 2), "records_per_s": round(n_burst / took),
                    "submit_ms_p50": round(statistics.median(submit), 4), "submit_ms_max": round(max(submit), 3),
                    "committed_ms_p95": round(percentile(lat, 95), 1)}
    if cluster is not None:
        # The server is killed; 500 calls end meanwhile; it comes back.
        cluster.stop("immediate")
        for i in range(500):
            store.submit(record(work, f"down{i}", _kinds(i), keep=True))
        store.flush(120)
        spooled = store.spooled_count()
        cluster.start()
        t0 = time.perf_counter()
        while store.spooled_count() and time.perf_counter() - t0 < 300:
            time.sleep(0.05)  # the writer retries every retry_s by itself
        out["server_killed"] = {"records_while_down": 500, "spooled": spooled,
                                "replay_s_after_restart": round(time.perf_counter() - t0, 2),
                                "left_in_spool": store.spooled_count()}
    store.close()
    from sqlalchemy import text

    from bot.records.store import make_engine
    engine = make_engine(url)
    with engine.connect() as conn:
        out["calls_in_database"] = conn.execute(text("select count(*) from calls")).scalar_one()
        out["distinct_ids"] = conn.execute(text("select count(distinct id) from calls")).scalar_one()
    engine.dispose()
    return out


def run(settings=None) -> dict:
    """Both databases (PostgreSQL where its binaries are installed); `make bench`, section records."""
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results["sqlite"] = measure(f"sqlite:///{work / 'b.sqlite3'}", work / "s", None)
        bin_dir = _pg_bin()
        if bin_dir is not None:
            cluster = PgCluster(bin_dir)
            try:
                results["postgresql"] = measure(cluster.new_database(), work / "p", cluster)
            finally:
                cluster.remove()
    return results


def section(r: dict) -> str:
    lines = ["## Call records (bot/records/: SQLite and PostgreSQL)", "",
             "Real call records through the records writer (one thread; the event loop only queues). Idle: one",
             "call ends at a time; burst: 1000 calls end at once; server killed: PostgreSQL stopped while 500",
             "calls end (spooled), then restarted (replayed).", "",
             "| database | event loop per record p50 / max | committed p50 / p95 (idle) | burst of 1000 | server killed | calls in database / distinct ids |",
             "|---|---|---|---|---|---|"]
    for name, v in r.items():
        idle, burst, killed = v["idle"], v["burst"], v.get("server_killed")
        lines.append(f"| {name} | {idle['submit_ms_p50']} / {idle['submit_ms_max']} ms | {idle['committed_ms_p50']} / "
                     f"{idle['committed_ms_p95']} ms | {burst['seconds']} s ({burst['records_per_s']}/s) | "
                     + (f"{killed['spooled']} spooled, replayed {killed['replay_s_after_restart']} s after restart, "
                        f"{killed['left_in_spool']} left" if killed else "—")
                     + f" | {v['calls_in_database']} / {v['distinct_ids']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    results = run()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
