"""Who may use the studio: editors' logins (salted scrypt hashes in a file), sessions, CSRF tokens.

There is no built-in account and no default password: with no users file (or an empty one) the
studio refuses every login and its login page says how to add an editor (`bot studio-user add`).
The file is read at each login, so adding or removing an editor needs no restart.

Users file, one editor a line (written by `bot studio-user`, mode 0600):
    <name>:scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
MIN_PASSWORD = 10
# scrypt cost: 2^15 x 8 needs 32 MiB and ~0.1 s per check on this machine (OWASP's minimum is
# 2^17 x 8 for a web-facing service; a localhost page with a handful of editors and a login
# throttle gets the cheaper setting so a login does not take a core away from calls for long).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MAX_MEM = 64 * 2**20
FAILURES_ALLOWED = 5          # per editor name and per client address ...
FAILURE_WINDOW_S = 15 * 60    # ... within this window; then logins are refused until it passes


class UsersFileError(ValueError):
    """The users file cannot be read or has a broken line (the message says which)."""


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=MAX_MEM, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=MAX_MEM, dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# Checked when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY = hash_password(secrets.token_urlsafe(16))


def read_users(path: Path) -> dict[str, str]:
    """name -> stored hash. A missing file is no users; a broken line is an error for the operator."""
    if not path.exists():
        return {}
    users: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, stored = line.partition(":")
        if not sep or not NAME.match(name) or not stored.startswith("scrypt$"):
            raise UsersFileError(f"{path}:{number}: expected <name>:scrypt$..., as `bot studio-user add` writes")
        users[name] = stored
    return users


def write_users(path: Path, users: dict[str, str]) -> None:
    """Replace the users file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# Voice studio editors (bot studio-user add/remove). Salted scrypt hashes, no passwords.\n")
        for name in sorted(users):
            f.write(f"{name}:{users[name]}\n")
    os.replace(tmp, path)


@dataclass
class Session:
    user: str
    csrf: str
    expires: float


@dataclass
class Sessions:
    """Logged-in editors, in memory: a gateway restart logs everyone out (nothing to steal on disk)."""

    lifetime_s: float
    _by_key: dict[str, Session] = field(default_factory=dict)

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def open(self, user: str) -> tuple[str, Session]:
        self._drop_expired()
        token = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(32), time.time() + self.lifetime_s)
        self._by_key[self._key(token)] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        session = self._by_key.get(self._key(token))
        if session is None or session.expires < time.time():
            return None
        return session

    def close(self, token: str | None) -> None:
        if token:
            self._by_key.pop(self._key(token), None)

    def close_user(self, user: str) -> None:
        for key in [k for k, s in self._by_key.items() if s.user == user]:
            del self._by_key[key]

    def _drop_expired(self) -> None:
        now = time.time()
        for key in [k for k, s in self._by_key.items() if s.expires < now]:
            del self._by_key[key]


@dataclass
class Throttle:
    """Failed logins per key (editor name, client address): guessing is slowed to a crawl."""

    allowed: int = FAILURES_ALLOWED
    window_s: float = FAILURE_WINDOW_S
    _failures: dict[str, list[float]] = field(default_factory=dict)

    def blocked(self, *keys: str) -> bool:
        now = time.time()
        for key in keys:
            recent = [t for t in self._failures.get(key, []) if now - t < self.window_s]
            self._failures[key] = recent
            if len(recent) >= self.allowed:
                return True
        return False

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._failures.setdefault(key, []).append(time.time())

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


def verify(users: dict[str, str], name: str, password: str) -> bool:
    """The slow check (run it in a worker thread): same cost whether or not the name exists."""
    stored = users.get(name)
    ok = check_password(password, stored or _DUMMY)
    return ok and stored is not None
