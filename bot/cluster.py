"""`bot cluster` (`make cluster`): several gateways on this machine behind Kamailio (docs/cluster.md).

Kamailio, an existing SIP proxy, takes the usual SIP address (sip.host:sip.port) and spreads new
calls over `cluster.gateways` `bot run` processes on their own SIP ports; its dispatcher module
probes them with OPTIONS and takes a dead one out of rotation. This module only renders
Kamailio's configuration from the template in deploy/kamailio/, starts the processes and keeps
them running: one brain (Rasa + action server, conversations in the SQL tracker store, so a
brain restart loses none) that every gateway reuses, Kamailio, and the gateways, each writing its
pid to `<run_dir>/gateway-<n>.pid` while it answers. A gateway or brain that dies is started
again (an operator's systemd would do the same per box); if Kamailio dies the cluster stops.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Settings
from bot.transports.sip import message as sipmsg

log = logging.getLogger(__name__)

STOP_GRACE_S = 15.0   # gateways hang up their calls (BYE, records written) before being killed


@dataclass
class Gateway:
    """One `bot run` behind Kamailio and what the cluster knows about it."""

    n: int
    sip_port: int
    rtp: tuple[int, int]
    metrics_port: int
    pid_file: Path
    log_file: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0
    down_since: float = field(default=0.0)

    @property
    def answering(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.pid_file.exists()


def plan(settings: Settings) -> list[Gateway]:
    """Ports of each gateway: consecutive SIP ports, the RTP range split evenly, metrics beside."""
    c, sip = settings.cluster, settings.sip
    if c.gateways < 1:
        raise ValueError("cluster.gateways must be at least 1")
    share = (sip.rtp_port_max - sip.rtp_port_min + 1) // c.gateways
    if share < 2:
        raise ValueError("sip.rtp_port_min..rtp_port_max is too small to share between the gateways")
    run_dir = settings.path(c.run_dir)
    logs = settings.path(c.log_dir)
    out = []
    for n in range(1, c.gateways + 1):
        first = sip.rtp_port_min + (n - 1) * share
        out.append(Gateway(n, c.first_port + n - 1, (first, first + share - 1),
                           settings.metrics.port + n - 1 if settings.metrics.port else 0,
                           run_dir / f"gateway-{n}.pid", logs / f"gateway-{n}.log"))
    if sip.port in {g.sip_port for g in out}:
        raise ValueError(f"cluster.first_port: gateway ports overlap Kamailio's sip.port {sip.port}")
    return out


def brain_settings(settings: Settings, token: str = "") -> Settings:
    """The cluster's brain keeps conversations in an SQL store unless one is configured already, and
    one token for the cluster's life: a restarted brain must still accept the gateways' clients."""
    return settings.replace(rasa={"tracker_store": settings.rasa.tracker_store or settings.cluster.tracker_store,
                                  "auth_token": settings.rasa.auth_token or token})


def _peers(allowed: str) -> str:
    """sip.allowed_peers as Kamailio's is_in_subnet list (each entry checked, plain IPs as /32)."""
    nets = [str(ipaddress.ip_network(p.strip(), strict=False)) for p in allowed.split(",") if p.strip()]
    if not nets:
        raise ValueError("sip.allowed_peers is empty: nobody could call")
    return ",".join(nets)


def render(settings: Settings, gateways: list[Gateway]) -> Path:
    """Kamailio's configuration and dispatcher list in run_dir, from the template."""
    c, sip = settings.cluster, settings.sip
    run_dir = settings.path(c.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dispatcher = run_dir / "dispatcher.list"
    dispatcher.write_text("# set destination flags priority (bot/cluster.py)\n" + "".join(
        f"1 sip:{_gateway_host(settings)}:{g.sip_port} 0 0\n" for g in gateways), encoding="utf-8")
    values = {
        "SIP_HOST": sip.host, "SIP_PORT": str(sip.port), "CHILDREN": "4",
        "TCP_DISABLE": "no" if sip.tcp else "yes",
        "TCP_LISTEN": f"listen=tcp:{sip.host}:{sip.port}" if sip.tcp else "",
        "DISPATCHER_LIST": str(dispatcher), "PING_S": str(max(1, c.ping_s)), "FR_MS": str(c.fail_ms),
        "PIKE_UNIT_S": "2", "PIKE_DENSITY": str(2 * c.pike_per_s), "ALLOWED_PEERS": _peers(sip.allowed_peers),
    }
    text = settings.path(c.config).read_text(encoding="utf-8")
    text = re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], text)
    cfg = run_dir / "kamailio.cfg"
    cfg.write_text(text, encoding="utf-8")
    return cfg


