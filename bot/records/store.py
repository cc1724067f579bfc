"""Where the gateway's call records go: a database (SQLite by default, PostgreSQL from a URL),
written by one thread so a call's audio never waits for it; while the database is unreachable,
records wait in a spool file and are written when it returns. Nothing is lost and a failed write
never reaches a call: `submit` only puts the record on a queue.

A record is the dict `bot.call.records.CallRecorder` builds (the same as its JSON line):
`{"call_id", "caller" (masked), "started_at", "ended_at" (ISO UTC), "transport", "transcripts",
"summary": {...}, "events": [...]}`. Writing the same call twice (a replay after a half-finished
attempt) leaves one row: the call's id is the key.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc as sa_exc
from sqlalchemy.orm import Session

from bot.records.retention import purge_jsonl_words, purge_transcripts
from bot.records.schema import Call, CallEventRow
from bot.records.words import WORDS

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SPOOL_NAME = "records.jsonl"
REJECTED_NAME = "rejected.jsonl"  # records the database refused for what they hold (kept for a human)
_STOP = object()



def database_url(settings: Any) -> str:
    """The configured URL, or SQLite at `records.sqlite_path` (its folder is created)."""
    r = settings.records
    if r.url:
        return r.url
    path = settings.path(r.sqlite_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 5})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")   # `bot report` reads while the gateway writes
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # A down server must fail fast (the writer then spools), not hang the writer for minutes: a
    # connect timeout, a statement timeout, and TCP keepalives for a server that vanished silently.
    args: dict[str, Any] = {"connect_timeout": 3}
    if url.startswith("postgresql"):
        args.update(options="-c statement_timeout=15000", keepalives=1, keepalives_idle=10,
                    keepalives_interval=3, keepalives_count=3)
    return create_engine(url, pool_pre_ping=True, connect_args=args)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision shipped in `migrations/` (an empty database too)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def database_down(exc: BaseException) -> bool:
    """The database could not be reached or used (retry later), as opposed to a record it
    refuses (retrying would never help)."""
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, TimeoutError,
                        sa_exc.TimeoutError, sa_exc.DisconnectionError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def _utc(value: str | None) -> dt.datetime:
    """ISO text -> naive UTC (how the tables keep times)."""
    if not value:
        return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    t = dt.datetime.fromisoformat(value)
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t


def write_record(session: Session, record: dict[str, Any]) -> bool:
    """Add one call (and its events) unless it is there already. True if it was added."""
    call_id = str(record["call_id"])
    if session.get(Call, call_id) is not None:
        return False
    s = record.get("summary") or {}
    transcripts = bool(record.get("transcripts"))
    session.add(Call(
        id=call_id, started_at=_utc(record.get("started_at")), ended_at=_utc(record.get("ended_at")),
        caller=record.get("caller") or "", transport=record.get("transport") or "",
        outcome=s.get("outcome") or "in_progress", branch=s.get("branch"), reason=s.get("reason") or "",
        turns=int(s.get("turns") or 0), answers=list(s.get("answers") or []), danger=s.get("danger"),
        duration_s=float(s.get("duration_s") or 0.0), latency_ms=list(s.get("latency_ms") or []),
        transcripts=transcripts))
    session.flush()  # the call's row before its events (foreign key)
    for seq, e in enumerate(record.get("events") or []):
        kind = e.get("event", "")
        private = WORDS.get(kind, ())
        data = {k: v for k, v in e.items() if k not in ("t", "event", "call_id") and k not in private}
        words = {k: e[k] for k in private if k in e} if transcripts else None
        session.add(CallEventRow(call_id=call_id, seq=seq, t=e.get("t"), kind=kind, data=data,
                                 words=words or None))
    return True


@dataclass
class StoreStats:
    written: int = 0        # calls written to the database (directly or from the spool)
    spooled: int = 0        # records put in the spool because the database could not take them
    replayed: int = 0       # spooled records later written
    failures: int = 0       # failed database attempts
    rejected: int = 0       # records the database refused (kept in rejected.jsonl)
    write_ms: list[float] = field(default_factory=list)  # per record written directly: submit -> committed


class RecordStore:
    """The gateway's record writer: `start()` (migrate, replay the spool, start the thread),
    `submit(record)` from the event loop (never blocks, never raises), `close()` at shutdown."""

    def __init__(self, url: str, spool_dir: Path, retry_s: float = 5.0, transcript_days: int = 0,
                 purge_every_s: float = 3600.0, records_dir: Path | None = None) -> None:
        """`records_dir`: the JSON-lines files, cleaned by the same retention."""
        self.url = url
        self.records_dir = records_dir
        self.spool = Path(spool_dir) / SPOOL_NAME
        self.retry_s = retry_s
        self.transcript_days = transcript_days
        self.purge_every_s = purge_every_s
        self.engine = make_engine(url)
        self.stats = StoreStats()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._migrated = False
        self._down_since: float | None = None   # monotonic time of the last failure while down
        self._next_purge = 0.0
        self._tried = threading.Event()          # the first attempt at the database is over

    @classmethod
    def from_settings(cls, settings: Any) -> RecordStore:
        r = settings.records
        return cls(database_url(settings), settings.path(r.spool_dir), r.retry_s, r.transcript_days,
                   records_dir=settings.path(settings.privacy.records_dir))

    # ----- the event loop's side -------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread. The schema is migrated and the spool replayed by the thread
        (at once if the database is up, else when it returns): a down database never stops the
        gateway from starting."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="records", daemon=True)
            self._thread.start()

    def submit(self, record: dict[str, Any], fsync: Path | None = None) -> None:
        """Hand one finished call's record over; returns at once. `fsync`: a file the caller
        appended the record to without syncing it (the JSON lines): the writer syncs it first."""
        try:
            self._queue.put_nowait((time.perf_counter(), record, fsync))
        except Exception:  # noqa: BLE001 - an unbounded queue does not fail; belt and braces
            log.exception("call record %s could not be queued", record.get("call_id"))

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every submitted record is in the database or the spool (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout_s: float = 15.0) -> None:
        """Write what is queued (to the database, or the spool if it is down) and stop."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("the records writer did not finish in %.0f s", timeout_s)
            self._thread = None
        self.engine.dispose()

    @property
    def database_up(self) -> bool:
        return self._down_since is None and self._migrated

    def spooled_count(self) -> int:
        try:
            return sum(1 for line in self.spool.read_text(encoding="utf-8").splitlines() if line.strip())
        except FileNotFoundError:
            return 0

    # ----- the writer thread -----------------------------------------------------------------
    def wait_tried(self, timeout_s: float = 30.0) -> bool:
        """Wait until the writer has tried the database once (migrated and replayed, or found it down)."""
        return self._tried.wait(timeout_s)

    def _run(self) -> None:
        try:
            self._try_database()
            self._maintain()  # the retention runs at start, then every purge_every_s
        except Exception:  # noqa: BLE001 - the writer thread must never die
            log.exception("records writer")
        finally:
            self._tried.set()
        while True:
            wait = self.retry_s if self._down_since is not None or self.spool.exists() else 60.0
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            try:
                if item is not _STOP:
                    self._maintain()
                if item is not None and item is not _STOP:
                    self._write(*item)
                if item is _STOP:
                    self._drain_on_stop()
                    return
            except Exception:  # noqa: BLE001 - the writer thread must never die
                log.exception("records writer")
            finally:
                if item is not None:
                    self._queue.task_done()

    def _drain_on_stop(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                if item is not _STOP:
                    self._write(*item)
            finally:
                self._queue.task_done()

    def _maintain(self) -> None:
        """Retry a down database (then replay the spool); purge old transcripts now and then."""
        now = time.monotonic()
        if self._down_since is not None and now - self._down_since >= self.retry_s:
            self._try_database()
        elif self._down_since is None and self.spool.exists():
            self._try_database()
        if self._down_since is None and self._migrated and self.transcript_days > 0 and now >= self._next_purge:
            self._next_purge = now + self.purge_every_s
            try:
                n = purge_transcripts(self.engine, self.transcript_days)
                if self.records_dir is not None:
                    purge_jsonl_words(self.records_dir, self.transcript_days)
                if n:
                    log.info("retention: removed the caller's words from %d calls older than %d days",
                             n, self.transcript_days)
            except Exception:  # noqa: BLE001 - retry at the next purge
                log.exception("retention purge failed")

    def _try_database(self) -> None:
        """Migrate if not done yet, then replay the spool. Marks the database down on failure."""
        try:
            if not self._migrated:
                migrate(self.engine)
                self._migrated = True
            self._replay()
            if self._down_since is not None:
                log.warning("call records: the database is back")
            self._down_since = None
        except Exception as exc:  # noqa: BLE001 - database down: spool and retry later
            self._mark_down(exc)

    def _mark_down(self, exc: BaseException) -> None:
        self.stats.failures += 1
        if self._down_since is None:
            log.error("call records: the database is unreachable (%s); records wait in %s",
                      str(exc).splitlines()[0] if str(exc) else type(exc).__name__, self.spool)
        self._down_since = time.monotonic()

    def _write(self, submitted: float, record: dict[str, Any], fsync: Path | None = None) -> None:
        if fsync is not None:
            try:
                fd = os.open(fsync, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                log.exception("could not sync %s", fsync)
        if self._down_since is None and self._migrated and not self.spool.exists():
            try:
                with Session(self.engine) as session, session.begin():
                    write_record(session, record)
                self.stats.written += 1
                self.stats.write_ms.append((time.perf_counter() - submitted) * 1000)
                return
            except Exception as exc:  # noqa: BLE001 - to the spool, never lost
                if not database_down(exc):
                    self._reject(record, exc)
                    return
                self._mark_down(exc)
        self._to_spool(record)

    def _reject(self, record: dict[str, Any], exc: BaseException) -> None:
        """A record the database refuses (not a connection problem): kept aside, not retried forever."""
        self.stats.rejected += 1
        log.error("call record %s refused by the database (%s: %s); kept in %s", record.get("call_id"),
                  type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "", self.spool.parent / REJECTED_NAME)
        self._append(self.spool.parent / REJECTED_NAME, record)

    def _to_spool(self, record: dict[str, Any]) -> None:
        self._append(self.spool, record)
        self.stats.spooled += 1

    @staticmethod
    def _append(path: Path, record: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _replay(self) -> None:
        """Write every spooled record (raises if the database fails; the spool then stays, and
        the records already written are skipped next time). The spool is removed once written."""
        if not self.spool.exists():
            return
        records: list[dict[str, Any]] = []
        for n, line in enumerate(self.spool.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a crash: kept aside, not lost silently
                log.error("spool %s line %d is not a record; kept in %s.bad", self.spool, n, self.spool.name)
                with open(self.spool.with_suffix(".bad"), "a", encoding="utf-8") as bad:
                    bad.write(line + "\n")
        written = 0
        for record in records:  # one transaction each: a refused record does not hold back the rest
            try:
                with Session(self.engine) as session, session.begin():
                    written += write_record(session, record)
            except Exception as exc:  # noqa: BLE001
                if database_down(exc):
                    raise
                self._reject(record, exc)
        self.stats.replayed += written
        self.stats.written += written
        self.spool.unlink()
        if records:
            log.warning("call records: %d spooled records written to the database", len(records))
