"""The AMI client against a stand-in Asterisk manager (the AMI text protocol over TCP)."""
from __future__ import annotations

import asyncio
import uuid

from bot.call.handoff import Handoff
from bot.config import AudioSocketSettings
from bot.transports.audiosocket import ami

class FakeAmi:
    """An Asterisk manager that accepts Login/Getvar/Setvar/Redirect and records them."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.actions: list[dict[str, str]] = []
        self.redirected = asyncio.Event()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                msg: dict[str, str] = {}
                while (line := (await reader.readuntil(b"\r\n")).decode().strip()):
                    key, _, value = line.partition(":")
                    msg[key.strip()] = value.strip()
                self.actions.append(msg)
                aid = msg.get("ActionID", "")
                action = msg.get("Action", "").lower()
                if action == "login":
                    ok = msg.get("Username") == "bot" and msg.get("Secret") == "s3cret"
                    reply = (f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n"
                             "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n" if ok else
                             f"Response: Error\r\nActionID: {aid}\r\nMessage: Authentication failed\r\n\r\n")
                elif action == "getvar":
                    value = self.channel if msg.get("Variable", "").startswith("AUDIOSOCKET_") else ""
                    reply = f"Response: Success\r\nActionID: {aid}\r\nVariable: {msg.get('Variable')}\r\nValue: {value}\r\n\r\n"
                elif action == "logoff":
                    writer.write(f"Response: Goodbye\r\nActionID: {aid}\r\nMessage: Thanks for all the fish.\r\n\r\n".encode())
                    break
                else:
                    reply = f"Response: Success\r\nActionID: {aid}\r\nMessage: {msg.get('Action')} successful\r\n\r\n"
                    if action == "redirect":
                        self.redirected.set()
                writer.write(reply.encode())
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


CALL = str(uuid.uuid4())


def _settings(port: int, **changes) -> AudioSocketSettings:
    return AudioSocketSettings(**{"ami_host": "127.0.0.1", "ami_port": port, "ami_user": "bot",
                                  "ami_secret": "s3cret", **changes})


async def test_redirect_logs_in_finds_the_channel_and_redirects():
    fake = FakeAmi("PJSIP/trunk-00000007")
    port = await fake.start()
    try:
        assert await ami.redirect(_settings(port), CALL, 3) is None
    finally:
        await fake.close()
    login, getvar, setvar, redirect, logoff = fake.actions
    assert (login["Action"], login["Username"], login["Secret"], login["Events"]) == ("Login", "bot", "s3cret", "off")
    assert getvar["Variable"] == "AUDIOSOCKET_" + uuid.UUID(CALL).hex and "Channel" not in getvar  # a global
    assert (setvar["Channel"], setvar["Variable"], setvar["Value"]) == ("PJSIP/trunk-00000007", "BOT_TRANSFER_BRANCH", "3")
    assert {k: redirect[k] for k in ("Channel", "Context", "Exten", "Priority")} == \
        {"Channel": "PJSIP/trunk-00000007", "Context": "hotline-branches", "Exten": "3", "Priority": "1"}
    assert logoff["Action"] == "Logoff" and len({a["ActionID"] for a in fake.actions}) == 5


async def test_what_goes_wrong_becomes_a_short_reason():
    fake, unknown = FakeAmi("PJSIP/x-1"), FakeAmi("")
    port, unknown_port = await fake.start(), await unknown.start()
    try:
        assert await ami.redirect(_settings(port, ami_secret="wrong"), CALL, 5) == "refused"
        assert await ami.redirect(_settings(unknown_port), CALL, 5) == "no_channel"
        assert await ami.redirect(_settings(port, ami_host=""), CALL, 5) == "no_transfer_path"
    finally:
        await fake.close()
        await unknown.close()
    assert await ami.redirect(_settings(port), CALL, 5) == "ami_unreachable"  # nobody listens now

    async def mute(reader, writer):  # accepts, greets, never answers
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        await asyncio.sleep(1)
    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    try:
        mute_port = server.sockets[0].getsockname()[1]
        assert await ami.redirect(_settings(mute_port), CALL, 5, timeout_s=0.3) == "timeout"
    finally:
        server.close()

    async def http(reader, writer):
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    server = await asyncio.start_server(http, "127.0.0.1", 0)
    try:
        assert await ami.redirect(_settings(server.sockets[0].getsockname()[1]), CALL, 5) == "refused"
    finally:
        server.close()


async def test_the_handoff_is_set_on_the_channel_before_the_redirect():
    fake = FakeAmi("PJSIP/trunk-00000009")
    port = await fake.start()
    summary = "chị Lan, số 091****678: hộ nghèo & cận nghèo = bao nhiêu? <gấp> 100%"
    try:
        handoff = Handoff(CALL, 5, "unverified_answer:hn_muc", "hn_muc", summary)
        assert await ami.redirect(_settings(port), CALL, 5, handoff=handoff) is None
        assert await ami.redirect(_settings(port), CALL, 3, handoff=Handoff("", 3)) is None  # nothing shared
    finally:
        await fake.close()
    shared, withheld = fake.actions[:9], fake.actions[9:]
    assert [a["Action"] for a in shared] == ["Login", "Getvar"] + ["Setvar"] * 5 + ["Redirect", "Logoff"]
    assert [(a["Channel"], a["Variable"], a["Value"]) for a in shared if a["Action"] == "Setvar"] == [
        ("PJSIP/trunk-00000009", "BOT_TRANSFER_BRANCH", "5"), ("PJSIP/trunk-00000009", "__BRANCH7_CALL", CALL),
        ("PJSIP/trunk-00000009", "__BRANCH7_REASON", "unverified_answer:hn_muc"),
        ("PJSIP/trunk-00000009", "__BRANCH7_FAQ", "hn_muc"),
        ("PJSIP/trunk-00000009", "__BRANCH7_SUMMARY", summary)]  # UTF-8 on the wire, as it was said
    assert [a["Action"] for a in withheld] == ["Login", "Getvar", "Setvar", "Redirect", "Logoff"]


def test_fields_with_line_breaks_are_refused():
    try:
        ami.encode({"Action": "Redirect", "Channel": "x\r\nAction: Originate"})
    except ami.AmiError:
        return
    raise AssertionError("header injection accepted")