def _gateway_host(settings: Settings) -> str:
    """Where Kamailio reaches the gateways: their bind address (this machine if that is all of them)."""
    host = settings.sip.host
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


def gateway_command(settings: Settings, g: Gateway) -> tuple[list[str], dict[str, str]]:
    """`bot run` for gateway `g`: its own ports, records folder and spool; the web page and AudioSocket on
    gateway 1 only (they are not balanced by Kamailio)."""
    sip = settings.sip
    env = {**os.environ, "BOT_SIP_PORT": str(g.sip_port), "BOT_SIP_RTP_PORT_MIN": str(g.rtp[0]),
           "BOT_SIP_RTP_PORT_MAX": str(g.rtp[1]), "BOT_METRICS_PORT": str(g.metrics_port),
           "BOT_PRIVACY_RECORDS_DIR": str(settings.path(settings.privacy.records_dir) / f"gateway-{g.n}"),
           # A spool each: a gateway replaying and removing a shared spool could remove a record the
           # other had just appended (and both would write the same calls).
           "BOT_RECORDS_SPOOL_DIR": str(settings.path(settings.records.spool_dir) / f"gateway-{g.n}"),
           "BOT_RASA_TRACKER_STORE": brain_settings(settings).rasa.tracker_store,
           # Kamailio sends from sip.host: the gateway must take it even if the PBX list does not name it.
           "BOT_SIP_ALLOWED_PEERS": f"{sip.allowed_peers},{_gateway_host(settings)}/32"}
    cmd = [sys.executable, "-m", "bot.cli", "run", "--pid-file", str(g.pid_file)]
    if g.n > 1:
        cmd += ["--no-web", "--no-audiosocket"]
    return cmd, env


def _die_with_parent() -> None:
    from bot.brain.servers import _die_with_parent as die

    die()


def _spawn(cmd: list[str], env: dict[str, str] | None, log_file: Path, cwd: Path) -> subprocess.Popen:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        # Own session: a Ctrl-C reaches only the cluster, which stops them in order.
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)


def start_gateway(settings: Settings, g: Gateway) -> None:
    g.pid_file.unlink(missing_ok=True)  # a stale one (after SIGKILL) must not look "up"
    cmd, env = gateway_command(settings, g)
    g.proc = _spawn(cmd, env, g.log_file, settings.root)
    g.down_since = 0.0


def start_kamailio(settings: Settings, cfg: Path) -> subprocess.Popen:
    # Debian puts it in /usr/sbin, not on every user's PATH.
    binary = shutil.which(settings.cluster.kamailio) or shutil.which(settings.cluster.kamailio, path="/usr/sbin")
    if binary is None:
        raise FileNotFoundError(f"{settings.cluster.kamailio} not found; install it with `make install` "
                                "(Debian package kamailio)")
    run_dir = cfg.parent
    check = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise RuntimeError(f"Kamailio rejects {cfg}:\n{(check.stdout + check.stderr)[-3000:]}")
    return _spawn([binary, "-f", str(cfg), "-DD", "-E", "-Y", str(run_dir), "-P", str(run_dir / "kamailio.pid"),
                   "-w", str(run_dir), "-m", "64", "-M", "8"], None, settings.path(settings.cluster.log_dir) / "kamailio.log",
                  settings.root)


