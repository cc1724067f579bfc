"""A tiny asyncio Asterisk Manager Interface (AMI) client: just enough for one transfer.

AMI is a line protocol over TCP (default port 5038): Asterisk greets with one line
("Asterisk Call Manager/<version>"), then every message is "Key: Value" lines ended by an empty
line (CRLF). We send `Action: ...` with an `ActionID`; Asterisk answers with `Response: Success`
or `Response: Error` (+ `Message`) carrying the same ActionID, and may interleave `Event: ...`
messages, which we skip. Actions used (docs.asterisk.org, "AMI Actions"): Login, Getvar (without
Channel it reads a global variable), Setvar, Redirect (Channel, Context, Exten, Priority), Logoff.

How the channel is found for a call: the AudioSocket stream only carries the UUID that the
dialplan chose, but Redirect needs the channel *name*. The dialplan (docs/asterisk.md) therefore
stores it before AudioSocket() runs, in a global variable named after the UUID:

    Set(GLOBAL(AUDIOSOCKET_<uuid hex, no dashes>)=${CHANNEL})

and clears it in a hangup handler. `redirect()` reads it back with Getvar.

Before the Redirect it sets, on that channel, BOT_TRANSFER_BRANCH and the handoff context as
inheritable variables (`__BRANCH7_CALL` and so on, bot/call/handoff.py): the branch's dialplan
reads them as ${BRANCH7_CALL}, ${BRANCH7_REASON}, ${BRANCH7_FAQ}, ${BRANCH7_SUMMARY}, and so can
the channel it dials to the agent (docs/handoff.md).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import uuid as uuidlib

from bot.call.handoff import Handoff
from bot.config import AudioSocketSettings

log = logging.getLogger(__name__)

MAX_LINE = 8192
MAX_FIELDS = 200


class AmiError(Exception):
    """AMI unreachable, login refused, an action failed, or the manager spoke nonsense."""


def channel_variable(call_uuid: str) -> str:
    """The global variable under which the dialplan stores the channel name for `call_uuid`."""
    return "AUDIOSOCKET_" + uuidlib.UUID(call_uuid).hex


def encode(fields: dict[str, str]) -> bytes:
    lines = []
    for key, value in fields.items():
        value = str(value)
        if "\r" in value or "\n" in value or "\r" in key or "\n" in key:
            raise AmiError(f"AMI field {key!r} contains a line break")
        lines.append(f"{key}: {value}\r\n")
    return ("".join(lines) + "\r\n").encode("utf-8")


async def read_message(reader: asyncio.StreamReader) -> dict[str, str]:
    """One AMI message (header lines up to the empty line). Repeated keys keep the last value."""
    fields: dict[str, str] = {}
    while True:
        try:
            raw = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            raise AmiError("AMI connection closed") from exc
        except asyncio.LimitOverrunError as exc:
            raise AmiError("AMI line too long") from exc
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if fields:
                return fields
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
        if len(fields) > MAX_FIELDS:
            raise AmiError("AMI message with too many fields")


class AmiClient:
    """`async with AmiClient(...) as ami: await ami.action("Redirect", ...)`."""

    def __init__(self, host: str, port: int, user: str, secret: str, timeout_s: float = 3.0) -> None:
        self.host, self.port, self.user, self.secret = host, port, user, secret
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.banner = ""

    async def __aenter__(self) -> "AmiClient":
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=MAX_LINE), self.timeout_s)
            banner = await asyncio.wait_for(self._reader.readline(), self.timeout_s)
        except (OSError, asyncio.TimeoutError) as exc:
            await self.close()
            raise AmiError(f"AMI {self.host}:{self.port} unreachable: {exc or type(exc).__name__}") from exc
        self.banner = banner.decode("utf-8", "replace").strip()
        if not self.banner.startswith("Asterisk Call Manager"):
            await self.close()
            raise AmiError(f"not an Asterisk manager: {self.banner[:60]!r}")
        try:
            await self.action("Login", Username=self.user, Secret=self.secret, Events="off")
        except AmiError:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._writer is not None and not self._writer.is_closing():
            try:
                await asyncio.wait_for(self.action("Logoff"), 1.0)
            except (AmiError, asyncio.TimeoutError, OSError):
                pass
        await self.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await asyncio.wait_for(self._writer.wait_closed(), 1.0)
            except (OSError, asyncio.TimeoutError):
                pass
            self._writer = None

    async def action(self, name: str, **fields: str) -> dict[str, str]:
        """Send an action; return its response. `Response: Error` raises AmiError."""
        if self._reader is None or self._writer is None:
            raise AmiError("AMI not connected")
        action_id = f"bot-{next(self._ids)}"
        self._writer.write(encode({"Action": name, "ActionID": action_id, **fields}))
        try:
            await asyncio.wait_for(self._writer.drain(), self.timeout_s)
            return await asyncio.wait_for(self._response(name, action_id), self.timeout_s)
        except asyncio.TimeoutError as exc:
            raise AmiError(f"AMI {name}: no response within {self.timeout_s} s") from exc
        except OSError as exc:
            raise AmiError(f"AMI {name}: {exc}") from exc

    async def _response(self, name: str, action_id: str) -> dict[str, str]:
        assert self._reader is not None
        while True:
            message = await read_message(self._reader)
            if "Response" not in message or message.get("ActionID", action_id) != action_id:
                continue  # an event, or the answer to something else
            if message["Response"].lower() in ("success", "goodbye", "follows"):
                return message
            raise AmiError(f"AMI {name} refused: {message.get('Message', message['Response'])}")


async def redirect(settings: AudioSocketSettings, call_uuid: str, branch: int, timeout_s: float = 3.0, *,
                   handoff: Handoff | None = None) -> str | None:
    """Send the channel of AudioSocket stream `call_uuid` to extension `branch` of
    `settings.transfer_context`, with the handoff's channel variables set first. None once
    Asterisk accepted the Redirect, else a short reason."""
    if not settings.ami_host:
        return "no_transfer_path"
    try:
        async with AmiClient(settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret,
                             timeout_s) as ami:
            found = await ami.action("Getvar", Variable=channel_variable(call_uuid))
            channel = found.get("Value", "").strip()
            if not channel or channel == "(null)":
                log.warning("AMI: no channel recorded for %s (dialplan sets %s?)", call_uuid,
                            channel_variable(call_uuid))
                return "no_channel"
            await ami.action("Setvar", Channel=channel, Variable="BOT_TRANSFER_BRANCH", Value=str(branch))
            for name, value in handoff.channel_variables() if handoff else []:
                # "__": inherited by the channels it dials (the agent's), read as ${BRANCH7_...}.
                await ami.action("Setvar", Channel=channel, Variable=f"__{name}", Value=value)
            await ami.action("Redirect", Channel=channel, Context=settings.transfer_context,
                             Exten=str(branch), Priority="1")
            log.info("AMI: %s redirected to %s,%s,1", channel, settings.transfer_context, branch)
            return None
    except AmiError as exc:
        log.warning("AMI transfer of %s to %s failed: %s", call_uuid, branch, exc)
        text = str(exc)
        if "unreachable" in text:
            return "ami_unreachable"
        if "no response" in text:
            return "timeout"
        return "refused"
