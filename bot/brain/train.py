"""Editors' change -> live model: validate, build, train, then hot-swap a running server.

The order is the safety: nothing is generated unless the content validates, a model is only
added to models/ by a successful `rasa train`, and a running server keeps its old model unless
the new one loaded. Conversations in progress keep their state (actions/server/tracker_store.py).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.brain.servers import brain_health, is_own, latest_model, rasa_bin, rasa_env, token_file
from bot.config import Settings
from bot.content.build import write_rasa_files
from bot.content.load import load_knowledge_base
from bot.content.model import Problem

log = logging.getLogger(__name__)

KEEP_MODELS = 3


class TrainError(RuntimeError):
    pass


@dataclass
class TrainResult:
    model: Path | None
    problems: list[Problem]
    seconds: float = 0.0
    reloaded: bool = False

    @property
    def ok(self) -> bool:
        return self.model is not None


def rasa_train_command(settings: Settings, out_dir: Path, nlu_files: list[Path] | None = None) -> list[str]:
    data = [str(p) for p in nlu_files] if nlu_files else [str(settings.root / "data/nlu")]
    return [str(rasa_bin(settings, "rasa")), "train", "--config", str(settings.root / "config.yml"),
            "--domain", str(settings.root / "domain"), "--data", *data, str(settings.root / "rules.yml"),
            "--out", str(out_dir), "--quiet"]


async def run_rasa_train(settings: Settings, out_dir: Path, log_path: Path,
                         nlu_files: list[Path] | None = None, cache_dir: Path | None = None) -> Path:
    """Run `rasa train` in the Rasa environment; return the new model or raise TrainError.
    `cache_dir`: Rasa's component cache (default .rasa/cache); an empty one trains from scratch."""
    before = set(out_dir.glob("*.tar.gz"))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = rasa_env(settings)
    if cache_dir is not None:
        env["RASA_CACHE_DIRECTORY"] = str(cache_dir)
    with open(log_path, "ab") as log:
        proc = await asyncio.create_subprocess_exec(
            *rasa_train_command(settings, out_dir, nlu_files), cwd=settings.root, env=env,
            stdout=log, stderr=asyncio.subprocess.STDOUT)
        code = await proc.wait()
    new = sorted(set(out_dir.glob("*.tar.gz")) - before, key=lambda p: p.stat().st_mtime)
    if code != 0 or not new:
        raise TrainError(f"rasa train failed (exit {code}); see {log_path}")
    return new[-1]


async def reload_running_server(settings: Settings, model: Path) -> bool:
    """Ask this checkout's running Rasa server to swap to `model`. False if none is running; a
    brain of another checkout on the same port is left alone (its model is not ours to change)."""
    health = await brain_health(settings.rasa.url)
    if not health:
        return False
    if not is_own(health, settings):
        log.warning("%s is a brain of another checkout; not swapping this model into it", settings.rasa.url)
        return False
    tf = token_file(settings)
    token = settings.rasa.auth_token or (tf.read_text().strip() if tf.exists() else "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300), headers=headers) as http:
        async with http.post(f"{settings.rasa.url}/webhooks/brain/model", json={"model_file": str(model)}) as resp:
            if resp.status != 200:
                detail = (await resp.json(content_type=None) or {}).get("error", "")
                raise TrainError(f"the running server refused the new model (HTTP {resp.status}: {detail}); "
                                 "it keeps serving the previous one")
    return True


def prune_models(model_dir: Path, keep: int = KEEP_MODELS) -> None:
    models = sorted(model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    for old in models[:-keep]:
        old.unlink(missing_ok=True)


async def train(settings: Settings) -> TrainResult:
    started = time.perf_counter()
    kb, problems = load_knowledge_base(settings.path(settings.content.dir))
    if kb is None:
        return TrainResult(None, problems)
    write_rasa_files(kb, settings.root)
    model_dir = settings.path(settings.rasa.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model = await run_rasa_train(settings, model_dir, settings.path("var/log/train.log"))
    seconds = time.perf_counter() - started
    prune_models(model_dir)
    # Read by `make bench` (training time) and used by make as the "model is current" stamp.
    (model_dir / ".trained").write_text(json.dumps({"model": model.name, "seconds": round(seconds, 1)}) + "\n")
    reloaded = await reload_running_server(settings, model)
    return TrainResult(model, problems, seconds, reloaded)


__all__ = ["TrainError", "TrainResult", "train", "latest_model", "run_rasa_train"]
