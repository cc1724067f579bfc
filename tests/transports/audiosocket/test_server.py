"""The AudioSocket server with real engines (stand-ins from tests/fakes.py where only keys and
frames move), driven by a small AudioSocket client written here
from the protocol description (https://docs.asterisk.org/Configuration/Channel-Drivers/AudioSocket/:
3-byte header = 1-byte type + 2-byte big-endian length; 0x00 hangup, 0x01 UUID, 0x03 DTMF,
0x10 slin16 8 kHz audio, 0xff error), as Asterisk's AudioSocket() would behave."""
from __future__ import annotations

import asyncio
import json
import struct
import uuid
from collections import deque

import numpy as np

from bot.call.session import call_config
from bot.call.virtual_clock import caller_audio
from bot.gateway.host import CallHost
from bot.transports.audiosocket import start_audiosocket
from tests.call.conftest import KB, speech
from tests.conftest import needs_speech
from tests.fakes import ANSWER, KeywordBrain, fake_engines, recogniser_factory, until
from tests.transports.audiosocket.test_ami import FakeAmi

pytestmark = needs_speech

HDR = struct.Struct(">BH")
HANGUP, UUID, DTMF, AUDIO, ERROR = 0x00, 0x01, 0x03, 0x10, 0xFF
FRAME = 320


