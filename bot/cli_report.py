"""`bot report [--from DATE] [--to DATE] [--json]`: the figures the city reports, from the call
records database (bot/records/, docs/operations.md)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

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
    return p


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from bot.records.report import build_report, day_range, format_report
    from bot.records.store import database_url, make_engine, migrate

    if args.start and args.end and args.start > args.end:
        print("error: --from is after --to", file=sys.stderr)
        return 2
    engine = make_engine(database_url(settings))
    try:
        migrate(engine)  # an empty or older database reports zeros instead of failing
        lo, hi = day_range(args.start, args.end, settings.records.timezone)
        report = build_report(engine, lo, hi, top=args.top)
    except Exception as exc:  # noqa: BLE001 - one line for the operator
        print(f"error: the records database cannot be read: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    report = {"from": args.start.isoformat() if args.start else None,
              "to": args.end.isoformat() if args.end else None, "timezone": settings.records.timezone, **report}
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        span = f"{report['from'] or 'the first call'} to {report['to'] or 'today'} ({report['timezone']})"
        print(format_report(report, f"Branch 7 calls, {span}"))
    return 0
