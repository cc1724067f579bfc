"""Running it as a service: the systemd units as deploy/systemd/install.sh writes them for this
checkout pass `systemd-analyze verify` (and its offline security check), and the brain unit's
readiness wait (bot/ops/wait_brain.py) waits for a real health route to say "ok"."""
from __future__ import annotations

import asyncio
import getpass
import shutil
import subprocess
import sys

import pytest
from aiohttp import web

from bot.config import checkout_id
from tests.conftest import ROOT

UNITS = ("branch7-gateway.service", "branch7-rasa.service")
BRAIN_PORT = 15806
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (Debian: systemd)")


def install(dest, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(ROOT / "deploy/systemd/install.sh"), "--dir", str(ROOT), "--user", getpass.getuser(),
                           "--dest", str(dest), "--units-only", *extra], capture_output=True, text=True, timeout=60)


@needs_systemd
def test_the_units_pass_systemd_analyze_verify(tmp_path):
    done = install(tmp_path)
    assert done.returncode == 0, done.stderr
    units = [tmp_path / u for u in UNITS]
    for unit in units:
        text = unit.read_text()
        assert "/opt/branch7" not in text and f"WorkingDirectory={ROOT}" in text
    verify = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, units)], capture_output=True, text=True,
                            timeout=120)
    # verify exits 0 on unknown keys; it only warns: a clean unit prints nothing at all.
    assert verify.returncode == 0 and verify.stdout == "" and verify.stderr == "", verify.stdout + verify.stderr
    # The sandbox: systemd's own exposure score (0 = locked down, 10 = none) at most 3 ("OK").
    security = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--threshold=30", *map(str, units)],
                              capture_output=True, text=True, timeout=120)
    assert security.returncode == 0, security.stdout[-3000:] + security.stderr


@needs_systemd
def test_verify_catches_a_broken_unit(tmp_path):
    """The check above can fail: a misspelt key, or a command that does not exist."""
    assert install(tmp_path).returncode == 0
    unit = tmp_path / UNITS[0]
    unit.write_text(unit.read_text().replace("NoNewPrivileges=", "NoNewPrivilege=")
                    .replace(f"{ROOT}/.venv/bin/bot run", f"{ROOT}/.venv/bin/no-such-bot run"))
    verify = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                            timeout=120)
    assert "Unknown key" in verify.stderr and "no-such-bot is not executable" in verify.stderr


def test_install_refuses_an_unknown_user(tmp_path):
    done = subprocess.run(["sh", str(ROOT / "deploy/systemd/install.sh"), "--user", "no-such-user-b7",
                           "--dest", str(tmp_path), "--units-only"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no user 'no-such-user-b7'" in done.stderr and not list(tmp_path.iterdir())


async def run_wait(env: dict, timeout_s: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.ops.wait_brain", "--timeout", timeout_s,
                                                cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode, out.decode(), err.decode()


async def test_wait_brain_returns_once_the_health_route_says_ok():
    state = {"status": "loading", "asked": 0, "checkout": checkout_id(ROOT)}

    async def health(request: web.Request) -> web.Response:
        state["asked"] += 1
        if state["asked"] >= 3:  # loaded at the third question
            state["status"] = "ok"
        return web.json_response({"status": state["status"], "model": "m", "checkout": state["checkout"]})

    app = web.Application()
    app.router.add_get("/webhooks/brain/", health)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", BRAIN_PORT).start()
    env = {"PATH": "/usr/bin:/bin", "BOT_RASA_PORT": str(BRAIN_PORT)}
    try:
        code, out, err = await run_wait(env, "60")
        assert code == 0 and "is ready" in out and state["asked"] >= 3, err
        state["checkout"] = "another-checkout"   # not ours to wait for
        code, out, err = await run_wait(env, "60")
        assert code == 1 and "a brain of another checkout" in err
    finally:
        await runner.cleanup()
    code, out, err = await run_wait(env, "0")   # nobody answering: exit 1 at the timeout, with the reason
    assert code == 1 and "not ready after 0 s: no answer" in err
