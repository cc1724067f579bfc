"""The supervisors' pages, served by the voice studio's sub-application (bot/studio/app.py) so
they sit behind its login, its session cookie and its security headers: one login for both.

    /studio/supervisor/?from=YYYY-MM-DD&to=YYYY-MM-DD   the figures of `bot report` with charts
    /studio/supervisor/call/<id>                         one call's record and events
    /supervisor, /supervisor/call/<id>                   short addresses (redirects to the above)

Every page is HTML made here (escaped), with inline SVG charts (charts.py): no script at all.
Database reads run in a worker thread (data.py).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.records.report import BRANCHES
from bot.supervisor.charts import bar_chart
from bot.supervisor.data import OUTCOMES, Records

STATIC = Path(__file__).resolve().parent / "static"
BASE = "/studio/supervisor"
CALL_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
OUTCOME_NAMES = {"answered": "Bot đã trả lời", "transferred": "Đã chuyển máy", "abandoned": "Người gọi gác máy",
                 "hangup": "Bot kết thúc (không trả lời)", "gateway_died": "Gián đoạn (tổng đài ngừng)",
                 "in_progress": "Đang diễn ra"}


class Supervisor:
    def __init__(self, settings: Any, user_of: Any) -> None:
        """`user_of(request)`: the logged-in user's name (the studio's session)."""
        self.records = Records(settings)
        self.tz = settings.records.timezone
        self.enabled_records = settings.records.enabled
        self.user_of = user_of

    def add_routes(self, app: web.Application) -> None:
        """On the studio's sub-application (paths relative to /studio)."""
        r = app.router
        r.add_get("/supervisor", self._slash)
        r.add_get("/supervisor/", self._figures)
        r.add_get("/supervisor/call", self._call_by_form)
        r.add_get("/supervisor/call/{id}", self._call)
        r.add_get("/supervisor/static/supervisor.css", self._css)
        app.on_cleanup.append(self._cleanup)

    @staticmethod
    def add_short_routes(app: web.Application) -> None:
        """/supervisor... on the main application: redirects to the pages behind the login."""
        async def short(request: web.Request) -> web.Response:
            target = BASE + (request.path.removeprefix("/supervisor") or "/")
            raise web.HTTPFound(target + (f"?{request.query_string}" if request.query_string else ""))
        app.router.add_get("/supervisor", short)
        app.router.add_get("/supervisor/{tail:.*}", short)

    async def _cleanup(self, app: web.Application) -> None:
        await asyncio.to_thread(self.records.close)

    async def _slash(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{BASE}/" + (f"?{request.query_string}" if request.query_string else ""))

    async def _css(self, request: web.Request) -> web.Response:
        return web.Response(body=(STATIC / "supervisor.css").read_bytes(), content_type="text/css", charset="utf-8")

    # ----- the figures --------------------------------------------------------------------------
    def _dates(self, request: web.Request) -> tuple[dt.date, dt.date]:
        today = dt.datetime.now(ZoneInfo(self.tz)).date()
        try:
            start = dt.date.fromisoformat(request.query.get("from") or today.isoformat())
            end = dt.date.fromisoformat(request.query.get("to") or start.isoformat())
        except ValueError:
            raise self._error(400, "Ngày không hợp lệ: dùng dạng YYYY-MM-DD.") from None
        if start > end:
            raise self._error(400, "Ngày bắt đầu sau ngày kết thúc.")
        return start, end

    async def _figures(self, request: web.Request) -> web.Response:
        start, end = self._dates(request)
        try:
            r = await asyncio.to_thread(self.records.figures, start, end)
        except Exception as exc:  # noqa: BLE001 - a database problem is shown, not a stack trace
            raise self._error(503, f"Không đọc được cơ sở dữ liệu cuộc gọi: {str(exc).splitlines()[0]}") from None
        form = (f'<form class="range" method="get" action="{BASE}/">'
                f'<label>Từ ngày <input type="date" id="from" name="from" value="{start}"></label>'
                f'<label>Đến ngày <input type="date" id="to" name="to" value="{end}"></label>'
                '<button type="submit">Xem</button></form>'
                f'<form class="open-call" method="get" action="{BASE}/call">'
                '<label>Mở cuộc gọi theo mã <input name="id" id="call-id" required></label>'
                '<button type="submit">Mở</button></form>')
        if r is None:
            note = ("Chưa có bản ghi cuộc gọi nào (cơ sở dữ liệu chưa được tạo)." if self.enabled_records
                    else "Không ghi cuộc gọi vào cơ sở dữ liệu (records.enabled: false).")
            return self._page("Số liệu cuộc gọi", request, form + f'<p class="note" id="no-records">{note}</p>')
        return self._page("Số liệu cuộc gọi", request, form + self._report_html(r, start, end))

    def _report_html(self, r: dict[str, Any], start: dt.date, end: dt.date) -> str:
        lat = r["latency_ms"]
        figures = [("calls", "Cuộc gọi đến", r["calls"]), ("answered", "Bot đã trả lời", r["answered"]),
                   ("transferred", "Đã chuyển máy", r["transferred_total"]),
                   ("abandoned", "Người gọi gác máy", r["abandoned"]),
                   ("ended_by_bot", "Bot kết thúc", r["ended_by_bot"]),
                   ("gateway_died", "Gián đoạn (tổng đài ngừng)", r["gateway_died"]),
                   ("p50", "Độ trễ trả lời p50 (ms)", _dash(lat["p50"])),
                   ("p95", "Độ trễ trả lời p95 (ms)", _dash(lat["p95"]))]
        span = f"{start}" if start == end else f"{start} – {end}"
        out = [f'<h2>{escape(span)} <small>({escape(self.tz)})</small></h2><dl class="figures">']
        out += [f'<div><dt>{escape(label)}</dt><dd id="fig-{key}">{escape(str(value))}</dd></div>'
                for key, label, value in figures]
        out.append("</dl><div class=\"charts\">")
        out.append(bar_chart("chart-hours", "Cuộc gọi theo giờ trong ngày",
                             [(f"{h:02d}", n) for h, n in enumerate(r["per_hour"])], label_every=3))
        out.append(bar_chart("chart-outcomes", "Kết quả cuộc gọi",
                             [(OUTCOME_NAMES[o], r["outcomes"].get(o, 0)) for o in OUTCOMES]))
        out.append(bar_chart("chart-branches", "Chuyển máy theo nhánh",
                             [(f"Nhánh {b}", r["transferred"].get(b, 0)) for b in BRANCHES]))
        out.append("</div>")
        out.append(_table("reasons", "Lý do chuyển máy", ["Nhánh", "Lý do", "Cuộc gọi"],
                          [[t["branch"], t["reason"], t["calls"]] for t in r["transfers"]]))
        out.append(_table("top-questions", "Câu hỏi được trả lời nhiều nhất", ["Mục FAQ", "Lần trả lời"],
                          [[q["faq_id"], q["answers"]] for q in r["top_questions"]]))
        if not r["calls_with_transcripts"]:
            out.append('<h3>Câu hỏi chưa trả lời được</h3><p class="note" id="unanswered-none">Không lưu lời người '
                       "gọi (privacy.keep_transcripts: false), nên không có danh sách.</p>")
        else:
            rows = [[f'<a href="{BASE}/call/{quote(q["call_id"])}">{escape(self._local(q["started_at"]))}</a>', escape(q["text"]),
                     escape(str(q["intent"]))] for q in r["unanswered"]]
            out.append(_table("unanswered", "Câu hỏi chưa trả lời được (số điện thoại đã che)",
                              ["Thời điểm", "Người gọi nói", "Ý định"], rows, raw=True))
        return "".join(out)

    def _local(self, utc_iso: str) -> str:
        """'2026-12-01T16:30:00Z' -> '2026-12-01 23:30' in the records' time zone."""
        try:
            when = dt.datetime.fromisoformat(utc_iso.replace("Z", "+00:00"))
        except ValueError:
            return utc_iso
        return when.astimezone(ZoneInfo(self.tz)).strftime("%Y-%m-%d %H:%M")

    # ----- one call -----------------------------------------------------------------------------
    async def _call_by_form(self, request: web.Request) -> web.Response:
        call_id = request.query.get("id", "").strip()
        if not CALL_ID.match(call_id):
            raise self._error(400, "Mã cuộc gọi không hợp lệ.")
        raise web.HTTPSeeOther(f"{BASE}/call/{quote(call_id)}")

    async def _call(self, request: web.Request) -> web.Response:
        call_id = request.match_info["id"]
        if not CALL_ID.match(call_id):
            raise self._error(400, "Mã cuộc gọi không hợp lệ.")
        try:
            c = await asyncio.to_thread(self.records.call, call_id)
        except Exception as exc:  # noqa: BLE001
            raise self._error(503, f"Không đọc được cơ sở dữ liệu cuộc gọi: {str(exc).splitlines()[0]}") from None
        if c is None:
            raise self._error(404, "Không có cuộc gọi nào mang mã này.")
        facts = [("id", "Mã", c["id"]), ("started", "Bắt đầu", c["started"].strftime("%Y-%m-%d %H:%M:%S")),
                 ("caller", "Số gọi (đã che)", c["caller"] or "—"), ("transport", "Đường vào", c["transport"]),
                 ("outcome", "Kết quả", OUTCOME_NAMES.get(c["outcome"], c["outcome"])),
                 ("branch", "Nhánh", _dash(c["branch"])), ("reason", "Lý do", c["reason"] or "—"),
                 ("turns", "Lượt hỏi", c["turns"]), ("answers", "Mục FAQ đã đọc", ", ".join(c["answers"]) or "—"),
                 ("danger", "Nguy hiểm", c["danger"] or "—"), ("duration", "Thời lượng (s)", round(c["duration_s"], 1)),
                 ("latency", "Độ trễ trả lời (ms)", ", ".join(map(str, c["latency_ms"])) or "—")]
        out = ['<dl class="facts">']
        out += [f'<div><dt>{escape(label)}</dt><dd id="call-{key}">{escape(str(v))}</dd></div>' for key, label, v in facts]
        out.append("</dl>")
        if c["transcripts_removed_at"] is not None:
            out.append('<p class="note">Lời người gọi đã được xoá theo thời hạn lưu giữ.</p>')
        elif not c["transcripts"]:
            out.append('<p class="note" id="no-words">Cuộc gọi này không lưu lời người gọi '
                       "(privacy.keep_transcripts: false).</p>")
        rows = [[_dash(None if e["t"] is None else f"{e['t']:.2f}"), e["kind"],
                 json.dumps(e["data"], ensure_ascii=False), json.dumps(e["words"], ensure_ascii=False) if e["words"] else ""]
                for e in c["events"]]
        out.append(_table("events", "Diễn biến", ["Giây", "Sự kiện", "Chi tiết", "Lời người gọi"], rows))
        out.append(f'<p><a href="{BASE}/">← Số liệu</a></p>')
        return self._page(f"Cuộc gọi {call_id}", request, "".join(out))

    # ----- page frame ---------------------------------------------------------------------------
    def _page(self, title: str, request: web.Request, body: str, status: int = 200) -> web.Response:
        user = self.user_of(request)
        page = ('<!doctype html><html lang="vi"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{escape(title)} — Tổng đài 1022 nhánh 7</title>"
                f'<link rel="stylesheet" href="{BASE}/static/supervisor.css"></head><body>'
                f'<header><h1>{escape(title)}</h1><nav><a href="{BASE}/">Số liệu</a> · <a href="/studio/">Phòng thu</a>'
                f' · <span id="user">{escape(user)}</span></nav></header><main>{body}</main></body></html>')
        return web.Response(text=page, content_type="text/html", status=status)

    def _error(self, status: int, message: str) -> web.HTTPException:
        cls = {400: web.HTTPBadRequest, 404: web.HTTPNotFound, 503: web.HTTPServiceUnavailable}[status]
        page = ('<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Lỗi</title>'
                f'<link rel="stylesheet" href="{BASE}/static/supervisor.css"></head><body><main>'
                f'<p class="error" id="error">{escape(message)}</p><p><a href="{BASE}/">← Số liệu</a></p>'
                "</main></body></html>")
        return cls(text=page, content_type="text/html")


def _dash(value: Any) -> str:
    return "—" if value is None else str(value)


def _table(table_id: str, title: str, head: list[str], rows: list[list[Any]], raw: bool = False) -> str:
    """A titled table; cells escaped unless `raw` (cells already made safe by the caller)."""
    cell = (lambda v: str(v)) if raw else (lambda v: escape(str(v)))
    if not rows:
        return f'<h3>{escape(title)}</h3><p class="note" id="{table_id}-empty">Không có.</p>'
    out = [f'<h3>{escape(title)}</h3><table id="{table_id}"><thead><tr>']
    out += [f"<th>{escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    out += ["<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows]
    out.append("</tbody></table>")
    return "".join(out)


__all__ = ["Supervisor"]