async def sip_ping(host: str, port: int, timeout_s: float = 1.0, source: str = "") -> int | None:
    """Status of an OPTIONS sent to host:port over UDP from `source` (None: no answer)."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[int] = loop.create_future()

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple) -> None:
            m = re.match(rb"SIP/2\.0 (\d{3})", data)
            if m and not answer.done():
                answer.set_result(int(m.group(1)))

    transport, _ = await loop.create_datagram_endpoint(Probe, local_addr=(source or host, 0))
    try:
        me = transport.get_extra_info("sockname")
        msg = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me[0]}:{me[1]};branch={sipmsg.new_branch()}\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:probe@{me[0]}>;tag={sipmsg.new_tag()}\r\nTo: <sip:{host}:{port}>\r\n"
               f"Call-ID: {sipmsg.new_tag()}@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        transport.sendto(msg.encode(), (host, port))
        return await asyncio.wait_for(answer, timeout_s)
    except (TimeoutError, OSError):
        return None
    finally:
        transport.close()


def _stop(proc: subprocess.Popen | None, grace_s: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


async def run_cluster(settings: Settings, stop: asyncio.Event | None = None) -> int:
    from bot.brain.servers import BrainStartError, start_brain, stop_brain

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    gateways = plan(settings)
    sip = settings.sip
    cfg = render(settings, gateways)
    bs = brain_settings(settings, secrets.token_hex(24))  # the gateways read it from the token file
    print(f"Starting: the brain (conversations in {bs.rasa.tracker_store}), Kamailio, "
          f"{len(gateways)} gateways ...", flush=True)
    brain = await start_brain(bs)
    if not brain.owned:  # e.g. a `bot run` of this checkout on the same rasa.port
        print(f"note: using the brain already running at {bs.rasa.url} as it is: its conversations stay where "
              "it keeps them, and the cluster cannot restart it", flush=True)
    kamailio: subprocess.Popen | None = None
    try:
        for g in gateways:
            start_gateway(settings, g)
        while not all(g.answering for g in gateways):
            dead = [g for g in gateways if g.proc is not None and g.proc.poll() is not None]
            if dead:
                print(f"error: gateway {dead[0].n} exited while starting (see {dead[0].log_file})", file=sys.stderr)
                return 1
            if stop.is_set():
                return 0
            await asyncio.sleep(0.5)
        # Kamailio last: its first probes must find the gateways up, or it would take them out of
        # rotation until the next round and refuse the first calls.
        kamailio = start_kamailio(settings, cfg)
        while await sip_ping(_gateway_host(settings), sip.port) is None:  # any answer (even 403): it is up
            if kamailio.poll() is not None:
                print(f"error: Kamailio exited while starting (see {settings.cluster.log_dir}/kamailio.log)",
                      file=sys.stderr)
                return 1
        lines = [f"SIP (Kamailio):   sip:{sip.host}:{sip.port} (udp), pid {kamailio.pid}; config {cfg}",
                 f"Rasa (brain):     {bs.rasa.url}; conversations in {bs.rasa.tracker_store}"]
        lines += [f"gateway {g.n}:        sip:{_gateway_host(settings)}:{g.sip_port}, RTP {g.rtp[0]}-{g.rtp[1]}, "
                  f"pid file {g.pid_file}, log {g.log_file}" for g in gateways]
        print("Branch 7 cluster is answering.\n  " + "\n  ".join(lines) + "\nCtrl-C stops.", flush=True)
        while not stop.is_set():
            if kamailio.poll() is not None:
                print(f"error: Kamailio exited ({kamailio.returncode}); see {settings.cluster.log_dir}/kamailio.log",
                      file=sys.stderr)
                return 1
            now = time.monotonic()
            for g in gateways:
                if g.proc is None or g.proc.poll() is None or settings.cluster.restart_s <= 0:
                    continue
                if not g.down_since:  # Kamailio's probes already took it out of rotation
                    g.down_since = now
                    g.pid_file.unlink(missing_ok=True)
                    print(f"gateway {g.n} exited ({g.proc.returncode}); starting it again in "
                          f"{settings.cluster.restart_s:.0f} s", flush=True)
                elif now - g.down_since >= settings.cluster.restart_s:
                    g.restarts += 1
                    start_gateway(settings, g)
            if any(p.returncode is not None for p in brain.processes):
                print("the brain (Rasa or its action server) exited; starting it again", flush=True)
                await stop_brain(brain)
                try:
                    brain = await start_brain(bs)
                except BrainStartError as exc:
                    print(f"error: the brain does not start again: {exc}", file=sys.stderr)
                    return 1
                print("the brain is answering again", flush=True)
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
        print("Stopping the cluster (calls in progress are hung up) ...", flush=True)
        return 0
    finally:
        await loop.run_in_executor(None, lambda: [_stop(g.proc, STOP_GRACE_S) for g in gateways])
        _stop(kamailio, 5.0)
        await stop_brain(brain)


def cmd_cluster(settings: Settings, args: argparse.Namespace) -> int:
    if getattr(args, "settings", None):  # the gateways read the same file
        os.environ["BOT_SETTINGS"] = str(Path(args.settings).resolve())
    try:
        return asyncio.run(run_cluster(settings))
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("cluster", help="Kamailio on the SIP address and several gateways behind it "
                                              "(docs/cluster.md), until Ctrl-C")
    p.set_defaults(func=cmd_cluster)
    return p