class Caller:
    """Asterisk's side of one AudioSocket connection: a 20 ms audio frame every 20 ms (silence
    unless the caller speaks), keypad digits, hang-up; collects what the bot sends."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.uuid = uuid.uuid4()
        self.received: list[tuple[int, bytes]] = []
        self.received_at: list[float] = []
        self.bot_hung_up = asyncio.Event()
        self.closed = asyncio.Event()
        self._queue: deque[bytes] = deque()
        self._spoken = asyncio.Event()
        self._line: asyncio.Task | None = None

    async def connect(self, send_uuid: bool = True) -> "Caller":
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._rx = asyncio.create_task(self._receive())
        if send_uuid:
            self.send(UUID, self.uuid.bytes)
        return self

    def send(self, kind: int, payload: bytes = b"") -> None:
        if not self.writer.is_closing():
            self.writer.write(HDR.pack(kind, len(payload)) + payload)

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                kind, n = HDR.unpack(await self.reader.readexactly(3))
                payload = await self.reader.readexactly(n) if n else b""
                self.received.append((kind, payload))
                self.received_at.append(loop.time())
                if kind == HANGUP:
                    self.bot_hung_up.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()

    def start_line(self) -> None:
        self._line = asyncio.create_task(self._run_line())

    async def _run_line(self) -> None:
        loop = asyncio.get_running_loop()
        start, k = loop.time(), 0
        while not self.closed.is_set() and not self.writer.is_closing():
            pcm = self._queue.popleft() if self._queue else bytes(FRAME)
            if not self._queue:
                self._spoken.set()
            self.send(AUDIO, pcm)
            k += 1
            await asyncio.sleep(max(0.0, start + k * 0.02 - loop.time()))

    async def say(self, samples: np.ndarray) -> None:
        pcm = samples.astype("<i2").tobytes()
        self._spoken.clear()
        self._queue += [pcm[i:i + FRAME] for i in range(0, len(pcm) - FRAME + 1, FRAME)]
        await self._spoken.wait()

    def stop_line(self) -> None:
        if self._line is not None:
            self._line.cancel()

    async def hang_up(self) -> None:
        self.stop_line()
        self.send(HANGUP)
        await self.writer.drain()
        self.writer.close()

    def drop(self) -> None:
        """The line dies: the socket closes without a hangup message."""
        self.stop_line()
        self.writer.transport.abort()

    def audio(self) -> list[bytes]:
        return [p for k, p in self.received if k == AUDIO]

    def voiced_ms(self) -> int:
        return 20 * sum(np.abs(np.frombuffer(p, "<i2")).max(initial=0) > 300 for p in self.audio())


class Gateway:
    """A CallHost with the AudioSocket server on `port`; events collected per call."""

    def __init__(self, engines, settings, tmp_path, port: int, **sections) -> None:
        self.records = tmp_path / "records"
        sections.setdefault("gateway", {"media_timeout_s": 2.0})
        sections["audiosocket"] = {"host": "127.0.0.1", "port": port, **sections.get("audiosocket", {})}
        self.settings = settings.replace(privacy={"records_dir": str(self.records)}, **sections)
        self.host = CallHost(self.settings, engines, KeywordBrain(), call_config(self.settings),
                             asr_factory=recogniser_factory(engines))
        self.events: dict[str, list[dict]] = {}
        self.host.listeners.append(lambda e: self.events.setdefault(e["call_id"], []).append(e))

    async def __aenter__(self) -> "Gateway":
        self.server = await start_audiosocket(self.host, self.settings)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.server.close()
        await self.host.aclose()

    def of(self, caller: Caller, kind: str) -> list[dict]:
        return [e for e in self.events.get(str(caller.uuid), []) if e["event"] == kind]

    async def wait_for(self, caller: Caller, kind: str, timeout_s: float = 20.0) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            if found := self.of(caller, kind):
                return found[0]
            await asyncio.sleep(0.02)
        seen = [e["event"] for e in self.events.get(str(caller.uuid), [])]
        raise AssertionError(f"no {kind} within {timeout_s} s for {caller.uuid}: {seen}")

    def records_written(self) -> dict[str, dict]:
        return {r["call_id"]: r for f in self.records.glob("*.jsonl") for r in map(json.loads, f.read_text().splitlines())}


async def test_a_caller_speaks_is_answered_presses_a_key_and_hangs_up(engines, settings, tmp_path):
    async with Gateway(engines, settings, tmp_path, 19092) as gw:
        assert gw.server.address == ("127.0.0.1", 19092)
        caller = await Caller(19092).connect()
        caller.start_line()
        t0 = asyncio.get_running_loop().time()
        await asyncio.sleep(0.5)
        await caller.say(caller_audio(speech("vieneu/ly_female_north.wav"), 8000))  # barges into the greeting
        await gw.wait_for(caller, "answer")
        heard = caller.voiced_ms()
        # The answer plays: wait for 1.5 s of it (synthesis runs first; on a busy machine a fixed
        # sleep heard less of it), then press a key over it.
        await until(lambda: caller.voiced_ms() >= heard + 1500, "1.5 s of the answer", 20.0)
        caller.send(DTMF, b"9")
        await gw.wait_for(caller, "dtmf")
        await asyncio.sleep(0.3)
        await caller.hang_up()
        ended = await gw.wait_for(caller, "call_ended")
        elapsed = asyncio.get_running_loop().time() - t0

    assert gw.of(caller, "bot_say")[0]["text"] == KB.prompt("greeting")
    assert "tương tự" in gw.of(caller, "caller_text")[0]["text"]  # the recording, heard through the socket
    assert gw.of(caller, "answer")[0]["faq_id"] == ANSWER.id
    assert gw.of(caller, "dtmf")[0]["digits"] == "9"
    assert ended["outcome"] == "answered" and gw.of(caller, "hangup")[0]["by"] == "caller"
    # The bot's voice came back as 20 ms slin frames, one per slot: voiced, never queued ahead.
    frames = caller.audio()
    assert {len(p) for p in frames} == {FRAME}
    assert caller.voiced_ms() > 1500
    assert 0.8 * 50 * (elapsed - 1) < len(frames) <= 50 * elapsed + 5
    assert HANGUP not in [k for k, _ in caller.received]  # the caller hung up, not the bot
    record = gw.records_written()[str(caller.uuid)]
    assert record["summary"]["outcome"] == "answered"
    assert gw.host.calls == {}


SAID = "Chị tên Lan, số 0912 345 678: hộ nghèo & cận nghèo = được bao nhiêu?"


async def test_keypad_zero_redirects_the_channel_through_the_manager(settings, tmp_path):
    """The caller says a sentence (stand-in engines: a loud tone, heard as SAID), hears the answer
    start, presses 0: the handoff is set on the channel as variables, then the Redirect."""
    engines = fake_engines(tmp_path / "prompts", transcripts=[SAID])
    ami = FakeAmi("PJSIP/trunk-0000002a")
    ami_port = await ami.start()
    audiosocket = {"ami_host": "127.0.0.1", "ami_port": ami_port, "ami_user": "bot", "ami_secret": "s3cret"}
    async with Gateway(engines, settings, tmp_path, 19093, audiosocket=audiosocket) as gw:
        caller = await Caller(19093).connect()
        caller.start_line()
        await asyncio.sleep(0.3)
        await caller.say((8000 * np.sin(2 * np.pi * 300 * np.arange(12000) / 8000)).astype(np.int16))
        await gw.wait_for(caller, "answer")
        await asyncio.sleep(0.5)
        caller.send(DTMF, b"0")
        await asyncio.wait_for(ami.redirected.wait(), 20)
        caller.drop()  # Asterisk takes the channel out of AudioSocket() and closes the socket
        ended = await gw.wait_for(caller, "call_ended")
    await ami.close()

    by_action = {a["Action"]: a for a in ami.actions}
    assert [a["Action"] for a in ami.actions] == ["Login", "Getvar"] + ["Setvar"] * 5 + ["Redirect", "Logoff"]
    assert by_action["Getvar"]["Variable"] == "AUDIOSOCKET_" + caller.uuid.hex
    # On the channel before the Redirect, inheritable ("__") so the agent's channel has them too.
    assert [(a["Channel"], a["Variable"], a["Value"]) for a in ami.actions if a["Action"] == "Setvar"] == [
        ("PJSIP/trunk-0000002a", "BOT_TRANSFER_BRANCH", "5"),
        ("PJSIP/trunk-0000002a", "__BRANCH7_CALL", str(caller.uuid)),
        ("PJSIP/trunk-0000002a", "__BRANCH7_REASON", "keypad"),
        ("PJSIP/trunk-0000002a", "__BRANCH7_FAQ", ANSWER.id),
        ("PJSIP/trunk-0000002a", "__BRANCH7_SUMMARY",
         "Chị tên Lan, số 091****678: hộ nghèo & cận nghèo = được bao nhiêu?")]
    redirect = by_action["Redirect"]
    assert (redirect["Channel"], redirect["Context"], redirect["Exten"], redirect["Priority"]) == \
        ("PJSIP/trunk-0000002a", "hotline-branches", "5", "1")
    say, transfer = gw.of(caller, "bot_say")[-1], gw.of(caller, "transfer")[0]
    assert transfer["branch"] == 5 and transfer["t"] >= say["t"] + say["audio_ms"] / 1000 - 0.05  # announced first
    assert ended["outcome"] == "transferred" and ended["branch"] == 5
    assert HANGUP not in [k for k, _ in caller.received]  # no hangup message racing the Redirect
    assert gw.host.calls == {}


async def test_keypad_zero_without_a_manager_tells_the_number_then_hangs_up(fakes, settings, tmp_path):
    async with Gateway(fakes, settings, tmp_path, 19094) as gw:
        caller = await Caller(19094).connect()
        caller.start_line()
        await asyncio.sleep(0.3)
        caller.send(DTMF, b"0")
        await asyncio.wait_for(caller.bot_hung_up.wait(), 40)
        await asyncio.wait_for(caller.closed.wait(), 5)
        hangup_at = caller.received_at[-1]
        ended = await gw.wait_for(caller, "call_ended")

    assert gw.of(caller, "transfer_failed")[0]["why"] == "no_transfer_path"
    told = gw.of(caller, "bot_say")[-1]
    assert "không hai bốn một không hai hai" in told["text"]
    assert caller.received[-1] == (HANGUP, b"")  # the last thing on the wire
    # The prompt was heard: voiced frames right before the hangup.
    last = [np.abs(np.frombuffer(p, "<i2")).max(initial=0) for p in caller.audio()[-250:]]
    assert sum(v > 300 for v in last) > 50
    assert ended["outcome"] == "hangup" and ended["reason"] == "transfer_failed:no_transfer_path"
    assert hangup_at > 0


async def test_broken_connections_end_only_their_own_call(settings, tmp_path):
    port = 19095
    # What the good caller says is not the point here: stand-in engines hear it as one question.
    engines = fake_engines(tmp_path / "prompts", transcripts=["mức hỗ trợ hộ nghèo là bao nhiêu"])
    async with Gateway(engines, settings, tmp_path, port) as gw:
        good = await Caller(port).connect()
        good.start_line()
        t0 = asyncio.get_running_loop().time()
        garbage, oversized, dropped, mute = [await Caller(port).connect() for _ in range(4)]
        http = await Caller(port).connect(send_uuid=False)
        shy = await Caller(port).connect(send_uuid=False)  # connects, never says who it is
        for c in (garbage, oversized, dropped):
            c.start_line()
        await asyncio.sleep(0.5)
        garbage.stop_line(), oversized.stop_line()
        garbage.send_raw(b"\x07\x00\x02hi" + bytes(50))
        oversized.send_raw(b"\x10\xff\xff" + bytes(1000))
        http.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        dropped.drop()
        # Meanwhile the good caller talks and is answered.
        await good.say(caller_audio(speech("vieneu/ly_female_north.wav"), 8000))
        await gw.wait_for(good, "answer")
        for c in (garbage, oversized, dropped, mute):
            await gw.wait_for(c, "call_ended", timeout_s=10)  # mute: ended by the media timeout
        await asyncio.wait_for(http.closed.wait(), 5)
        await asyncio.wait_for(shy.closed.wait(), 8)  # the UUID must come within 5 s
        await asyncio.sleep(1.5)  # the answer plays
        good_frames, good_s = len(good.audio()), asyncio.get_running_loop().time() - t0
        await good.hang_up()
        ended = await gw.wait_for(good, "call_ended")

    for c in (garbage, oversized, http, shy):
        assert c.received[-1:] == [(HANGUP, b"")] and c.closed.is_set()  # told, then closed
    assert len(gw.events) == 5  # no call was opened for the two that never sent a UUID
    for c in (garbage, oversized, dropped):
        assert gw.of(c, "hangup")[0]["by"] == "caller"
    assert gw.of(mute, "call_ended")[0]["outcome"] == "abandoned"
    assert ended["outcome"] == "answered" and good.voiced_ms() > 1500
    assert 0.8 * 50 * (good_s - 0.5) < good_frames <= 50 * good_s + 5  # its 20 ms pace held throughout
    assert set(gw.records_written()) == {str(c.uuid) for c in (good, garbage, oversized, dropped, mute)}
    assert gw.host.calls == {}


async def test_a_full_gateway_hangs_up_new_connections_at_once_and_close_ends_calls(fakes, settings, tmp_path):
    async with Gateway(fakes, settings, tmp_path, 19096, gateway={"max_calls": 1, "media_timeout_s": 2.0}) as gw:
        first = await Caller(19096).connect()
        first.start_line()
        await gw.wait_for(first, "bot_say")
        second = await Caller(19096).connect()
        await asyncio.wait_for(second.closed.wait(), 2)
    # Leaving the block closes the server: the running call is hung up and ends.
    assert first.received[-1] == (HANGUP, b"") and gw.of(first, "call_ended")
    assert second.received == [(HANGUP, b"")]  # no audio, no call
    assert str(second.uuid) not in gw.events and gw.host.stats.calls_refused == 1
