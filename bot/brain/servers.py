"""Start and stop the Rasa server and the action server as child processes on localhost.

Rasa lives in its own environment (.venv-rasa, Python 3.10); we only ever talk to it over HTTP.
Their logs go to var/log/ so the caller's terminal stays quiet.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import signal
import urllib.parse
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import aiohttp

from bot.config import Settings, checkout_id

QUIET_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONWARNINGS": "ignore",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
}


class BrainStartError(RuntimeError):
    """Rasa or the action server did not come up; the message says where to look."""


@dataclass
class RunningBrain:
    url: str
    token: str
    processes: list[asyncio.subprocess.Process]
    owned: bool  # False: we found a server already running and must not stop it


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the process that started us dies, even by
    SIGKILL, so Rasa never outlives the bot (Linux prctl PR_SET_PDEATHSIG; elsewhere a no-op).
    The children run in their own session so a Ctrl-C reaches only the bot, which stops them."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def rasa_bin(settings: Settings, name: str) -> Path:
    return settings.path(".venv-rasa/bin") / name


def latest_model(settings: Settings) -> Path | None:
    models = sorted(settings.path(settings.rasa.model_dir).glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def write_endpoints(settings: Settings) -> Path:
    """Endpoints for the Rasa server, from settings (so ports are configured in one place)."""
    run_dir = settings.path("var/run")
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"endpoints-{settings.rasa.port}.yml"
    r = settings.rasa
    path.write_text(
        "# Written by bot/brain/servers.py from settings.yml at each start.\n"
        f"action_endpoint:\n  url: \"http://{r.actions_host}:{r.actions_port}/webhook\"\n"
        "  enable_selective_domain: true\n" + _stores(settings), encoding="utf-8")
    path.chmod(0o600)  # a database or Redis password may be in it
    return path


def _stores(settings: Settings) -> str:
    """The tracker and lock stores' sections of endpoints.yml (docs/cluster.md).

    Rasa's SQL tracker store takes a whole SQLAlchemy URL as its `url` (its `host`), so the configured URL goes
    through unchanged (a relative SQLite path is made absolute: Rasa's working directory is not
    the operator's concern). JSON strings are valid YAML and quote anything a URL may hold."""
    url = settings.rasa.tracker_store.strip()
    if not url:
        tracker = "tracker_store:\n  type: actions.server.tracker_store.ProcessTrackerStore\n  max_idle_s: 3600\n"
    else:
        dialect = url.split(":", 1)[0].split("+", 1)[0]
        if dialect not in ("sqlite", "postgresql"):
            raise BrainStartError(f"rasa.tracker_store: expected sqlite:///path or postgresql://..., got {url!r}")
        if dialect == "sqlite":
            db = settings.path(url.split(":///", 1)[1] if ":///" in url else "var/brain/trackers.sqlite3")
            db.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{db}"
        else:  # the records' URL may name psycopg 3; Rasa's environment has psycopg2, SQLAlchemy's default
            url = "postgresql" + url[url.index(":"):]
        tracker = f"tracker_store:\n  type: SQL\n  dialect: {dialect}\n  url: {json.dumps(url)}\n"
    lock = settings.rasa.lock_store.strip()
    if not lock:
        return tracker
    parts = urllib.parse.urlsplit(lock)
    if parts.scheme != "redis" or not parts.hostname:
        raise BrainStartError(f"rasa.lock_store: expected redis://host:port/db, got {lock!r}")
    db = parts.path.strip("/") or "0"
    return (tracker + f"lock_store:\n  type: redis\n  url: {json.dumps(parts.hostname)}\n  port: {parts.port or 6379}\n"
            f"  db: {int(db)}\n" + (f"  password: {json.dumps(urllib.parse.unquote(parts.password))}\n"
                                    if parts.password else ""))


def rasa_env(settings: Settings) -> dict[str, str]:
    """Environment for any process in the Rasa environment: quiet, and our code importable."""
    env = {**os.environ, **QUIET_ENV}
    env["PYTHONPATH"] = str(settings.root) + os.pathsep + env.get("PYTHONPATH", "")
    # The brain's safety net reads danger.yml from the content being trained (a test's copy too).
    env["BOT_CONTENT_DIR"] = str(settings.path(settings.content.dir))
    return env


def _child_env(settings: Settings, token: str, endpoints: Path) -> dict[str, str]:
    env = rasa_env(settings)
    env["BRANCH7_BRAIN_TOKEN"] = token
    env["BRANCH7_ENDPOINTS"] = str(endpoints)
    env["SANIC_HOST"] = settings.rasa.actions_host  # rasa_sdk binds 0.0.0.0 unless told
    env.setdefault("BOT_SETTINGS", str(settings.root / "settings.yml"))
    # The action server must decide with the same dialogue settings as this process.
    for key, value in dataclasses.asdict(settings.dialogue).items():
        env[f"BOT_DIALOGUE_{key.upper()}"] = str(value)
    return env


async def brain_health(url: str, timeout_s: float = 1.0) -> dict | None:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http:
            async with http.get(f"{url}/webhooks/brain/") as resp:
                return await resp.json() if resp.status == 200 else None
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return None


def is_own(health: dict, settings: Settings) -> bool:
    """Whether a brain's health answer comes from this checkout's code (see checkout_id)."""
    return health.get("checkout") == checkout_id(settings.root)


def token_file(settings: Settings) -> Path:
    return settings.path(f"var/run/brain-{settings.rasa.port}.token")


async def start_brain(settings: Settings) -> RunningBrain:
    """Start both servers (or reuse ones already answering) and wait until a model is loaded."""
    url = settings.rasa.url
    health = await brain_health(url)
    if health:
        if not is_own(health, settings):
            raise BrainStartError(f"{url} is a brain started from another checkout; stop it, or give this "
                                  "one its own rasa.port (settings.yml)")
        tf = token_file(settings)
        token = settings.rasa.auth_token or (tf.read_text().strip() if tf.exists() else "")
        return RunningBrain(url, token, [], owned=False)
    model = latest_model(settings)
    if model is None:
        raise BrainStartError("no trained model in models/; run `make train` first")
    if not rasa_bin(settings, "rasa").exists():
        raise BrainStartError("the Rasa environment .venv-rasa is missing; run `make install`")
    token = settings.rasa.auth_token or secrets.token_hex(24)
    tf = token_file(settings)
    tf.parent.mkdir(parents=True, exist_ok=True)
    tf.write_text(token)
    tf.chmod(0o600)
    log_dir = settings.path("var/log")
    log_dir.mkdir(parents=True, exist_ok=True)
    endpoints = write_endpoints(settings)
    env = _child_env(settings, token, endpoints)
    r = settings.rasa
    actions_log = open(log_dir / f"actions-{r.actions_port}.log", "ab")
    rasa_log = open(log_dir / f"rasa-{r.port}.log", "ab")
    actions = await asyncio.create_subprocess_exec(
        str(rasa_bin(settings, "python")), "-m", "rasa_sdk", "--actions", "actions.actions",
        "-p", str(r.actions_port), "--quiet",
        cwd=settings.root, env=env, stdout=actions_log, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True, preexec_fn=_die_with_parent)
    server = await asyncio.create_subprocess_exec(
        str(rasa_bin(settings, "rasa")), "run", "--enable-api", f"--auth-token={token}",
        "-i", r.host, "-p", str(r.port), "--model", str(settings.path(r.model_dir)),
        "--endpoints", str(endpoints), "--credentials", str(settings.root / "credentials.yml"),
        "--quiet",
        cwd=settings.root, env=env, stdout=rasa_log, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True, preexec_fn=_die_with_parent)
    actions_log.close()  # the children hold their own descriptors
    rasa_log.close()
    brain = RunningBrain(url, token, [actions, server], owned=True)
    deadline = asyncio.get_running_loop().time() + r.startup_timeout_s
    while asyncio.get_running_loop().time() < deadline:
        health = await brain_health(url)
        if health and health.get("status") == "ok":
            return brain
        if server.returncode is not None or actions.returncode is not None:
            break
        await asyncio.sleep(0.5)
    exited = server.returncode is not None or actions.returncode is not None
    await stop_brain(brain)
    what = "exited" if exited else f"did not answer within {r.startup_timeout_s:.0f} s"
    raise BrainStartError(f"Rasa {what}; see {rasa_log.name} and {actions_log.name}")


async def stop_brain(brain: RunningBrain, grace_s: float = 10.0) -> None:
    if not brain.owned:
        return
    for proc in brain.processes:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for proc in brain.processes:
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except asyncio.TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


@asynccontextmanager
async def running_brain(settings: Settings) -> AsyncIterator[RunningBrain]:
    brain = await start_brain(settings)
    try:
        yield brain
    finally:
        await stop_brain(brain)

