"""`python -m bot.ops.wait_brain [--timeout S]`: wait until this checkout's brain has a model
loaded (its health route says "ok"), then exit 0; exit 1 at the timeout. branch7-rasa.service runs
it as ExecStartPost, so systemd calls that brain started (and starts the gateway after it) only
when it can answer, not while Rasa is still loading."""
from __future__ import annotations

import argparse
import asyncio
import sys

from bot.brain.servers import brain_health, is_own
from bot.config import ConfigError, load_settings


async def wait(url: str, own: object, timeout_s: float, every_s: float = 1.0) -> str | None:
    """None once the brain at `url` is ready; otherwise what was last seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    seen = "no answer"
    while True:
        health = await brain_health(url)
        if health is not None:
            if not own(health):
                return f"{url} is a brain of another checkout"
            if health.get("status") == "ok":
                return None
            seen = f"status {health.get('status')!r}"
        if loop.time() >= deadline:
            return seen
        await asyncio.sleep(every_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.ops.wait_brain", description=__doc__)
    parser.add_argument("--timeout", type=float, default=280.0, help="seconds to wait (default 280)")
    parser.add_argument("--settings", help="settings file (default: BOT_SETTINGS or ./settings.yml)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.settings)
    except ConfigError as exc:
        print(f"settings: {exc}", file=sys.stderr)
        return 2
    url = settings.rasa.url
    problem = asyncio.run(wait(url, lambda h: is_own(h, settings), args.timeout))
    if problem is not None:
        print(f"the brain at {url} is not ready after {args.timeout:.0f} s: {problem}", file=sys.stderr)
        return 1
    print(f"the brain at {url} is ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
