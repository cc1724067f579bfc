"""The supervisors' page behind the studio's login, in a real headless Chromium: after logging in,
the figures and the three charts (SVG bars) agree with `bot report --json` over the same records
database; a call's context opens by its id, with the caller's number masked; without a login
every supervisor address leads to the login form (and never shows a figure)."""
from __future__ import annotations

import datetime as dt
import json
import re
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

import aiohttp
import numpy as np
import pytest

from bot.call.session import call_config
from bot.gateway.host import CallHost
from bot.records.store import RecordStore
from bot.studio.auth import hash_password, write_users
from bot.transports.web.server import start_web
from tests.fakes import KeywordBrain, fake_engines, recogniser_factory
from tests.records.conftest import db_url, pg_cluster  # noqa: F401 - the same SQLite/PostgreSQL fixtures
from tests.records.helpers import bot_report, record
from tests.studio.conftest import client, log_in
from tests.transports.web.test_browser import CHROMIUM, Browser

WEB_PORT = 15810
USER, PASSWORD = "giamsat", "mat-khau-du-dai-1022"
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = dt.date(2026, 12, 1)
# (id, kind, local hour:minute on DAY, transcripts kept); one more call the next day, outside the range.
CALLS = [("c1", "answered", (8, 15), False), ("c2", "answered", (8, 40), False),
         ("c3", "transferred:3:keypad", (9, 5), False), ("c4", "transferred:5:not_understood", (14, 30), True),
         ("c5", "abandoned", (14, 50), False), ("c6", "unanswered", (23, 30), True),
         ("c7", "transferred:1:danger", (23, 45), False)]


@asynccontextmanager
async def running_gateway(settings, tmp_path, db_url: str) -> AsyncIterator[str]:
    """A web server (studio + supervisor) on the records database `db_url` holding CALLS; its URL."""
    if db_url.startswith("sqlite:///"):
        records = {"sqlite_path": db_url.removeprefix("sqlite:///"), "url": ""}
    else:
        records = {"url": db_url}
    s = settings.replace(records=records, web={"port": WEB_PORT},
                         studio={"users_file": str(tmp_path / "users"), "work_dir": str(tmp_path / "studio")},
                         voice={"recordings_dir": str(tmp_path / "recordings"),
                                "prompt_cache_dir": str(tmp_path / "prompts")},
                         privacy={"records_dir": str(tmp_path / "records")})
    write_users(s.path(s.studio.users_file), {USER: hash_password(PASSWORD)})
    store = RecordStore(db_url, tmp_path / "spool")
    store.start()
    for call_id, kind, (h, m), keep in CALLS:
        started = dt.datetime.combine(DAY, dt.time(h, m), HANOI)
        store.submit(record(tmp_path / "lines", call_id, kind, caller="0912345678", keep=keep, started=started))
    store.submit(record(tmp_path / "lines", "next-day", "answered", started=dt.datetime(2026, 12, 2, 10, 0, tzinfo=HANOI)))
    assert store.flush(30)
    store.close()
    engines = fake_engines(tmp_path / "prompts")
    host = CallHost(s, engines, KeywordBrain(), call_config(s), asr_factory=recogniser_factory(engines))
    server = await start_web(host, s)
    try:
        yield server.address
    finally:
        await server.close()
        await host.aclose()


@pytest.fixture
async def gateway(settings, tmp_path) -> AsyncIterator[tuple[str, str]]:
    """(base URL, database URL) of a gateway on a SQLite records database holding CALLS."""
    db_url = f"sqlite:///{tmp_path / 'branch7.sqlite3'}"
    async with running_gateway(settings, tmp_path, db_url) as base:
        yield base, db_url


async def test_the_figures_agree_with_bot_report_on_sqlite_and_postgresql(settings, tmp_path, db_url):
    """The page's numbers (read over HTTP after a login) on both databases `bot report` reads."""
    async with running_gateway(settings, tmp_path, db_url) as base, client() as http:
        response = await log_in(http, f"{base}/studio", USER, PASSWORD)
        assert response.status == 303
        async with http.get(f"{base}/supervisor/?from={DAY}&to={DAY}") as resp:
            assert resp.status == 200 and resp.url.path == "/studio/supervisor/"
            page = await resp.text()
    report = bot_report(db_url, "--from", DAY.isoformat(), "--to", DAY.isoformat())
    shown = dict(re.findall(r'<dd id="fig-([a-z_0-9]+)">([^<]*)</dd>', page))
    assert shown == {"calls": "7", "answered": str(report["answered"]), "transferred": str(report["transferred_total"]),
                     "abandoned": str(report["abandoned"]), "ended_by_bot": str(report["ended_by_bot"]),
                     "gateway_died": str(report["gateway_died"]),
                     "p50": str(report["latency_ms"]["p50"]), "p95": str(report["latency_ms"]["p95"])}
    values = re.findall(r'<rect class="bar"[^>]*data-value="(\d+)"', page)
    assert len(values) == 24 + 5 + 6
    assert [int(v) for v in values[29:]] == [report["transferred"][b] for b in "123456"]


async def test_without_a_login_every_supervisor_address_leads_to_the_login_form(gateway):
    base, _ = gateway
    async with aiohttp.ClientSession() as http:
        for path in ("/supervisor", "/supervisor/?from=2026-12-01", "/studio/supervisor/",
                     "/supervisor/call/c6", "/studio/supervisor/call/c6"):
            async with http.get(base + path) as resp:  # redirects followed, as a browser does
                body = await resp.text()
                assert resp.url.path == "/studio/login", (path, resp.url)
                assert 'name="password"' in body and "fig-calls" not in body and "0912345678" not in body
                assert resp.url.query.get("next", "").startswith("/studio/supervisor"), resp.url
        async with http.get(base + "/studio/supervisor/", allow_redirects=False) as resp:
            assert resp.status == 303
        # A login form asked to return elsewhere returns to the studio instead.
        async with http.get(base + "/studio/login?next=//evil.example/x") as resp:
            assert 'action="/studio/login"' in await resp.text()


