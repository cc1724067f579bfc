"""Where the gateway's call records go: a database (SQLite by default, PostgreSQL from a URL),
written by one thread so a call's audio never waits for it; while the database is unreachable,
records wait in a spool file and are written when it returns. Nothing is lost and a failed write
never reaches a call: `submit` only puts the record on a queue.

A record is the dict `bot.call.records.CallRecorder` builds (the same as its JSON line):
`{"call_id", "caller" (masked), "started_at", "ended_at" (ISO UTC), "transport", "transcripts",
"summary": {...}, "events": [...]}`. Writing the same call twice (a replay after a half-finished
attempt) leaves one row: the call's id is the key.

A call also leaves an "open" row when it starts (`opened`, outcome `in_progress`, with the
process that holds it, `process_id()`), and the events so far of calls in progress are saved
every `checkpoint_s`. The finished record replaces the open row. If the process dies first
(SIGKILL, crash, power), the open row stays, and the next sweep (a gateway's store at start and
every minute, `bot report`) closes it as `gateway_died` with what was saved: a killed gateway
loses no call.

A full disk (database, spool and JSON lines on it) never reaches a call either: what cannot be
written is kept in memory, at most `held_max` records (beyond that the oldest is dropped and
counted as lost), one error is logged, and everything kept is written once there is room.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, exc as sa_exc, func, select, update
from sqlalchemy.orm import Session

from bot.records.retention import purge_jsonl_words, purge_transcripts
from bot.records.schema import Call, CallEventRow
from bot.records.words import WORDS

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SPOOL_NAME = "records.jsonl"
REJECTED_NAME = "rejected.jsonl"  # records the database refused for what they hold (kept for a human)
_STOP = object()
OPEN = "in_progress"        # a call's open row: written when it starts, replaced when it ends
DIED = "gateway_died"       # an open row whose process died, closed by `close_dead_calls`
SWEEP_EVERY_S = 60.0


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), or None
    if there is no such process: with the pid it names one process, even after the pid is reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_id() -> str:
    """This process, as the `gateway` column names it: "host:pid:start"."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid()) or 0}"


def process_gone(owner: str) -> bool:
    """True if `owner` (a `process_id()`) is a process of this host that no longer runs. A
    process of another host is never declared gone from here (only the age limit closes its calls)."""
    try:
        host, pid, start = owner.rsplit(":", 2)
        pid_n = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    return _process_start(pid_n) != start


def close_dead_calls(engine: Engine, max_age_s: float, now: dt.datetime | None = None) -> int:
    """Close the open rows of processes that died (this host), or older than `max_age_s` (any
    host: no call lasts that long), as `gateway_died`, with what was saved: start, masked caller,
    transport, the events up to the last checkpoint, `ended_at` = when the call was last seen.
    Returns how many. Safe to run from several processes at once (each row is closed once)."""
    from bot.policy.reasons import Reason

    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    oldest = now - dt.timedelta(seconds=max_age_s)
    closed = 0
    with Session(engine) as s, s.begin():
        for row in s.scalars(select(Call).where(Call.outcome == OPEN)).all():
            if row.gateway and process_gone(row.gateway):
                why = "process_gone"
            elif row.started_at < oldest:
                why = "too_old"
            else:
                continue
            turns = s.scalar(select(func.count()).select_from(CallEventRow)
                             .where(CallEventRow.call_id == row.id, CallEventRow.kind == "nlu")) or 0
            row.outcome = DIED
            row.reason = Reason.GATEWAY_DIED.text(why)
            row.turns = int(turns)
            row.duration_s = max(0.0, (row.ended_at - row.started_at).total_seconds())
            closed += 1
    if closed:
        log.warning("call records: %d calls of a gateway that died closed as %s", closed, DIED)
    return closed



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


def _event_rows(call_id: str, events: list[dict[str, Any]], transcripts: bool) -> list[CallEventRow]:
    rows = []
    for seq, e in enumerate(events):
        kind = e.get("event", "")
        private = WORDS.get(kind, ())
        data = {k: v for k, v in e.items() if k not in ("t", "event", "call_id") and k not in private}
        words = {k: e[k] for k in private if k in e} if transcripts else None
        rows.append(CallEventRow(call_id=call_id, seq=seq, t=e.get("t"), kind=kind, data=data, words=words or None))
    return rows


