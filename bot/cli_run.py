"""`bot run`: the whole branch-7 line in the foreground (what `make run` starts).

Rasa + the action server, the engines, every prompt rendered, then the enabled transports:
SIP, Asterisk AudioSocket and the browser page. Prints where each listens; Ctrl-C (or SIGTERM)
stops everything, hanging up calls in progress (their records are written).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("run", help="answer calls: Rasa, SIP, AudioSocket and the web page, until Ctrl-C")
    p.add_argument("--no-sip", action="store_true", help="do not start the SIP endpoint")
    p.add_argument("--no-audiosocket", action="store_true", help="do not start the AudioSocket server")
    p.add_argument("--no-web", action="store_true", help="do not start the web page")
    p.add_argument("--pid-file", type=Path, help="write this process's id here while it answers (bot cluster)")
    p.set_defaults(func=cmd_run)
    return p


def _where(host: str, port: int, scheme: str = "") -> str:
    return f"{scheme}{host}:{port}"


async def run(settings: Settings, args: argparse.Namespace, ready: asyncio.Event | None = None,
              stop: asyncio.Event | None = None) -> int:
    from bot.gateway.runtime import gateway_host

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    print("Starting: Rasa and its action server, the engines, the prompt cache ...", flush=True)
    async with gateway_host(settings) as host:
        servers: list[Any] = []
        lines = [f"Rasa (brain):     {settings.rasa.url}  actions on "
                 f"{_where(settings.rasa.actions_host, settings.rasa.actions_port, 'http://')}"]
        metrics_line = ""
        try:
            if settings.metrics.port and settings.metrics.host:  # "" is no endpoint, never every address
                from bot.brain.servers import brain_health
                from bot.ops.metrics import GatewayMetrics

                metrics = GatewayMetrics(host)
                host.listeners.append(metrics.listen)
                servers.append(metrics)  # closed with the servers
                m_host, m_port = metrics.start(settings.metrics.host, settings.metrics.port,
                                               lambda: brain_health(settings.rasa.url), settings.metrics.brain_poll_s)
                metrics_line = f"Metrics:          http://{m_host}:{m_port}/metrics"
            if settings.sip.enabled and not args.no_sip:
                from bot.transports.sip.server import start_sip

                sip = await start_sip(host, settings)
                servers.append(sip)
                transports = "udp+tcp" if settings.sip.tcp else "udp"
                lines.append(f"SIP:              sip:{sip.address[0]}:{sip.address[1]} ({transports}); "
                             f"transfers to {settings.sip.transfer_uri}")
            if settings.audiosocket.enabled and not args.no_audiosocket:
                from bot.transports.audiosocket.server import start_audiosocket

                audiosocket = await start_audiosocket(host, settings)
                servers.append(audiosocket)
                lines.append(f"AudioSocket:      {audiosocket.address[0]}:{audiosocket.address[1]} (tcp)")
            if settings.web.enabled and not args.no_web:
                from bot.transports.web.server import start_web

                web = await start_web(host, settings)
                servers.append(web)
                lines.append(f"Web page:         {web.address}")
                if web.studio is not None:
                    lines.append(f"Voice studio:     {web.address}/studio (logins: bot studio-user add <name>)")
                    if settings.supervisor.enabled:
                        lines.append(f"Supervisors:      {web.address}/supervisor (the same logins)")
            if metrics_line:
                lines.append(metrics_line)
            lines.append(f"Calls:            up to {settings.gateway.max_calls}, recognition in "
                         f"{settings.gateway.recognition}")
            if getattr(args, "pid_file", None):  # written once answering: its presence means "up"
                args.pid_file.parent.mkdir(parents=True, exist_ok=True)
                args.pid_file.write_text(f"{os.getpid()}\n")
            print("Branch 7 is answering.\n  " + "\n  ".join(lines) + "\nCtrl-C stops.", flush=True)
            if ready is not None:
                ready.set()
            await stop.wait()
            print(f"Stopping ({len(host.calls)} calls in progress are hung up) ...", flush=True)
        finally:
            if getattr(args, "pid_file", None):
                args.pid_file.unlink(missing_ok=True)
            for server in reversed(servers):
                try:
                    await server.close()
                except Exception:  # noqa: BLE001 - close the others anyway
                    logging.getLogger(__name__).exception("closing %s failed", type(server).__name__)
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.ops.logs import setup_logging

    try:
        setup_logging(settings.log)  # JSON lines with the call id on stderr (journald), docs/operations.md
    except ValueError as exc:
        print(f"settings: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(settings, args))
    except OSError as exc:  # e.g. a port already in use
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
