"""The AudioSocket transport: Asterisk connects to us over TCP, one connection per call.

Per connection: read the UUID message (the call id), open a `LiveCall`, feed it the caller's
audio (re-cut into 20 ms frames), keypad digits and the hang-up, and write the bot's voice back
as the call's pacer produces it: one 20 ms frame per slot, silence when the bot is quiet, written
at once and never queued ahead (audio handed to the socket cannot be recalled on barge-in).
Whatever one connection does (garbage, oversized frames, vanishing, going silent), only its own
call ends; the transfer goes through the Asterisk manager (`ami.py`).
"""
from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib

from bot.audio.frames import AudioFrame
from bot.audio.resample import resample
from bot.call.handoff import Handoff
from bot.config import Settings
from bot.gateway.host import CallHost, LiveCall
from bot.transports.audiosocket import ami, protocol
from bot.transports.audiosocket.protocol import FRAME_BYTES, RATE, Kind, Parser, ProtocolError

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 5.0         # the UUID must arrive this soon after connecting
MAX_WRITE_BUFFER = 64 * 1024  # ~2 s of audio not taken by the peer: the line is dead
READ_SIZE = 4096
TRANSFERRED_LINGER_S = 5.0    # after a Redirect, Asterisk closes the socket; wait this long for it


class _Connection:
    """One AudioSocket connection: the `CallPeer` of its call and the reader that feeds it."""

    def __init__(self, server: "AudioSocketServer", reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader, self.writer = reader, writer
        self.parser = Parser()
        self.call: LiveCall | None = None
        self.uuid = ""
        self._pending = b""        # caller audio not yet a whole 20 ms frame
        self._closed = False
        self.peer_gone = asyncio.Event()
        self.transferred = False
        self._early: list[protocol.Message] = []  # what came in the same read as the UUID

    # ----- CallPeer ------------------------------------------------------------------------------
    async def send_audio(self, frame: AudioFrame | None) -> None:
        if self._closed:
            return
        if frame is None:
            data = protocol.SILENCE
        else:
            pcm = frame.pcm
            if frame.sample_rate != RATE:
                pcm = resample(frame.samples, frame.sample_rate, RATE).astype("<i2").tobytes()
            data = protocol.audio(pcm[:protocol.MAX_PAYLOAD])
        self._write(data)
        if self.writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.info("audiosocket %s: peer stopped reading, ending the call", self.uuid)
            self._line_dead()

    async def transfer(self, branch: int, handoff: Handoff | None = None) -> str | None:
        why = await ami.redirect(self.server.settings.audiosocket, self.uuid, branch, handoff=handoff)
        self.transferred = why is None
        return why

    async def hangup(self, reason: str) -> None:
        log.info("audiosocket %s: bot hangs up (%s)", self.uuid, reason)
        self._write(protocol.hangup())
        await self._close()

    # ----- the connection ------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._closed or self.writer.is_closing():
            return
        try:
            self.writer.write(data)
        except (OSError, RuntimeError):
            self._line_dead()

    def _line_dead(self) -> None:
        if self.call is not None:
            self.call.hung_up()
        self.peer_gone.set()
        if not self._closed:
            self._closed = True
            self.writer.transport.abort()

    async def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        except (OSError, asyncio.TimeoutError, RuntimeError):
            self.writer.transport.abort()

    async def _hello(self) -> uuidlib.UUID | None:
        """Read up to the UUID message; anything else first is a protocol error."""
        while True:
            data = await self.reader.read(READ_SIZE)
            if not data:
                return None
            messages = self.parser.feed(data)
            if not messages:
                continue
            first, rest = messages[0], messages[1:]
            if first.kind is not Kind.UUID:
                raise ProtocolError(f"expected the UUID message first, got {first.kind.name.lower()}")
            self._early = rest
            return first.uuid

    def _dispatch(self, messages: list[protocol.Message]) -> bool:
        """Hand messages to the call; False once the caller's side has ended."""
        call = self.call
        assert call is not None
        for m in messages:
            if m.kind is Kind.AUDIO:
                pcm = self._pending + m.payload
                cut = len(pcm) - len(pcm) % FRAME_BYTES
                for i in range(0, cut, FRAME_BYTES):
                    call.audio(AudioFrame(pcm[i:i + FRAME_BYTES], RATE))
                self._pending = pcm[cut:]
            elif m.kind is Kind.DTMF:
                call.dtmf(m.digit)
            elif m.kind is Kind.HANGUP:
                log.info("audiosocket %s: Asterisk hung up", self.uuid)
                call.hung_up()
                return False
            elif m.kind is Kind.ERROR:
                code = m.payload[0] if m.payload else 0
                log.info("audiosocket %s: Asterisk reports error 0x%02x, ending the call", self.uuid, code)
                call.hung_up()
                return False
            # a repeated UUID message changes nothing
        return True

    async def _read_loop(self) -> None:
        try:
            if not self._dispatch(self._early):
                return
            while True:
                data = await self.reader.read(READ_SIZE)
                if not data:
                    if not (self.transferred or self._closed):
                        log.info("audiosocket %s: connection closed by the peer", self.uuid)
                    break
                if not self._dispatch(self.parser.feed(data)):
                    break
        except ProtocolError as exc:
            log.warning("audiosocket %s: %s; dropping the connection", self.uuid, exc)
            self._write(protocol.hangup())
            await self._close()  # nothing more goes out after the hangup message
        except (OSError, asyncio.IncompleteReadError) as exc:
            log.info("audiosocket %s: connection lost (%s)", self.uuid, exc)
        finally:
            self.peer_gone.set()
            if self.call is not None:
                self.call.hung_up()  # no-op once the call has ended

    async def serve(self) -> None:
        host = self.server.host
        peer = self.writer.get_extra_info("peername")
        try:
            if host.full:
                host.stats.calls_refused += 1
                log.warning("audiosocket: %d calls running, refusing %s", len(host.calls), peer)
                self._write(protocol.hangup())
                return
            try:
                value = await asyncio.wait_for(self._hello(), HELLO_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("audiosocket: %s sent no UUID within %.0f s", peer, HELLO_TIMEOUT_S)
                self._write(protocol.hangup())
                return
            except ProtocolError as exc:
                log.warning("audiosocket: %s: %s", peer, exc)
                self._write(protocol.hangup())
                return
            if value is None:
                return
            self.uuid = str(value)
            call_id = self.uuid
            if call_id in host.calls:  # Asterisk reused a UUID (a dialplan constant?): keep both calls
                call_id = f"{call_id}-{uuidlib.uuid4().hex[:6]}"
            if host.full:  # filled up while we waited for the UUID
                host.stats.calls_refused += 1
                self._write(protocol.hangup())
                return
            self.call = host.open_call(self, call_id=call_id)
            reading = asyncio.create_task(self._read_loop(), name=f"audiosocket-read-{call_id}")
            try:
                await self.call.run()
                if self.transferred and not self._closed:
                    # Asterisk takes the channel out of AudioSocket() and closes the socket; a
                    # hangup message from us now could race the Redirect and end the call.
                    try:
                        await asyncio.wait_for(self.peer_gone.wait(), TRANSFERRED_LINGER_S)
                    except asyncio.TimeoutError:
                        pass
            finally:
                reading.cancel()
                try:
                    await reading
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass
        except Exception:  # noqa: BLE001 - one broken connection never reaches the others
            log.exception("audiosocket %s: connection failed", self.uuid or peer)
            if self.call is not None:
                self.call.hung_up()
        finally:
            await self._close()

    async def stop(self) -> None:
        """Server shutdown: the bot hangs up this call."""
        self._write(protocol.hangup())
        if self.call is not None:
            self.call.hung_up()
        await self._close()


class AudioSocketServer:
    def __init__(self, host: CallHost, settings: Settings) -> None:
        self.host = host
        self.settings = settings
        self._server: asyncio.base_events.Server | None = None
        self._connections: dict[asyncio.Task, _Connection] = {}

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[:2]

    async def _start(self) -> None:
        s = self.settings.audiosocket
        self._server = await asyncio.start_server(self._accept, s.host, s.port, limit=READ_SIZE * 4)
        log.info("AudioSocket listening on %s:%s", *self.address)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = conn
        try:
            await conn.serve()
        finally:
            self._connections.pop(task, None)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, hang up the running calls, wait (bounded) for them to finish."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections.values()):
            await conn.stop()
        tasks = list(self._connections)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            except asyncio.TimeoutError:
                pass


async def start_audiosocket(host: CallHost, settings: Settings) -> AudioSocketServer:
    """Listen on settings.audiosocket.host:port; calls run on `host` until `close()`."""
    server = AudioSocketServer(host, settings)
    await server._start()
    return server