def write_record(session: Session, record: dict[str, Any]) -> bool:
    """Add one call (and its events) unless it is there already. True if it was added.
    A finished record replaces the call's open row (or a `gateway_died` one: the real end wins);
    an open row never replaces anything."""
    call_id = str(record["call_id"])
    s = record.get("summary") or {}
    outcome = s.get("outcome") or OPEN
    existing = session.get(Call, call_id)
    gateway = record.get("gateway")
    if existing is not None:
        if outcome == OPEN or existing.outcome not in (OPEN, DIED):
            return False
        gateway = gateway or existing.gateway
        session.execute(delete(CallEventRow).where(CallEventRow.call_id == call_id))
        session.delete(existing)
        session.flush()
    transcripts = bool(record.get("transcripts"))
    started = _utc(record.get("started_at"))
    session.add(Call(
        id=call_id, started_at=started, ended_at=_utc(record.get("ended_at")) if record.get("ended_at") else started,
        caller=record.get("caller") or "", transport=record.get("transport") or "",
        outcome=outcome, branch=s.get("branch"), reason=s.get("reason") or "", gateway=gateway,
        turns=int(s.get("turns") or 0), answers=list(s.get("answers") or []), danger=s.get("danger"),
        duration_s=float(s.get("duration_s") or 0.0), latency_ms=list(s.get("latency_ms") or []),
        transcripts=transcripts))
    session.flush()  # the call's row before its events (foreign key)
    session.add_all(_event_rows(call_id, record.get("events") or [], transcripts))
    return True


@dataclass
class StoreStats:
    written: int = 0        # calls written to the database (directly or from the spool)
    spooled: int = 0        # records put in the spool because the database could not take them
    replayed: int = 0       # spooled records later written
    failures: int = 0       # failed database attempts
    rejected: int = 0       # records the database refused (kept in rejected.jsonl)
    opened: int = 0         # open rows handed over (one per call started)
    checkpoints: int = 0    # calls in progress whose events so far were saved
    died_closed: int = 0    # open rows of dead processes closed as gateway_died by this store
    unwritten: int = 0      # records or JSON lines that could be written nowhere when they came (full disk): kept in memory
    lost: int = 0           # of those, dropped because more than held_max waited (the oldest go first)
    write_ms: list[float] = field(default_factory=list)  # per record written directly: submit -> committed


