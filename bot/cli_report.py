"""`bot report [--from DATE] [--to DATE] [--json]`: the figures the city reports, from the call
records database (bot/records/, docs/operations.md)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from bot.config import Settings


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("report", help="calls received, answered, transferred, abandoned; top and unanswered questions")
    p.add_argument("--from", dest="start", type=_date, help="first day, YYYY-MM-DD (records.timezone), inclusive")
    p.add_argument("--to", dest="end", type=_date, help="last day, YYYY-MM-DD, inclusive")
    p.add_argument("--top", type=int, default=10, help="how many top questions (default 10)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_report)
    q = subparsers.add_parser("records-import", help="write call records from JSON-lines files into the database "
                              "(history, or calls a killed gateway had not written yet); each call once")
    q.add_argument("files", nargs="+", type=Path, help="e.g. var/records/*.jsonl or var/spool/rejected.jsonl")
    q.set_defaults(func=cmd_records_import)
    return p


def _engine(settings: Settings, create: bool):
    """The records database (migrated). A SQLite file that does not exist yet is only created
    when `create`; otherwise an empty in-memory database stands in (nothing recorded yet)."""
    from bot.records.store import make_engine, migrate

    r = settings.records
    if not r.url and not create and not settings.path(r.sqlite_path).exists():
        print(f"note: no records yet ({settings.path(r.sqlite_path)} does not exist; the gateway creates it)",
              file=sys.stderr)
        engine = make_engine("sqlite://")
    else:
        from bot.records.store import database_url

        engine = make_engine(database_url(settings))
    migrate(engine)  # an empty or older database is brought to the current schema
    return engine


def cmd_records_import(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.orm import Session

    from bot.records.store import write_record

    engine = _engine(settings, create=True)
    added = skipped = bad = 0
    try:
        for path in args.files:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    with Session(engine) as session, session.begin():
                        if write_record(session, record):
                            added += 1
                        else:
                            skipped += 1
                except (ValueError, KeyError, TypeError) as exc:
                    bad += 1
                    print(f"{path}:{n}: not a call record ({type(exc).__name__}: {exc})", file=sys.stderr)
    finally:
        engine.dispose()
    print(f"{added} calls added, {skipped} already there, {bad} lines not records")
    return 1 if bad else 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from bot.records.report import build_report, day_range, format_report

    if args.start and args.end and args.start > args.end:
        print("error: --from is after --to", file=sys.stderr)
        return 2
    engine = None
    try:
        engine = _engine(settings, create=False)
        # Calls still "open" from a gateway that died are closed first (gateway_died), so the
        # figures count them even when no gateway has started since.
        from bot.records.store import close_dead_calls

        try:
            close_dead_calls(engine, settings.voice.max_call_s + 600.0)
        except Exception as exc:  # noqa: BLE001 - e.g. a read-only database user: count them as in progress
            print(f"note: calls of dead gateways not closed ({str(exc).splitlines()[0]})", file=sys.stderr)
        lo, hi = day_range(args.start, args.end, settings.records.timezone)
        report = build_report(engine, lo, hi, top=args.top, tz=settings.records.timezone)
    except Exception as exc:  # noqa: BLE001 - one line for the operator
        print(f"error: the records database cannot be read: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        if engine is not None:
            engine.dispose()
    report = {"from": args.start.isoformat() if args.start else None,
              "to": args.end.isoformat() if args.end else None, "timezone": settings.records.timezone, **report}
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        span = f"{report['from'] or 'the first call'} to {report['to'] or 'today'} ({report['timezone']})"
        print(format_report(report, f"Branch 7 calls, {span}"))
    return 0
