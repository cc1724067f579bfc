"""Recognition in worker processes (`gateway.recognition: processes`, bot/gateway/recognition.py):
live calls through `CallHost` on the real engines (vietasr + Silero load in each process), a
stand-in peer and a keyword brain. A call is recognised there; a process killed under its calls
puts them through to a person with the spoken apology and is replaced for the next call; no
worker process outlives the host, or a gateway killed outright."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.call.session import call_config
from bot.call.virtual_clock import caller_audio
from bot.gateway.host import CallHost
from tests.call.conftest import engines, speech  # noqa: F401 - the real engines, loaded once
from tests.conftest import ROOT, needs_speech
from tests.fakes import ANSWER, KB, CallerLine, KeywordBrain, RecordingPeer, until

pytestmark = needs_speech


def gone(pid: int) -> bool:
    """Exited (a zombie waiting for a reaper that is not us counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def worker_children() -> list[int]:
    """This process's children that are recognition workers."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (d / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"bot.gateway.recognition" in cmdline and not gone(int(d.name)):
            out.append(int(d.name))
    return out


def process_settings(settings, tmp_path, workers: int):
    return settings.replace(privacy={"records_dir": str(tmp_path / "records")},
                            gateway={"recognition": "processes", "asr_workers": workers})


def configured(engines):
    """The fixture's engines are the configured ones (vietasr, Silero on onnxruntime), as
    `make_engines` would build them: a worker process may build its own."""
    return dataclasses.replace(engines, from_settings=True)


async def ask(host: CallHost) -> tuple:
    """One caller asks the recorded question, hears the answer start, hangs up."""
    peer = RecordingPeer()
    call = host.open_call(peer)
    run = asyncio.create_task(call.run())
    line = CallerLine(call)
    try:
        await line.say(caller_audio(speech("vieneu/ly_female_north.wav"), 8000))
        await until(lambda: any(e["event"] == "answer" for e in call.events), "the answer", 60)
    finally:
        line.hang_up()
    return call, await asyncio.wait_for(run, 60)


async def test_a_call_is_recognised_in_a_recognition_process(engines, settings, tmp_path):  # noqa: F811
    s = process_settings(settings, tmp_path, workers=1)
    host = CallHost(s, configured(engines), KeywordBrain(), call_config(s))
    try:
        await host.load_workers()
        [proc] = host.processes
        assert proc.ready and proc.pid in worker_children()
        call, summary = await ask(host)
        texts = [e["text"] for e in call.events if e["event"] == "caller_text"]
        assert texts and texts[0].strip()  # the recording was heard in the other process
        assert summary.outcome == "answered" and summary.answers == [ANSWER.id]
        assert proc.calls == 0  # the call's hearing was given back
    finally:
        await host.aclose()
    assert worker_children() == []


async def test_a_killed_recognition_process_puts_its_calls_through_and_is_replaced(engines, settings, tmp_path):  # noqa: F811
    s = process_settings(settings, tmp_path, workers=1)
    human = s.dialogue.human_branch
    host = CallHost(s, configured(engines), KeywordBrain(), call_config(s))
    lines: list[CallerLine] = []
    try:
        await host.load_workers()
        [first] = host.processes
        peers = [RecordingPeer(), RecordingPeer()]
        calls = [host.open_call(p) for p in peers]
        runs = [asyncio.create_task(c.run()) for c in calls]
        lines = [CallerLine(c) for c in calls]
        await until(lambda: all(c.session is not None for c in calls), "both calls answered")
        assert first.calls == 2

        os.kill(first.pid, signal.SIGKILL)
        summaries = await asyncio.wait_for(asyncio.gather(*runs), 90)

        apology = KB.prompt("system_error", human)
        for call, peer, summary in zip(calls, peers, summaries):
            kinds = [e["event"] for e in call.events]
            assert {"event": "engine_error", "engine": "asr"}.items() <= next(
                e for e in call.events if e["event"] == "engine_error").items()
            said = [e["text"] for e in call.events if e["event"] == "bot_say"]
            assert apology in said  # the caller hears why, then is put through
            assert kinds.index("transfer") > kinds.index("engine_error")
            assert peer.transfers == [human]
            assert summary.outcome == "transferred" and summary.branch == human
        assert host.stats.recognition_restarts == 1

        # A replacement takes the slot and serves the next caller.
        await until(lambda: host.processes[0] is not first and host.processes[0].ready, "a replacement", 120)
        second = host.processes[0]
        assert second.pid != first.pid and gone(first.pid)
        call, summary = await ask(host)
        assert any(e["event"] == "caller_text" and e["text"].strip() for e in call.events)
        assert summary.answers == [ANSWER.id]
    finally:
        for line in lines:
            line.hang_up()
        await host.aclose()
    assert worker_children() == []
    assert gone(second.pid)


GATEWAY = """
import asyncio, sys
from bot.config import load_settings
from bot.gateway.recognition import RecognitionProcess, WorkerSpec

async def main():
    procs = [RecognitionProcess(i, WorkerSpec.from_settings(load_settings())) for i in range(2)]
    await asyncio.gather(*(p.start() for p in procs))
    print(*(p.pid for p in procs), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
async def test_worker_processes_die_with_a_gateway_that_is_killed(how):
    """Killed outright, the gateway cannot close anything: the kernel ends its workers
    (PR_SET_PDEATHSIG), whatever else they were doing."""
    gateway = subprocess.Popen([sys.executable, "-c", GATEWAY], cwd=ROOT, stdout=subprocess.PIPE,  # noqa: ASYNC220
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert gateway.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, gateway.stdout.readline)
        workers = [int(pid) for pid in line.split()]
        assert len(workers) == 2 and not any(gone(pid) for pid in workers)
        gateway.send_signal(how)
        gateway.wait()
        await until(lambda: all(gone(pid) for pid in workers), "the workers ended with their gateway", 30)
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()


def test_engines_made_here_are_heard_in_threads(settings, tmp_path):
    """A worker process can only build the engines the settings name: fakes, or engines handed in
    with a recogniser factory, stay in this process's threads whatever the setting says."""
    from tests.fakes import fake_engines, recogniser_factory

    s = process_settings(settings, tmp_path, workers=1)
    fakes = fake_engines(tmp_path / "prompts")
    assert not CallHost(s, fakes, KeywordBrain(), call_config(s)).uses_processes
    real = dataclasses.replace(fakes, from_settings=True)
    assert CallHost(s, real, KeywordBrain(), call_config(s)).uses_processes
    assert not CallHost(s, real, KeywordBrain(), call_config(s), asr_factory=recogniser_factory(fakes)).uses_processes
    threads = settings.replace(gateway={"recognition": "threads"})
    assert not CallHost(threads, real, KeywordBrain(), call_config(threads)).uses_processes