class RecordStore:
    """The gateway's record writer: `start()` (migrate, replay the spool, start the thread),
    `submit(record)` from the event loop (never blocks, never raises), `close()` at shutdown."""

    def __init__(self, url: str, spool_dir: Path, retry_s: float = 5.0, transcript_days: int = 0,
                 purge_every_s: float = 3600.0, records_dir: Path | None = None, checkpoint_s: float = 10.0,
                 open_max_s: float = 1200.0, held_max: int = 10000) -> None:
        """`records_dir`: the JSON-lines files, cleaned by the same retention. `open_max_s`: an
        open row older than this is a dead call whoever held it (longer than any call)."""
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
        self.checkpoint_s = checkpoint_s
        self.open_max_s = open_max_s
        self.held_max = held_max
        self.process = process_id()
        self._open: dict[str, Any] = {}          # call id -> its CallRecorder, while the call runs (loop side)
        self._saved: dict[str, int] = {}         # call id -> events saved at the last checkpoint (writer side)
        self._next_checkpoint = 0.0
        self._next_sweep = 0.0
        # What could be written nowhere (full disk), oldest first; bounded: see `_hold`.
        self._held: deque[dict[str, Any]] = deque()
        self._held_lines: deque[tuple[Path, bytes]] = deque()
        self._disk_error_logged = False
        self._down_logged = False

    @classmethod
    def from_settings(cls, settings: Any) -> RecordStore:
        r = settings.records
        # An open row older than the longest call (voice.max_call_s ends it) plus 10 minutes for
        # the goodbye or the transfer is dead wherever its process ran.
        return cls(database_url(settings), settings.path(r.spool_dir), r.retry_s, r.transcript_days,
                   records_dir=settings.path(settings.privacy.records_dir), checkpoint_s=r.checkpoint_s,
                   open_max_s=settings.voice.max_call_s + 600.0, held_max=r.held_max)

    # ----- the event loop's side -------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread. The schema is migrated and the spool replayed by the thread
        (at once if the database is up, else when it returns): a down database never stops the
        gateway from starting."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="records", daemon=True)
            self._thread.start()

    def submit(self, record: dict[str, Any], fsync: Path | None = None, line_to: Path | None = None) -> None:
        """Hand one finished call's record over; returns at once. `fsync`: a file the caller
        appended the record to without syncing it (the JSON lines): the writer syncs it first.
        `line_to`: the JSON-lines file the caller could not append it to (full disk): the writer
        appends it when there is room."""
        self._open.pop(str(record.get("call_id")), None)
        try:
            self._queue.put_nowait((time.perf_counter(), record, fsync, line_to))
        except Exception:  # noqa: BLE001 - an unbounded queue does not fail; belt and braces
            log.exception("call record %s could not be queued", record.get("call_id"))

    def opened(self, recorder: Any) -> None:
        """A call started (`recorder`: its bot.call.records.CallRecorder): its open row is
        queued, and its events are saved with the next checkpoints until `submit`. Returns at once
        (a dict and a queue put on the event loop; the database is the writer's)."""
        call_id = str(recorder.call_id)
        self._open[call_id] = recorder
        stub = {"call_id": call_id, "caller": recorder.caller, "started_at": recorder.started_at,
                "transport": recorder.transport, "transcripts": recorder.keep_transcripts,
                "gateway": self.process, "summary": {"outcome": OPEN}, "events": []}
        self.stats.opened += 1
        try:
            self._queue.put_nowait((time.perf_counter(), stub, None, None))
        except Exception:  # noqa: BLE001 - belt and braces, as in submit
            log.exception("open row of call %s could not be queued", call_id)

    @property
    def held(self) -> int:
        """Records and JSON lines waiting in memory for room on the disk."""
        return len(self._held) + len(self._held_lines)

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
        """Calls waiting in the spool (a call's open row and its end count once)."""
        try:
            lines = self.spool.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return 0
        ids = set()
        for line in lines:
            try:
                ids.add(json.loads(line)["call_id"])
            except (ValueError, KeyError, TypeError):
                ids.add(line)  # half a line: still something waiting
        return len(ids)

    # ----- the writer thread -----------------------------------------------------------------
    def wait_tried(self, timeout_s: float = 30.0) -> bool:
        """Wait until the writer has tried the database once (migrated and replayed, or found it down)."""
        return self._tried.wait(timeout_s)

    def _run(self) -> None:
        try:
            self._try_database()
            self._sweep()
            self._maintain()  # the retention runs at start, then every purge_every_s
        except Exception:  # noqa: BLE001 - the writer thread must never die
            log.exception("records writer")
        finally:
            self._tried.set()
        while True:
            busy = self._down_since is not None or self.spool.exists() or self._held or self._held_lines
            wait = self.retry_s if busy else min(60.0, self.checkpoint_s or 60.0)
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
        if self._held or self._held_lines:
            self._retry_held()
            if self._held or self._held_lines:
                self.stats.lost += len(self._held) + len(self._held_lines)
                log.error("call records: stopping with %d records and %d JSON lines that could not be "
                          "written (full disk?): lost", len(self._held), len(self._held_lines))

    def _maintain(self) -> None:
        """Retry a down database (then replay the spool); write what waits in memory; save the
        calls in progress; close dead gateways' calls; purge old transcripts now and then."""
        now = time.monotonic()
        if self._down_since is not None and now - self._down_since >= self.retry_s:
            self._try_database()
        elif self._down_since is None and self.spool.exists():
            self._try_database()
        if self._held or self._held_lines:
            self._retry_held()
        if self.checkpoint_s > 0 and now >= self._next_checkpoint and self._down_since is None and self._migrated:
            self._next_checkpoint = now + self.checkpoint_s
            self._checkpoint()
        if now >= self._next_sweep and self._down_since is None and self._migrated:
            self._sweep()
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
            self._down_since = None
        except Exception as exc:  # noqa: BLE001 - database down: spool and retry later
            self._mark_down(exc)

    def _mark_down(self, exc: BaseException) -> None:
        # Logged once per outage: a full disk lets the connection open and fails each write, so
        # "down" and "up" alternate with every retry; the outage ends with a record written.
        self.stats.failures += 1
        if not self._down_logged:
            self._down_logged = True
            log.error("call records: the database is unreachable or cannot write (%s); records wait in %s",
                      str(exc).splitlines()[0] if str(exc) else type(exc).__name__, self.spool)
        self._down_since = time.monotonic()

    def _database_back(self) -> None:
        if self._down_logged:
            self._down_logged = False
            log.warning("call records: the database is back")

    def _sweep(self) -> None:
        """Close the open rows of dead gateways (every SWEEP_EVERY_S, and at start)."""
        self._next_sweep = time.monotonic() + SWEEP_EVERY_S
        if self._down_since is not None or not self._migrated:
            return
        try:
            self.stats.died_closed += close_dead_calls(self.engine, self.open_max_s)
        except Exception as exc:  # noqa: BLE001 - the next sweep tries again
            if database_down(exc):
                self._mark_down(exc)
            else:
                log.exception("closing dead gateways' calls failed")

    def _checkpoint(self) -> None:
        """Save the events so far of every call in progress whose events changed (one
        transaction): what a `gateway_died` record will show if this process dies now."""
        calls = self._open.copy()  # one C call under the GIL: the loop may add or remove meanwhile
        for call_id in [c for c in self._saved if c not in calls]:
            del self._saved[call_id]
        changed = []
        for call_id, recorder in calls.items():
            events = list(recorder.events)  # likewise a consistent copy
            if events and self._saved.get(call_id) != len(events):
                changed.append((call_id, recorder, events))
        if not calls:
            return
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        try:
            with Session(self.engine) as session, session.begin():
                # Every call in progress was alive now (one statement): a gateway_died record's
                # end and duration are then right to within one checkpoint.
                session.execute(update(Call).where(Call.id.in_(list(calls)), Call.outcome == OPEN)
                                .values(ended_at=now))
                saved = []
                for call_id, recorder, events in changed:
                    row = session.get(Call, call_id)
                    if row is None or row.outcome != OPEN:  # not written yet (queued), or already ended
                        continue
                    session.execute(delete(CallEventRow).where(CallEventRow.call_id == call_id))
                    session.add_all(_event_rows(call_id, events, bool(recorder.keep_transcripts)))
                    saved.append((call_id, len(events)))
            # Only what was written counts as saved: a call whose open row was still queued is
            # saved at the next checkpoint even if its events do not change meanwhile.
            self._saved.update(saved)
            self.stats.checkpoints += len(saved)
        except Exception as exc:  # noqa: BLE001 - a checkpoint is best effort; the next one retries
            if database_down(exc):
                self._mark_down(exc)
            else:
                log.exception("saving the calls in progress failed")

    def _write(self, submitted: float, record: dict[str, Any], fsync: Path | None = None,
               line_to: Path | None = None) -> None:
        if line_to is not None:
            line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
            if self._held_lines or not self._append_line(line_to, line):  # in order behind what waits
                self._hold(self._held_lines, (line_to, line), "JSON line")
        if fsync is not None:
            try:
                fd = os.open(fsync, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                log.exception("could not sync %s", fsync)
        if self._held:  # behind the records that wait for room (an open row before its end)
            self._hold(self._held, record, "record")
            return
        if not self._place(record, submitted):
            self._hold(self._held, record, "record")

    def _place(self, record: dict[str, Any], submitted: float | None = None) -> bool:
        """The database, else the spool. False if neither could take it (full disk)."""
        if self._down_since is None and self._migrated and not self.spool.exists():
            try:
                try:
                    with Session(self.engine) as session, session.begin():
                        write_record(session, record)
                except sa_exc.IntegrityError:
                    # Another process inserted the same call between our look and our insert (a
                    # spool replayed by two gateways): look again, it is then there.
                    with Session(self.engine) as session, session.begin():
                        write_record(session, record)
                self._database_back()
                if (record.get("summary") or {}).get("outcome") != OPEN:
                    self.stats.written += 1
                    if submitted is not None:
                        self.stats.write_ms.append((time.perf_counter() - submitted) * 1000)
                return True
            except Exception as exc:  # noqa: BLE001 - to the spool, never lost
                if not database_down(exc):
                    self._reject(record, exc)
                    return True
                self._mark_down(exc)
        try:
            self._to_spool(record)
            return True
        except OSError as exc:
            self._disk_error(exc)
            return False

    def _disk_error(self, exc: OSError) -> None:
        if not self._disk_error_logged:  # once per outage, not per record (or frame)
            self._disk_error_logged = True
            log.error("call records cannot be written (%s): kept in memory (at most %d) until there is room",
                      exc, self.held_max)

    def _hold(self, held: deque[Any], item: Any, what: str) -> None:
        """Keep `item` in memory. Bounded: past `held_max` the oldest waiting item is dropped and
        counted as lost (memory must not grow without end while a disk stays full for days)."""
        self.stats.unwritten += 1
        if len(held) >= self.held_max:
            held.popleft()
            self.stats.lost += 1
            if self.stats.lost == 1 or self.stats.lost % 1000 == 0:
                log.error("call records: more than %d %ss wait for room; the oldest are dropped (%d lost so far)",
                          self.held_max, what, self.stats.lost)
        held.append(item)

    def _retry_held(self) -> None:
        """Write what waits in memory, oldest first, until something fails again."""
        while self._held_lines:
            path, line = self._held_lines[0]
            if not self._append_line(path, line):
                break
            self._held_lines.popleft()
        while self._held:
            if not self._place(self._held[0]):
                break
            self._held.popleft()
        if not self._held and not self._held_lines and self._disk_error_logged:
            self._disk_error_logged = False
            log.warning("call records: there is room again; every record kept in memory is written")

    def _append_line(self, path: Path, line: bytes) -> bool:
        """Append one JSON line (synced); False on a full disk. A line cut short is taken back
        (truncated), so the file never holds half a record followed by the next one."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            self._disk_error(exc)
            return False
        try:
            return _write_whole(fd, line)
        except OSError as exc:
            self._disk_error(exc)
            return False
        finally:
            os.close(fd)

    def _reject(self, record: dict[str, Any], exc: BaseException) -> None:
        """A record the database refuses (not a connection problem): kept aside, not retried forever."""
        self.stats.rejected += 1
        log.error("call record %s refused by the database (%s: %s); kept in %s", record.get("call_id"),
                  type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "", self.spool.parent / REJECTED_NAME)
        try:
            self._append(self.spool.parent / REJECTED_NAME, record)
        except OSError as exc:  # a refused record is never retried; on a full disk it is lost, said once
            self._disk_error(exc)
            self.stats.lost += 1

    def _to_spool(self, record: dict[str, Any]) -> None:
        self._append(self.spool, record)
        self.stats.spooled += 1

    @staticmethod
    def _append(path: Path, record: dict[str, Any]) -> None:
        """Append and sync one record; raises OSError if the disk cannot take all of it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if not _write_whole(fd, line):
                raise OSError(28, "No space left on device (short write)", str(path))
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
                    added = write_record(session, record)
                written += added and (record.get("summary") or {}).get("outcome") != OPEN
            except Exception as exc:  # noqa: BLE001
                if database_down(exc):
                    raise
                self._reject(record, exc)
        self.stats.replayed += written
        self.stats.written += written
        self.spool.unlink()
        if records:
            self._database_back()
        if records:
            log.warning("call records: %d spooled records written to the database", len(records))


def _write_whole(fd: int, data: bytes) -> bool:
    """Write `data` at the end of the O_APPEND file `fd` and sync it. On a disk that takes only part
    of it, the part is cut off again and False returned (raises other OSErrors, and ENOSPC from
    the first byte)."""
    n = os.write(fd, data)
    if n < len(data):
        end = os.lseek(fd, 0, os.SEEK_END)
        os.ftruncate(fd, end - n)
        return False
    os.fsync(fd)
    return True
