"""Kamailio as `bot cluster` configures it, alone (no gateway answers): it answers a keep-alive
itself, refuses peers that sip.allowed_peers does not name, stops answering an address that floods
it (pike) while others still get through, and tells a caller 503 once its probes found no gateway.

Ports: Kamailio 16190, the (absent) gateways 16191-16192."""
from __future__ import annotations

import asyncio
import shutil

import pytest

from bot.cluster import _stop, plan, render, sip_ping, start_kamailio

KAMAILIO = shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin")
pytestmark = pytest.mark.skipif(KAMAILIO is None, reason="kamailio is not installed (apt install kamailio)")
PORT = 16190


@pytest.fixture(scope="module")
async def balancer(settings, tmp_path_factory):
    work = tmp_path_factory.mktemp("kamailio")
    s = settings.replace(sip={"port": PORT, "allowed_peers": "127.0.0.1/32, 127.0.0.3"},
                         cluster={"first_port": PORT + 1, "run_dir": str(work), "log_dir": str(work),
                                  "pike_per_s": 5, "fail_ms": 500})
    proc = start_kamailio(s, render(s, plan(s)))
    try:
        for _ in range(50):
            if await sip_ping("127.0.0.1", PORT, 0.2) is not None:
                break
            assert proc.poll() is None, (work / "kamailio.log").read_text()
        yield work
    finally:
        _stop(proc, 5.0)


async def test_a_keepalive_to_the_balancer_is_answered(balancer):
    assert await sip_ping("127.0.0.1", PORT) == 200


async def test_a_peer_not_allowed_is_refused(balancer):
    assert await sip_ping("127.0.0.1", PORT, source="127.0.0.2") == 403


async def test_a_flooding_address_is_blocked_and_the_others_still_get_through(balancer):
    answers = await asyncio.gather(*(sip_ping("127.0.0.1", PORT, 1.0, source="127.0.0.3") for _ in range(60)))
    answered = sum(a == 200 for a in answers)
    assert 5 <= answered < 30, answers  # 10 per 2 s allowed; the rest of the burst is dropped
    assert await sip_ping("127.0.0.1", PORT) == 200  # another address is not affected


async def test_a_new_call_gets_503_when_no_gateway_answers_its_probes(balancer):
    # Both gateways are absent: their OPTIONS probes time out (fail_ms) and take them out of rotation.
    status = None
    for _ in range(20):
        status = await _invite_status()
        if status == 503:
            break
        await asyncio.sleep(0.5)
    assert status == 503


async def _invite_status() -> int | None:
    from bot.transports.sip import message as sipmsg

    loop = asyncio.get_running_loop()
    final: asyncio.Future[int] = loop.create_future()

    class Caller(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr) -> None:
            code = int(data[8:11]) if data.startswith(b"SIP/2.0 ") else 0
            if code >= 200 and not final.done():
                final.set_result(code)

    transport, _ = await loop.create_datagram_endpoint(Caller, local_addr=("127.0.0.1", 0))
    me = transport.get_extra_info("sockname")
    tag = sipmsg.new_tag()
    msg = (f"INVITE sip:7@127.0.0.1:{PORT} SIP/2.0\r\nVia: SIP/2.0/UDP {me[0]}:{me[1]};branch={sipmsg.new_branch()}\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:0912345678@{me[0]}>;tag={tag}\r\nTo: <sip:7@127.0.0.1:{PORT}>\r\n"
           f"Call-ID: {tag}@test\r\nCSeq: 1 INVITE\r\nContact: <sip:0912345678@{me[0]}:{me[1]}>\r\n"
           "Content-Length: 0\r\n\r\n")
    try:
        transport.sendto(msg.encode(), ("127.0.0.1", PORT))
        return await asyncio.wait_for(final, 5.0)
    except TimeoutError:
        return None
    finally:
        transport.close()
