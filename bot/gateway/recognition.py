"""Recognition in worker processes (`gateway.recognition: processes`).

Why: with recognition in threads, the event loop that paces every call's 20 ms frames shares one
GIL with the recognition threads' Python steps (VAD, turn detection, the recogniser's glue), so
packet timing gave out at 20-40 calls depending on the machine's noise while the cores were not
full (docs/benchmarks.md). Here each worker process loads its own recogniser, VAD and turn model
once and hears many calls; the gateway's loop only sends each call's frames over a socket and
gets back the call's `HearingEvent`s, so its GIL is its own.

A call stays on one process (a recogniser stream lives there). Messages are length-prefixed
pickles over a Unix socket pair (both ends are this code, started by this process, so pickle
carries nothing untrusted). The loop side never blocks: asyncio streams, with the requests
written in one batch per loop iteration. A process that dies fails its calls' pending and later
steps with `RecognitionDied`, which the call session treats as any recogniser failure (the
caller hears the system-error prompt and is put through to a person); the host starts a
replacement. A process dies with the gateway: the kernel kills it when its parent dies
(PR_SET_PDEATHSIG), and it exits when its socket closes (the gateway exited or gave it up).

Run by the host as `python -m bot.gateway.recognition --fd N --parent PID --spec JSON`.
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bot.audio.frames import AudioFrame
from bot.call.hearing import HearingEvent
from bot.vad.turns import TurnConfig

log = logging.getLogger(__name__)

HEADER = struct.Struct("!I")
PR_SET_PDEATHSIG = 1


class RecognitionDied(RuntimeError):
    """The call's recognition process is gone (killed, crashed, out of memory)."""


class RemoteFailure(RuntimeError):
    """A recognition step raised in the worker process; `kind` is the exception's type there."""


_failures: dict[str, type[RemoteFailure]] = {}


def _failure(kind: str, message: str) -> RemoteFailure:
    """The worker's exception under its own type name (engine-error events and logs name it)."""
    cls = _failures.setdefault(kind, type(kind if kind.isidentifier() else "RemoteFailure", (RemoteFailure,), {}))
    return cls(message)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process loads (from settings `voice`); plain values, it goes through argv."""

    asr_engine: str = "vietasr"
    asr_model_dir: str = ""
    vad_engine: str = "silero-onnx"
    turn_model: str = ""  # a path, or "" for none
    # Scheduling priority below the gateway's: when the cores are busy, the event loop that paces
    # every call's 20 ms frames runs first and recognition waits (a reply a little later, rather
    # than every caller hearing gaps). 0: the same priority.
    nice: int = 5

    @classmethod
    def from_settings(cls, settings: Any) -> WorkerSpec:
        v = settings.voice
        turn_model = str(settings.path(v.turn_model)) if v.turn_model and v.hold_pause_ms else ""
        return cls(v.asr_engine, v.asr_model_dir, v.vad_engine, turn_model)


# ----- the worker process ---------------------------------------------------------------------------

def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _pack(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


class _Worker:
    """The process's engines and the calls it hears."""

    def __init__(self, spec: WorkerSpec) -> None:
        from bot.asr.registry import make_asr
        from bot.vad.registry import make_vad

        self.asr = make_asr(spec.asr_engine, spec.asr_model_dir or None)
        self.vad = make_vad(spec.vad_engine)
        self.turn_model = None
        if spec.turn_model:
            from bot.vad.smart_turn import load_turn_model

            self.turn_model = load_turn_model(spec.turn_model)
        self.calls: dict[str, Any] = {}

    def handle(self, op: str, call_id: str, args: tuple) -> Any:
        from bot.call.hearing import Hearing

        if op == "open":
            turns, complete_at = args
            judge = self.turn_model.complete if self.turn_model is not None and turns.holds else None
            self.calls[call_id] = Hearing(self.vad(), self.asr.stream(), turns, judge, complete_at)
            return None
        if op == "close":
            hearing = self.calls.pop(call_id, None)
            if hearing is not None:
                hearing.close()
            return None
        hearing = self.calls[call_id]
        judged = len(hearing.judged)
        if op == "feed":
            frames = [(AudioFrame(pcm, rate), t) for pcm, rate, t in args[0]]
            events = hearing.feed_many(frames)
        elif op == "flush":
            events = hearing.flush(args[0])
        else:
            raise ValueError(f"unknown operation {op!r}")
        return events, hearing.judged[judged:], hearing.held


