"""The studio's web routes (an aiohttp sub-application mounted at /studio on the web page's server).

Pages redirect to the login form and the API answers 401 until an editor logs in. Every request
that changes something must come from the studio's own page: its Origin (or Referer) is this
server, and it carries the session's CSRF token in `X-CSRF-Token` (the login form carries a
token of its own, tied to a cookie). Cookies are HttpOnly and SameSite=Strict. Ids are checked
against the sentences the bot can say; uploads are limited in size and format (takes.py).
CPU work (decoding, levelling, the recogniser) runs in worker threads, one take at a time, so
calls in progress on the same gateway keep their real-time pace.
"""
from __future__ import annotations

import asyncio
import hmac
import html
import logging
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
from aiohttp import web

from bot.audio.files import read_audio
from bot.audio.phone import PHONE_RATE, through_phone_line
from bot.config import Settings
from bot.studio import auth
from bot.studio.responses import HEADERS, finite, json_error, wav_response
from bot.studio.store import Content, Sentence, Store, StudioError
from bot.studio.takes import RATE, TakeError, process
from bot.studio.wordcheck import PhoneTranscriber
from bot.tts.base import TtsEngine
from bot.tts.cache import PromptCache
from bot.tts.recordings import RecordedPrompts
from bot.tts.texts import split_sentences

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
FILES = {"studio.js": "text/javascript; charset=utf-8", "studio.css": "text/css; charset=utf-8"}
SESSION_COOKIE, LOGIN_COOKIE = "studio_session", "studio_login"
PREFIX = "/studio"
LOGIN_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
SENTENCE_ID = re.compile(r"^[A-Za-z0-9_.]{1,100}$")
SUPERVISOR = f"{PREFIX}/supervisor"
NEXT_PAGE = re.compile(r"^/studio/[A-Za-z0-9_./?=&%:-]{0,300}$")  # a page of this app; no "//", no scheme
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SESSION: web.RequestKey[auth.Session | None] = web.RequestKey("studio_session", object)  # type: ignore[arg-type]
NOT_CONFIGURED = ("Chưa có tài khoản biên tập viên nào. Người quản trị tạo tài khoản bằng lệnh "
                  "<code>bot studio-user add &lt;tên&gt;</code> (xem docs/studio.md), rồi tải lại trang này.")


