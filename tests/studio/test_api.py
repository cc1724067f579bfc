"""The studio over HTTP: nothing without a login, no cross-site changes, limits, accept/restore,
the audit log, and a take that is live from the next call on (real recogniser for the word check)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.audio.files import read_audio
from bot.tts.texts import split_sentences
from tests.conftest import ROOT, SPEECH, needs_speech
from tests.studio.conftest import (
    EDITOR,
    PASSWORD,
    client,
    log_in,
    set_prompt,
    transcript,
)

MATCHING = "vieneu/ly_female_north.wav"
OTHER = "vieneu/tuyen_male_north.wav"

# Every route, as an unauthenticated browser or script would try it.
PAGES = ["/", "/static/studio.js", "/static/index.html", "/static/login.html"]  # studio.css alone is public
API_GETS = ["/api/session", "/api/sentences", "/api/sentences/greeting/synthetic.wav", "/api/sentences/greeting/clarity",
            "/api/sentences/greeting/current.wav", "/api/takes/0123456789abcdef01234567.wav"]
POSTS = ["/api/sentences/greeting/takes", "/api/sentences/greeting/restore",
         "/api/takes/0123456789abcdef01234567/accept", "/logout"]


async def test_without_a_login_pages_redirect_to_the_form_and_everything_else_is_401(studio, editor):
    async with client() as http:
        for path in PAGES:
            r = await http.get(studio.base + path, allow_redirects=False)
            assert (r.status, r.headers["Location"]) == (303, "/studio/login"), path
        r = await http.get(studio.server.address + "/studio", allow_redirects=False)
        assert (r.status, r.headers["Location"]) == (302, "/studio/")
        for path in API_GETS:
            r = await http.get(studio.base + path)
            assert r.status == 401 and (await r.json())["error"] == "login", path
        for path in POSTS:
            r = await http.post(studio.base + path, data=b"RIFF....WAVE", headers={"X-CSRF-Token": "guess"})
            assert r.status == 401, path
        # A session cookie nobody issued is no session.
        http.cookie_jar.update_cookies({"studio_session": "forged"}, response_url=r.url)
        assert (await http.get(studio.base + "/api/sentences")).status == 401
    assert not studio.recordings.exists()  # nothing was written


async def test_with_no_editor_configured_the_studio_says_how_and_lets_no_one_in(studio):
    async with client() as http:
        r = await http.get(studio.base + "/login")
        page = await r.text()
        assert r.status == 503 and "bot studio-user add" in page
        for user, password in [("admin", "admin"), ("", ""), (EDITOR, PASSWORD)]:
            r = await log_in(http, studio.base, user, password)
            assert r.status == 503 and "studio_session" not in r.cookies
        assert (await http.get(studio.base + "/api/sentences")).status == 401


async def test_login_sets_a_strict_http_only_session_and_logout_ends_it(studio, editor):
    async with client() as http:
        r = await log_in(http, studio.base, EDITOR, "wrong password")
        assert r.status == 401 and "studio_session" not in r.cookies
        r = await log_in(http, studio.base, EDITOR, PASSWORD)
        assert (r.status, r.headers["Location"]) == (303, "/studio/")
        cookie = next(h for h in r.headers.getall("Set-Cookie") if h.startswith("studio_session="))
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/studio" in cookie
        page = await http.get(studio.server.address + "/studio")  # as typed: to /studio/
        assert page.status == 200 and page.url.path == "/studio/" and 'id="groups"' in await page.text()
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        session = await (await http.get(studio.base + "/api/session")).json()
        assert session["user"] == EDITOR and len(session["csrf"]) > 30
        r = await http.post(studio.base + "/logout", headers={"X-CSRF-Token": session["csrf"]})
        assert r.status == 200
        assert (await http.get(studio.base + "/api/sentences")).status == 401
    actions = [json.loads(line)["action"] for line in (studio.work / "audit.jsonl").read_text().splitlines()]
    assert actions == ["login_failed", "login", "logout"]


async def test_the_login_form_needs_its_own_token_and_guessing_is_throttled(studio, editor):
    async with client() as http:
        r = await http.post(studio.base + "/login", data={"user": EDITOR, "password": PASSWORD, "csrf": "x"},
                            allow_redirects=False)
        assert r.status == 403 and "studio_session" not in r.cookies  # no form token: refused
        for _ in range(5):
            assert (await log_in(http, studio.base, EDITOR, "guess")).status == 401
        r = await log_in(http, studio.base, EDITOR, PASSWORD)  # even the right password, for now
        assert r.status == 429 and "studio_session" not in r.cookies


async def _session(http, studio) -> dict:
    assert (await log_in(http, studio.base, EDITOR, PASSWORD)).status == 303
    return await (await http.get(studio.base + "/api/session")).json()


async def test_changes_need_the_csrf_token_and_the_studio_s_own_origin(studio, editor):
    wav = (ROOT / "tests/studio/test_api.py").read_bytes()  # never processed: refused before
    async with client() as http:
        token = (await _session(http, studio))["csrf"]
        url = studio.base + "/api/sentences/greeting/takes"
        assert (await http.post(url, data=wav)).status == 403
        assert (await http.post(url, data=wav, headers={"X-CSRF-Token": token[:-1] + "x"})).status == 403
        evil = {"X-CSRF-Token": token, "Origin": "http://attacker.example"}
        r = await http.post(url, data=wav, headers=evil)
        assert r.status == 403 and (await r.json())["error"] == "cross_origin"
        r = await http.post(url, data=wav, headers={"X-CSRF-Token": token, "Referer": "https://attacker.example/x"})
        assert r.status == 403
        # The same request from the studio's own page gets past the guard (and fails on the format).
        own = {"X-CSRF-Token": token, "Origin": studio.server.address}
        assert (await http.post(url, data=wav, headers=own)).status == 415


async def test_ids_sizes_and_formats_are_checked(studio, editor, studio_settings):
    async with client() as http:
        headers = {"X-CSRF-Token": (await _session(http, studio))["csrf"]}
        for rid in ["no_such_sentence", "greeting.9", "..%2Fusers", "greeting%00"]:
            r = await http.post(f"{studio.base}/api/sentences/{rid}/takes", data=b"RIFF", headers=headers)
            assert r.status == 404, rid
        assert (await http.get(studio.base + "/api/takes/../../users.wav")).status == 404
        assert (await http.post(studio.base + "/api/takes/not-a-take/accept", headers=headers)).status == 404
        png = b"\x89PNG\r\n\x1a\n" + bytes(2000)
        r = await http.post(studio.base + "/api/sentences/greeting/takes", data=png, headers=headers)
        assert r.status == 415 and "WAV, MP3, OGG, WebM, M4A" in (await r.json())["message"]
        too_big = b"RIFF" + bytes(21 * 2**20)  # over studio.max_upload_mb (20)
        r = await http.post(studio.base + "/api/sentences/greeting/takes", data=too_big, headers=headers)
        assert r.status == 413
        assert (await http.post(studio.base + "/api/sentences/greeting/takes", data=b"", headers=headers)).status == 400


async def test_the_list_has_every_sentence_grouped_with_its_status(studio, editor):
    kb = studio.kb()
    async with client() as http:
        await _session(http, studio)
        sentences = (await (await http.get(studio.base + "/api/sentences")).json())["sentences"]
    from bot.tts.texts import spoken_texts

    assert {s["id"] for s in sentences} == set(spoken_texts(kb))
    assert {s["status"] for s in sentences} == {"synthetic"}
    groups = {s["id"]: s["group"] for s in sentences}
    assert groups[kb.faqs[0].id] == kb.faqs[0].category and groups["greeting"] == "prompts"
    assert groups["human_transfer.5"] == "transfers" and groups["request_human"] == "intents"
    assert groups["danger_fire"] == "danger"
    # The knowledge base's order: groups are contiguous.
    order = [s["group"] for s in sentences]
    assert order == sorted(order, key=order.index)


async def test_broken_content_keeps_the_last_good_list_and_says_so(studio, editor):
    async with client() as http:
        await _session(http, studio)
        good = await (await http.get(studio.base + "/api/sentences")).json()
        assert good["content_error"] == ""
        prompts = studio.content / "prompts.yml"
        prompts.write_text(prompts.read_text(encoding="utf-8") + "  broken: [\n", encoding="utf-8")
        broken = await (await http.get(studio.base + "/api/sentences")).json()
    assert broken["sentences"] == good["sentences"]
    assert "prompts.yml" in broken["content_error"]


async def test_the_synthetic_version_is_played_as_the_caller_hears_it(studio, editor):
    async with client() as http:
        await _session(http, studio)
        r = await http.get(studio.base + "/api/sentences/greeting/synthetic.wav")
        assert r.status == 200 and r.headers["Content-Type"] == "audio/wav"
        path = studio.work / "synthetic.wav"
        path.write_bytes(await r.read())
    pcm, rate = read_audio(path)
    voice = studio.engines.tts
    assert rate == 8000 and voice.calls == list(split_sentences(studio.kb().prompt("greeting")))
    assert abs(pcm.size - sum(round(len(t) * voice.MS_PER_CHAR * 8) for t in voice.calls)) < 80


@needs_speech
async def test_accept_puts_a_take_live_keeps_the_previous_one_and_restore_brings_it_back(studio, editor, tmp_path):
    set_prompt(studio.content, "greeting", transcript(MATCHING))
    async with client() as http:
        headers = {"X-CSRF-Token": (await _session(http, studio))["csrf"]}
        url = studio.base + "/api/sentences/greeting/takes"
        first = await (await http.post(url, data=(SPEECH / MATCHING).read_bytes(), headers=headers)).json()
        assert first["needs_override"] is False and first["report"]["words"]["ok"] is True
        r = await http.post(f"{studio.base}/api/takes/{first['take']}/accept", json={}, headers=headers)
        assert r.status == 200
        live_first = studio.engines.cache.plan(transcript(MATCHING))[0]
        assert live_first.source == "recording"
        first_audio = studio.engines.cache.recordings.audio(live_first.recording, 8000).copy()

        # A second take that says something else: flagged, refused without the override, then forced.
        second = await (await http.post(url, data=(SPEECH / OTHER).read_bytes(), headers=headers)).json()
        assert second["needs_override"] is True and second["report"]["words"]["ok"] is False
        accept = f"{studio.base}/api/takes/{second['take']}/accept"
        r = await http.post(accept, json={}, headers=headers)
        assert r.status == 409 and (await r.json())["error"] == "needs_override"
        assert (await http.post(accept, json={"override": True}, headers=headers)).status == 200
        events, audio, _ = await studio.call(tmp_path)
        assert not _contains(audio, first_audio)  # the forced take is what callers hear now

        listed = {s["id"]: s for s in (await (await http.get(studio.base + "/api/sentences")).json())["sentences"]}
        assert listed["greeting"]["status"] == "current" and listed["greeting"]["previous"] == 1
        assert (await http.get(studio.base + "/api/sentences/greeting/previous.wav")).status == 200

        r = await http.post(studio.base + "/api/sentences/greeting/restore", headers=headers)
        assert r.status == 200
        events, audio, voice = await studio.call(tmp_path)
        assert events[0]["event"] == "bot_say" and events[0]["text"] == transcript(MATCHING)
        assert _contains(audio, first_audio) and voice.calls == []  # the first take is back, nothing synthesised
        # How clear each source is over the phone (the round trip's CER): the restored take is
        # heard almost word for word; the fake synthetic voice is a tone, heard as nothing.
        clarity = await (await http.get(studio.base + "/api/sentences/greeting/clarity")).json()
        assert clarity["recording"]["cer"] < 0.1 and clarity["synthetic"]["cer"] > 0.9

    audit = [json.loads(line) for line in (studio.work / "audit.jsonl").read_text().splitlines()]
    assert [(a["user"], a["action"], a["sentence"]) for a in audit if a["action"] != "login"] == [
        (EDITOR, "take", "greeting"), (EDITOR, "accept", "greeting"), (EDITOR, "take", "greeting"),
        (EDITOR, "accept", "greeting"), (EDITOR, "restore", "greeting")]
    assert [a.get("override") for a in audit if a["action"] == "accept"] == [False, True]
    assert all(a["at"].endswith("+00:00") for a in audit)


@needs_speech
async def test_a_take_recorded_before_the_text_changed_cannot_go_live(studio, editor):
    set_prompt(studio.content, "greeting", transcript(MATCHING))
    async with client() as http:
        headers = {"X-CSRF-Token": (await _session(http, studio))["csrf"]}
        take = await (await http.post(studio.base + "/api/sentences/greeting/takes",
                                      data=(SPEECH / MATCHING).read_bytes(), headers=headers)).json()
        set_prompt(studio.content, "greeting", "Xin chào, đây là tổng đài một không hai hai.")
        r = await http.post(f"{studio.base}/api/takes/{take['take']}/accept", json={"override": True}, headers=headers)
        assert r.status == 409 and (await r.json())["error"] == "text_changed"
    assert not (studio.recordings / "greeting.wav").exists()


def _contains(audio: np.ndarray, part: np.ndarray) -> bool:
    """`part` appears in `audio` sample for sample, starting on a 20 ms frame."""
    for start in range(0, audio.size - part.size + 1, 160):
        if np.array_equal(audio[start:start + part.size], part):
            return True
    return False


def test_bot_studio_user_add_writes_a_hash_that_logs_in(tmp_path: Path):
    users = tmp_path / "users"
    env = {"BOT_STUDIO_USERS_FILE": str(users), "PATH": "/usr/bin:/bin"}
    run = lambda *args, stdin="": subprocess.run(
        [sys.executable, "-m", "bot.cli", "studio-user", *args], input=stdin, capture_output=True, text=True,
        env=env, cwd=ROOT, check=False)
    assert run("add", "minh", "--password-stdin", stdin="short\n").returncode == 1  # too short
    assert run("add", "Minh Anh", "--password-stdin", stdin="long enough pw\n").returncode == 2
    done = run("add", "minh", "--password-stdin", stdin="mot mat khau dai\n")
    assert done.returncode == 0, done.stderr
    from bot.studio import auth

    stored = auth.read_users(users)
    assert auth.verify(stored, "minh", "mot mat khau dai") and "mot mat khau" not in users.read_text()
    assert run("list").stdout.split() == ["minh"]
    assert run("remove", "minh").returncode == 0 and auth.read_users(users) == {}


@pytest.fixture(autouse=True)
def _no_stray_files(studio_settings):
    """Nothing a test does may land in the repository's own data/recordings or var/studio."""
    before = sorted((ROOT / "data/recordings").glob("*")) if (ROOT / "data/recordings").exists() else []
    yield
    after = sorted((ROOT / "data/recordings").glob("*")) if (ROOT / "data/recordings").exists() else []
    assert before == after
