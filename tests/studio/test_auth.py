"""Editors' logins: salted hashes, no default account, sessions, the failed-login throttle."""
from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from bot.studio import auth


def test_a_hash_is_salted_and_checks_only_its_own_password():
    first, second = auth.hash_password("mật khẩu dài"), auth.hash_password("mật khẩu dài")
    assert first != second  # a fresh salt each time: equal passwords do not show
    assert auth.check_password("mật khẩu dài", first) and auth.check_password("mật khẩu dài", second)
    assert not auth.check_password("mật khẩu dài ", first)
    assert not auth.check_password("anything", "scrypt$garbage")
    assert "mật khẩu" not in first


def test_no_users_file_means_no_one_can_log_in(tmp_path: Path):
    users = auth.read_users(tmp_path / "users")
    assert users == {}
    for name, password in [("admin", "admin"), ("", ""), ("editor", "password")]:
        assert not auth.verify(users, name, password)


def test_users_file_round_trip_is_private_and_a_broken_line_names_itself(tmp_path: Path):
    path = tmp_path / "studio" / "users"
    auth.write_users(path, {"lan": auth.hash_password("mot-mat-khau-dai")})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = auth.read_users(path)
    assert list(users) == ["lan"] and auth.verify(users, "lan", "mot-mat-khau-dai")
    assert not auth.verify(users, "lan", "mot-mat-khau-sai") and not auth.verify(users, "minh", "mot-mat-khau-dai")
    path.write_text(path.read_text() + "minh:plaintext-password\n")
    with pytest.raises(auth.UsersFileError, match=r"users:3: expected"):
        auth.read_users(path)


def test_sessions_expire_and_close(monkeypatch):
    sessions = auth.Sessions(lifetime_s=60)
    token, session = sessions.open("lan")
    assert sessions.get(token) is session and sessions.get("forged") is None and sessions.get(None) is None
    other, _ = sessions.open("lan")
    assert session.csrf != sessions.get(other).csrf
    now = time.time()
    monkeypatch.setattr(auth.time, "time", lambda: now + 61)
    assert sessions.get(token) is None
    monkeypatch.setattr(auth.time, "time", lambda: now)
    sessions.close(token)
    assert sessions.get(token) is None and sessions.get(other) is not None


def test_the_throttle_blocks_after_repeated_failures_per_name_and_per_address():
    throttle = auth.Throttle(allowed=3, window_s=60)
    for _ in range(3):
        assert not throttle.blocked("user:lan", "ip:1.2.3.4")
        throttle.failed("user:lan", "ip:1.2.3.4")
    assert throttle.blocked("user:lan", "ip:5.6.7.8")   # the name is under attack from anywhere
    assert throttle.blocked("user:minh", "ip:1.2.3.4")  # that address tries every name
    assert not throttle.blocked("user:minh", "ip:5.6.7.8")