class Studio:
    """The voice studio: routes, logins, the take pipeline, and the hook into the live gateway."""

    def __init__(self, settings: Settings, cache: PromptCache | None = None, tts: TtsEngine | None = None,
                 transcriber: PhoneTranscriber | None = None) -> None:
        s = settings.studio
        self.settings = settings
        self.users_file = settings.path(s.users_file)
        self.recordings_dir = settings.path(settings.voice.recordings_dir)
        self.sessions = auth.Sessions(s.session_hours * 3600)
        self.throttle = auth.Throttle()
        self.content = Content(settings.path(settings.content.dir))
        self.store = Store(self.recordings_dir, settings.path(s.work_dir), self._put_on_the_line)
        self.cache, self.tts = cache, tts
        if transcriber is None:
            from bot.asr.registry import make_asr

            v = settings.voice
            transcriber = PhoneTranscriber(lambda: make_asr(v.asr_engine, v.asr_model_dir or None))
        self.transcriber = transcriber
        self.max_upload = int(s.max_upload_mb * 2**20)
        self.target_lufs = s.loudness_lufs
        self._one_take = asyncio.Semaphore(1)  # the studio never takes both cores from live calls
        self._clarity_seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.app = web.Application(middlewares=[self._guard])
        r = self.app.router
        r.add_get("/", self._index)
        r.add_get("/login", self._login_form, name="public-login")
        r.add_post("/login", self._login, name="public-login-post")
        r.add_post("/logout", self._logout)
        # The style sheet is public (the login form uses it; it holds nothing): everything else is not.
        r.add_get("/static/studio.css", self._static, name="public-css")
        r.add_get("/static/{name}", self._static)
        r.add_get("/api/session", self._session)
        r.add_get("/api/sentences", self._sentences)
        r.add_get("/api/sentences/{id}/{which:synthetic|current|previous}.wav", self._sentence_audio)
        r.add_get("/api/sentences/{id}/clarity", self._clarity)
        r.add_post("/api/sentences/{id}/takes", self._upload)
        r.add_post("/api/sentences/{id}/restore", self._restore)
        r.add_get("/api/takes/{take}.wav", self._take_audio)
        r.add_post("/api/takes/{take}/accept", self._accept)
        self.app.on_cleanup.append(self._cleanup)

    # ----- the live gateway ---------------------------------------------------------------------
    def _put_on_the_line(self) -> None:
        """Called by the store after an accept or restore (worker thread, under the store's lock):
        the gateway's recordings are re-read in one swap, so the next sentence any call says uses
        the new take; audio already handed to a call plays on unchanged."""
        if self.cache is None:
            return
        live = self.cache.recordings
        if live is None:
            self.cache.recordings = RecordedPrompts(self.recordings_dir)
        elif live.directory.resolve() == self.recordings_dir.resolve():
            live.reload()
        else:
            log.warning("the gateway plays recordings from %s, the studio writes %s: not reloaded",
                        live.directory, self.recordings_dir)

    async def _cleanup(self, app: web.Application) -> None:
        # The knowledge base is read when an editor first opens the list (~2 s), not at start-up:
        # that pure-Python work would share the interpreter with the first calls for nothing.
        await asyncio.to_thread(self.transcriber.close)

    # ----- the guard: login, origin, CSRF, headers ----------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == PREFIX:  # the address as people type it: the sub-app only routes /studio/...
            raise web.HTTPFound(f"{PREFIX}/", headers=HEADERS)
        route = request.match_info.route
        public = (getattr(route, "name", None) or "").startswith("public-")
        if request.method not in SAFE_METHODS and not self._same_origin(request):
            raise json_error(403, "cross_origin", "Yêu cầu từ trang khác bị từ chối.")
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE))
        if not public:
            if session is None:
                if request.method == "GET" and not request.path.startswith(f"{PREFIX}/api/"):
                    # The supervisors' pages are returned to after the login (the studio is one page).
                    back = f"?next={quote(request.path_qs)}" if request.path.startswith(SUPERVISOR) else ""
                    raise web.HTTPSeeOther(f"{PREFIX}/login{back}", headers=HEADERS)
                raise json_error(401, "login", "Cần đăng nhập.")
            if request.method not in SAFE_METHODS and not _same(request.headers.get("X-CSRF-Token"), session.csrf):
                raise json_error(403, "csrf", "Thiếu mã bảo vệ (CSRF): tải lại trang rồi thử lại.")
        request[SESSION] = session
        response = await handler(request)
        response.headers.update(HEADERS)
        return response

    @staticmethod
    def _same_origin(request: web.Request) -> bool:
        """A browser names the page a request comes from (Origin, else Referer). Another site's
        page must not make an editor's browser change anything; a request naming neither is not
        from a browser page and still needs the session's CSRF token."""
        source = request.headers.get("Origin") or request.headers.get("Referer")
        if source is None:
            return True
        return urlsplit(source).netloc.lower() == request.host.lower()

    def _set_cookie(self, response: web.StreamResponse, request: web.Request, name: str, value: str,
                    max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="Strict",
                            secure=request.secure)

    # ----- login ----------------------------------------------------------------------------------
    async def _login_form(self, request: web.Request) -> web.Response:
        if request[SESSION] is not None:
            raise web.HTTPSeeOther(_next_page(request.query.get("next")), headers=HEADERS)
        return self._login_page(request, "")

    def _login_page(self, request: web.Request, message: str, status: int = 200) -> web.Response:
        try:
            configured = bool(auth.read_users(self.users_file))
        except auth.UsersFileError as exc:
            configured, message = False, html.escape(str(exc))
        if not configured:
            message, status = message or NOT_CONFIGURED, 503
        # One token per browser while its cookie lasts: a second tab or a reload does not
        # invalidate a form already on screen.
        token = request.cookies.get(LOGIN_COOKIE) or ""
        if not LOGIN_TOKEN.match(token):
            token = secrets.token_urlsafe(24)
        page = (STATIC / "login.html").read_text(encoding="utf-8")
        page = page.replace("{{csrf}}", token).replace("{{message}}", message)
        page = page.replace("{{hidden}}", "" if message else "hidden")
        back = _next_page(request.query.get("next"))  # the page to return to after the login
        action = f"{PREFIX}/login" + (f"?next={quote(back)}" if back != f"{PREFIX}/" else "")
        page = page.replace("{{action}}", html.escape(action))
        response = web.Response(text=page, content_type="text/html", status=status)
        self._set_cookie(response, request, LOGIN_COOKIE, token, 3600)
        return response

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        name, password = str(form.get("user", "")).strip().lower(), str(form.get("password", ""))
        if not _same(str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE)):
            return self._login_page(request, "Phiên đăng nhập đã hết hạn, mời đăng nhập lại.", 403)
        client = request.remote or "?"
        if self.throttle.blocked(f"user:{name}", f"ip:{client}"):
            self.store.audit(name, "login_refused", reason="too many failures", client=client)
            return self._login_page(request, "Sai quá nhiều lần. Chờ mười lăm phút rồi thử lại.", 429)
        try:
            users = auth.read_users(self.users_file)
        except auth.UsersFileError:
            return self._login_page(request, "", 503)
        if not users:
            return self._login_page(request, "", 503)
        if not await asyncio.to_thread(auth.verify, users, name, password):
            self.throttle.failed(f"user:{name}", f"ip:{client}")
            self.store.audit(name, "login_failed", client=client)
            return self._login_page(request, "Sai tên đăng nhập hoặc mật khẩu.", 401)
        self.throttle.succeeded(f"user:{name}")
        token, _session = self.sessions.open(name)
        self.store.audit(name, "login", client=client)
        response = web.HTTPSeeOther(_next_page(request.query.get("next")), headers=HEADERS)
        self._set_cookie(response, request, SESSION_COOKIE, token, int(self.sessions.lifetime_s))
        response.del_cookie(LOGIN_COOKIE, path=PREFIX)
        raise response

    async def _logout(self, request: web.Request) -> web.Response:
        self.sessions.close(request.cookies.get(SESSION_COOKIE))
        self.store.audit(_user(request), "logout")
        response = web.json_response({"ok": True})
        response.del_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    # ----- the page -------------------------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(body=(STATIC / "index.html").read_bytes(), content_type="text/html", charset="utf-8")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name", "studio.css")
        if name not in FILES:
            raise web.HTTPNotFound()
        return web.Response(body=(STATIC / name).read_bytes(), headers={"Content-Type": FILES[name]})

    async def _session(self, request: web.Request) -> web.Response:
        session = request[SESSION]
        assert session is not None  # behind the guard
        return web.json_response({"user": session.user, "csrf": session.csrf,
                                  "max_upload_bytes": self.max_upload, "loudness_lufs": self.target_lufs})

    async def _sentences(self, request: web.Request) -> web.Response:
        def listing() -> list[dict[str, Any]]:
            current = self.content.current()
            status = self.store.status(current)
            return [{"id": s.id, "kind": s.kind, "group": s.group, "group_title": s.group_title,
                     "text": s.text, **status[s.id]} for s in current.values()]

        sentences = await asyncio.to_thread(listing)
        return web.json_response({"sentences": sentences, "content_error": self.content.broken})

    async def _sentence(self, request: web.Request) -> Sentence:
        rid = request.match_info["id"]
        sentence = (await asyncio.to_thread(self.content.current)).get(rid) if SENTENCE_ID.match(rid) else None
        if sentence is None:
            raise json_error(404, "unknown_sentence", "Không có câu nào mang mã này.")
        return sentence

    # ----- audio to listen to ---------------------------------------------------------------------
    async def _sentence_audio(self, request: web.Request) -> web.Response:
        sentence = await self._sentence(request)
        which = request.match_info["which"]
        if which == "synthetic":
            pcm = await self._synthetic(sentence.text)
        else:
            path = self.store.recording_path(sentence.id, which)
            if path is None:
                raise json_error(404, "no_recording", "Chưa có bản thu.")
            pcm = (await asyncio.to_thread(read_audio, path, PHONE_RATE))[0]
        # As the caller hears it: 8 kHz, through G.711 µ-law.
        return wav_response(await asyncio.to_thread(through_phone_line, pcm, PHONE_RATE), PHONE_RATE)

    async def _clarity(self, request: web.Request) -> web.Response:
        """How well a caller follows this sentence, as `bot prompts --check --jsonl` measures it:
        the recogniser's CER over a phone line, for the synthetic voice and the live recording.
        Remembered per text and file version, so asking again costs nothing."""
        sentence = await self._sentence(request)
        out: dict[str, Any] = {}
        sources: list[tuple[str, Any]] = [("synthetic", None)]
        path = self.store.recording_path(sentence.id, "current")
        status = (await asyncio.to_thread(self.store.status, {sentence.id: sentence}))[sentence.id]["status"]
        if path is not None and status == "current":
            stat = path.stat()
            sources.append(("recording", (str(path), stat.st_mtime_ns, stat.st_size)))
        for source, version in sources:
            key = (sentence.id, sentence.text, source, version, self.tts.voice_key if self.tts else "")
            if key not in self._clarity_seen:
                if source == "synthetic":
                    pcm, rate = await self._synthetic(sentence.text), PHONE_RATE
                else:
                    pcm, rate = await asyncio.to_thread(read_audio, path)
                async with self._one_take:
                    check = await asyncio.to_thread(self.transcriber.check, sentence.text, pcm, rate)
                self._clarity_seen[key] = {"cer": round(check.cer, 3), "heard": check.heard}
            out[source] = self._clarity_seen[key]
        return web.json_response(out)

    async def _synthetic(self, text: str) -> np.ndarray:
        """The synthetic voice for `text`, from the prompt cache (rendered now if missing),
        ignoring recordings: what callers hear if no take is live."""
        if self.cache is None or self.tts is None:
            raise json_error(404, "no_voice", "Không có giọng tổng hợp trên máy này.")
        pieces = []
        for part in split_sentences(text):
            path = self.cache.path(part)
            if not path.exists():
                self.cache.put(part, await self.tts.synth(part), self.tts.sample_rate)
            pieces.append((await asyncio.to_thread(read_audio, path, PHONE_RATE))[0])
        return np.concatenate(pieces) if pieces else np.zeros(0, np.int16)

    async def _take_audio(self, request: web.Request) -> web.Response:
        try:
            path = self.store.take_audio(request.match_info["take"])
        except StudioError as exc:
            raise json_error(exc.status, exc.code, str(exc)) from None
        return web.Response(body=path.read_bytes(), content_type="audio/wav")

    # ----- takes ----------------------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.Response:
        sentence = await self._sentence(request)
        data = await self._body(request)
        user = _user(request)
        async with self._one_take:
            try:
                processed = await asyncio.to_thread(process, data, self.target_lufs)
            except TakeError as exc:
                self.store.audit(user, "take_refused", sentence.id, reason=exc.code, bytes=len(data))
                raise json_error(415 if exc.code == "format" else 422, exc.code, str(exc)) from None
            phone = np.zeros(0, np.int16)
            words: dict[str, Any] | None = None
            if not processed.blocked:
                phone = await asyncio.to_thread(through_phone_line, processed.pcm, RATE)
                check = await asyncio.to_thread(self.transcriber.check, sentence.text, processed.pcm, RATE)
                words = {"ok": check.ok, "cer": round(check.cer, 3), "heard": check.heard, "reason": check.reason,
                         "differences": [d.__dict__ for d in check.differences]}
        flags = [{"code": f.code, "message": f.message, "blocking": f.blocking} for f in processed.flags]
        report = {
            "format": processed.format, "seconds_in": processed.seconds_in, "seconds": processed.seconds,
            "trimmed_start_s": processed.trimmed_start_s, "trimmed_end_s": processed.trimmed_end_s,
            "loudness_in": processed.loudness_in, "loudness_out": processed.loudness_out,
            "gain_db": processed.gain_db, "clipped_fraction": processed.clipped_fraction,
            "snr_db": processed.snr_db, "flags": flags, "words": words}
        report = finite(report)
        needs_override = bool(flags) or not (words or {}).get("ok", False)
        take = await asyncio.to_thread(self.store.new_take, sentence, user, processed.pcm, RATE, phone,
                                       PHONE_RATE, report, needs_override, processed.blocked)
        return web.json_response({"take": take.take, "sentence": sentence.id, "report": report,
                                  "needs_override": needs_override, "blocked": processed.blocked})

    async def _body(self, request: web.Request) -> bytes:
        """The raw upload, refused past the size limit without reading it all into memory."""
        length = request.content_length
        if length is not None and length > self.max_upload:
            raise json_error(413, "too_big", f"Tệp lớn quá {self.max_upload // 2**20} MB.")
        chunks, size = [], 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.max_upload:
                raise json_error(413, "too_big", f"Tệp lớn quá {self.max_upload // 2**20} MB.")
            chunks.append(chunk)
        if not size:
            raise json_error(400, "empty", "Không có âm thanh trong yêu cầu.")
        return b"".join(chunks)

    async def _accept(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        override = isinstance(body, dict) and body.get("override") is True
        user = _user(request)
        try:
            current = await asyncio.to_thread(self.content.current)
            meta = await asyncio.to_thread(self.store.accept, request.match_info["take"], user, override, current)
        except StudioError as exc:
            raise json_error(exc.status, exc.code, str(exc)) from None
        return web.json_response({"ok": True, "recording": meta})

    async def _restore(self, request: web.Request) -> web.Response:
        sentence = await self._sentence(request)
        try:
            meta = await asyncio.to_thread(self.store.restore, sentence.id, _user(request))
        except StudioError as exc:
            raise json_error(exc.status, exc.code, str(exc)) from None
        return web.json_response({"ok": True, "recording": meta})


def _user(request: web.Request) -> str:
    session = request[SESSION]
    assert session is not None  # only routes behind the guard ask, and the guard checked
    return session.user


def _next_page(wanted: str | None) -> str:
    """Where a login returns to: the page that asked for it, if it is one of ours (never elsewhere)."""
    return wanted if wanted and NEXT_PAGE.match(wanted) and "//" not in wanted else f"{PREFIX}/"


def _same(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


def mount_studio(app: web.Application, settings: Settings, cache: PromptCache | None = None,
                 tts: TtsEngine | None = None) -> Studio | None:
    """Serve the studio at /studio on `app` (the browser transport's server), unless disabled."""
    if not settings.studio.enabled:
        return None
    studio = Studio(settings, cache, tts)
    if settings.supervisor.enabled:  # the supervisors' pages share this login (bot/supervisor/pages.py)
        from bot.supervisor.pages import Supervisor

        Supervisor(settings, _user).add_routes(studio.app)
        Supervisor.add_short_routes(app)
    app.add_subapp(PREFIX, studio.app)
    return studio