def _die_with_parent(parent: int) -> None:
    """The kernel kills this process when the gateway dies, however it dies (even SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the socket's end-of-file still ends it
        pass
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(0)


def serve(sock: socket.socket, spec: WorkerSpec) -> None:
    """Answer requests until the gateway closes the socket. Requests that arrived together are
    answered with one write (fewer system calls on both sides)."""
    try:
        worker = _Worker(spec)
    except Exception as exc:  # noqa: BLE001 - told to the gateway, which logs it and stops retrying soon
        sock.sendall(_pack(("failed", f"{type(exc).__name__}: {exc}")))
        return
    from bot.gateway.heap import settle_heap

    settle_heap()  # the engines' objects, out of the collector's way (a full collection pauses every call here)
    sock.sendall(_pack(("ready", os.getpid())))
    pending = bytearray()
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return  # the gateway closed its end, or died
        pending += data
        replies: list[bytes] = []
        at = 0  # parsed up to here; the buffer is cut once per read (a backlog stays linear)
        while len(pending) - at >= HEADER.size:
            (size,) = HEADER.unpack_from(pending, at)
            if len(pending) - at < HEADER.size + size:
                break
            rid, op, call_id, args = pickle.loads(pending[at + HEADER.size:at + HEADER.size + size])
            at += HEADER.size + size
            try:
                replies.append(_pack((rid, True, worker.handle(op, call_id, args))))
            except Exception as exc:  # noqa: BLE001 - one call's failure; the process serves on
                replies.append(_pack((rid, False, (type(exc).__name__, str(exc)))))
        del pending[:at]
        if replies:
            sock.sendall(b"".join(replies))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a gateway's recognition worker (started by the gateway)")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--spec", required=True)
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    # Ctrl-C reaches the whole process group: the gateway ends its calls first, then closes the
    # socket, which ends this process. Killed here first, those calls would lose their hearing.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    spec = WorkerSpec(**json.loads(args.spec))
    if spec.nice:
        os.nice(spec.nice)
    sock = socket.socket(fileno=args.fd)
    sock.setblocking(True)
    try:
        serve(sock, spec)
    except (ConnectionError, BrokenPipeError):
        pass
    finally:
        sock.close()


# ----- the gateway's side ---------------------------------------------------------------------------

class RecognitionProcess:
    """One worker process, seen from the event loop: start it, send requests, read replies."""

    def __init__(self, index: int, spec: WorkerSpec, on_exit: Callable[[RecognitionProcess], None] | None = None,
                 python: str | None = None) -> None:
        self.index = index
        self.spec = spec
        self.calls = 0  # calls it hears now (the host puts a new call on the least busy)
        self.pid: int | None = None
        self.ready = False
        self.dead = False
        self.error: str = ""  # why it could not start, or died
        self._on_exit = on_exit
        self._python = python or sys.executable
        self._proc: subprocess.Popen | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._next = 0
        self._out: list[bytes] = []
        self._flush_soon = False
        self._task: asyncio.Task | None = None
        self._started: asyncio.Future | None = None

    async def start(self, timeout_s: float = 120.0) -> None:
        """Start the process and wait until its engines are loaded (they load there, so the loop
        keeps pacing the calls already running). Raises RecognitionDied if it cannot start."""
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # Spawned from the loop's thread: PR_SET_PDEATHSIG follows the thread that started it.
            self._proc = subprocess.Popen(  # noqa: ASYNC220 - vfork, well under a frame
                [self._python, "-m", "bot.gateway.recognition", "--fd", str(theirs.fileno()),
                 "--parent", str(os.getpid()), "--spec", json.dumps(asdict(self.spec))],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, close_fds=True)
        finally:
            theirs.close()
        self.pid = self._proc.pid
        self._reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        self._started = loop.create_future()
        self._task = loop.create_task(self._read(), name=f"recognition-{self.index}")
        try:
            await asyncio.wait_for(asyncio.shield(self._started), timeout_s)
        except TimeoutError:
            self.kill()
            raise RecognitionDied(f"recognition process {self.index} did not load its engines in {timeout_s:.0f} s")
        if not self.ready:
            raise RecognitionDied(self.error or f"recognition process {self.index} failed to start")
        log.info("recognition process %d (pid %d) ready", self.index, self.pid)

    async def _read(self) -> None:
        assert self._reader is not None
        try:
            while True:
                (size,) = HEADER.unpack(await self._reader.readexactly(HEADER.size))
                message = pickle.loads(await self._reader.readexactly(size))
                if not self.ready and message[0] in ("ready", "failed"):
                    self.ready = message[0] == "ready"
                    self.error = "" if self.ready else str(message[1])
                    if self._started is not None and not self._started.done():
                        self._started.set_result(None)
                    if not self.ready:
                        break
                    continue
                rid, ok, value = message
                future = self._pending.pop(rid, None)
                if future is None or future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(_failure(*value))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._gone()

    def _gone(self) -> None:
        """The process ended or we gave it up: fail every waiting step, tell the host."""
        if self.dead:
            return
        self.dead = True
        code = self._proc.poll() if self._proc is not None else None
        if not self.error:
            self.error = f"recognition process {self.index} (pid {self.pid}) ended" + (
                f" with exit status {code}" if code is not None else "")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RecognitionDied(self.error))
        self._pending.clear()
        if self._started is not None and not self._started.done():
            self._started.set_result(None)
        if self._writer is not None:
            self._writer.close()
        if self._proc is not None and code is None and self._on_exit is not None:
            # Its socket closed, so it is exiting: reap it off the loop (no zombie left behind).
            asyncio.get_running_loop().run_in_executor(None, _reap, self._proc)
        if self._on_exit is not None and self.ready:
            self._on_exit(self)

    def request(self, op: str, call_id: str, *args: Any) -> asyncio.Future:
        """Send one step for a call; the future gets its result (or the worker's exception)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self.dead or not self.ready:
            future.set_exception(RecognitionDied(self.error or "recognition process not running"))
            return future
        self._next += 1
        self._pending[self._next] = future
        self._out.append(_pack((self._next, op, call_id, args)))
        if not self._flush_soon:  # the steps of every call due in this loop iteration go in one write
            self._flush_soon = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_soon = False
        if self._out and not self.dead and self._writer is not None:
            self._writer.write(b"".join(self._out))
        self._out.clear()

    def kill(self) -> None:
        """End the process now (its calls' steps fail with RecognitionDied)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    async def aclose(self) -> None:
        """Close its socket (the process exits at end-of-file) and reap it."""
        self._on_exit = None
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._gone()
        if self._proc is not None:
            proc = self._proc
            deadline = time.monotonic() + 5.0
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                proc.kill()
                await asyncio.get_running_loop().run_in_executor(None, proc.wait)


def _reap(proc: subprocess.Popen) -> None:
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # closed its socket but hangs: it serves no one any more
        proc.kill()
        proc.wait()


class RemoteHearing:
    """A call's `Hearing`, living in a recognition process: the same steps, awaited."""

    def __init__(self, process: RecognitionProcess, call_id: str) -> None:
        self.process = process
        self.call_id = call_id
        self.judged: list[float] = []
        self.held = 0

    async def open(self, turns: TurnConfig, complete_at: float) -> None:
        await self.process.request("open", self.call_id, turns, complete_at)

    async def feed_many(self, frames: list[tuple[AudioFrame, float]]) -> list[HearingEvent]:
        wire = [(frame.pcm, frame.sample_rate, t) for frame, t in frames]
        return self._took(await self.process.request("feed", self.call_id, wire))

    async def flush(self, t_ms: float) -> list[HearingEvent]:
        return self._took(await self.process.request("flush", self.call_id, t_ms))

    async def close(self) -> None:
        if not self.process.dead:
            await self.process.request("close", self.call_id)

    def _took(self, reply: tuple[list[HearingEvent], list[float], int]) -> list[HearingEvent]:
        events, judged, held = reply
        self.judged += judged
        self.held = held
        return events


if __name__ == "__main__":
    main()