def silent_microphone(path):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(16000, np.int16).tobytes())
    return path


@pytest.mark.skipif(CHROMIUM is None, reason="needs a Chromium/Chrome binary on PATH (Debian: apt-get install chromium)")
async def test_after_login_the_page_shows_the_reports_figures_and_charts_in_chromium(gateway, tmp_path):
    base, db_url = gateway
    report = bot_report(db_url, "--from", DAY.isoformat(), "--to", DAY.isoformat())
    assert report["calls"] == 7  # the next day's call is outside the range
    browser = await Browser.launch(tmp_path, silent_microphone(tmp_path / "mic.wav"))
    try:
        target = await browser.send("Target.createTarget", {"url": f"{base}/supervisor?from={DAY}&to={DAY}"},
                                    session=False)
        attached = await browser.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
                                      session=False)
        browser.session = attached["sessionId"]
        await browser.send("Runtime.enable")
        await browser.until("location.pathname === '/studio/login' && document.readyState === 'complete'", 15)
        assert await browser.js("document.querySelectorAll('svg').length") == 0
        await browser.js(f"document.getElementById('user').value = {json.dumps(USER)}")
        await browser.js(f"document.getElementById('password').value = {json.dumps(PASSWORD)}")
        await browser.js("document.getElementById('login').click()")
        await browser.until("location.pathname === '/studio/supervisor/' && document.readyState === 'complete' "
                            "&& !!document.getElementById('fig-calls')", 30)
        assert await browser.js("location.search") == f"?from={DAY}&to={DAY}"

        def text(element_id: str) -> str:
            return f"document.getElementById({json.dumps(element_id)}).textContent"

        shown = {k: await browser.js(text(f"fig-{k}")) for k in
                 ("calls", "answered", "transferred", "abandoned", "ended_by_bot", "gateway_died", "p50", "p95")}
        assert shown == {"calls": str(report["calls"]), "answered": str(report["answered"]),
                         "transferred": str(report["transferred_total"]), "abandoned": str(report["abandoned"]),
                         "ended_by_bot": str(report["ended_by_bot"]), "gateway_died": str(report["gateway_died"]),
                         "p50": str(report["latency_ms"]["p50"]),
                         "p95": str(report["latency_ms"]["p95"])}

        async def bars(chart: str) -> list[list]:
            return await browser.js(f"Array.from(document.querySelectorAll('#{chart} svg rect.bar'))"
                                    ".map(r => [r.dataset.label, Number(r.dataset.value), r.getBBox().height])")

        hours = await bars("chart-hours")
        assert len(hours) == 24
        expected = [0] * 24
        for _, _, (h, _m), _ in CALLS:
            expected[h] += 1
        assert [v for _, v, _ in hours] == expected
        assert [label for label, _, _ in hours] == [f"{h:02d}" for h in range(24)]
        assert all((height > 0) == (v > 0) for _, v, height in hours)  # drawn, and as tall as it should be
        assert max(hours, key=lambda b: b[2])[0] in ("08", "14", "23")
        outcomes = await bars("chart-outcomes")
        assert [v for _, v, _ in outcomes] == [report["outcomes"].get(o, 0)
                                               for o in ("answered", "transferred", "abandoned", "hangup",
                                                         "gateway_died")]
        branches = await bars("chart-branches")
        assert [v for _, v, _ in branches] == [report["transferred"][b] for b in "123456"] == [1, 0, 1, 0, 1, 0]
        # Top questions and the unanswered question (its phone number masked) as in the report.
        assert await browser.js("document.querySelector('#top-questions tbody td').textContent") == \
            report["top_questions"][0]["faq_id"]
        unanswered = await browser.js("document.querySelector('#unanswered tbody').textContent")
        assert [q["text"] for q in report["unanswered"]] == ["số của tôi là 098****321, thời tiết mai thế nào"]
        assert report["unanswered"][0]["text"] in unanswered and "0987 654 321" not in unanswered
        assert "2026-12-01 23:30" in unanswered  # when, in Hanoi's time (the report's is UTC)
        assert await browser.js("document.querySelectorAll('script').length") == 0  # charts drawn by the server

        # The call behind the unanswered question, by its id (its link on the page).
        await browser.js("document.querySelector('#unanswered tbody a').click()")
        await browser.until("location.pathname === '/studio/supervisor/call/c6' && "
                            "!!document.getElementById('call-caller')", 15)
        assert await browser.js(text("call-caller")) == "091****678"
        assert await browser.js(text("call-outcome")) == "Bot kết thúc (không trả lời)"
        events = await browser.js(text("events"))
        assert "out_of_scope" in events and "098****321" in events and "0987 654 321" not in events
        # A call whose words were not kept shows none, and says why.
        await browser.js(f"location.href = '{base}/supervisor/call/c3'")
        await browser.until("location.pathname === '/studio/supervisor/call/c3' && "
                            "!!document.getElementById('no-words')", 15)
        assert await browser.js(text("call-branch")) == "3"
        await browser.js(f"location.href = '{base}/studio/supervisor/call/nope'")
        await browser.until("!!document.getElementById('error')", 15)
    finally:
        await browser.close()
