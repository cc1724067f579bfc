"""`bot studio-user add|remove|list`: the editors who may log in to the voice studio (docs/studio.md).

Passwords are read from the terminal (twice) or, for scripts, from standard input with
`--password-stdin`; only a salted scrypt hash is stored, in `studio.users_file`.
"""
from __future__ import annotations

import argparse
import getpass
import sys

from bot.config import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("studio-user", help="add, remove or list the voice studio's editors")
    p.add_argument("action", choices=("add", "remove", "list"))
    p.add_argument("name", nargs="?", help="the editor's login name (lowercase letters, digits, . _ -)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_studio_user)
    return p


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        print("error: the two passwords differ", file=sys.stderr)
        return None
    return first


def cmd_studio_user(settings: Settings, args: argparse.Namespace) -> int:
    from bot.studio import auth

    path = settings.path(settings.studio.users_file)
    try:
        users = auth.read_users(path)
    except auth.UsersFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.action == "list":
        print("\n".join(sorted(users)) if users else f"no editors yet (bot studio-user add <name>); file: {path}")
        return 0
    if not args.name or not auth.NAME.match(args.name):
        print("error: give a name of lowercase letters, digits, '.', '_' or '-' (at most 32)", file=sys.stderr)
        return 2
    if args.action == "remove":
        if users.pop(args.name, None) is None:
            print(f"error: no editor '{args.name}' in {path}", file=sys.stderr)
            return 1
        auth.write_users(path, users)
        print(f"removed '{args.name}' (sessions already open end at the next restart or their expiry)")
        return 0
    password = _password(args)
    if password is None:
        return 1
    if len(password) < auth.MIN_PASSWORD:
        print(f"error: use at least {auth.MIN_PASSWORD} characters", file=sys.stderr)
        return 1
    existed = args.name in users
    users[args.name] = auth.hash_password(password)
    auth.write_users(path, users)
    print(f"{'changed the password of' if existed else 'added'} '{args.name}' in {path}; "
          f"log in at http://{settings.web.host}:{settings.web.port}/studio")
    return 0
