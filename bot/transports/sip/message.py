"""SIP messages (RFC 3261 section 7): parse from bytes, build, serialise; URI helpers.

Parsing is strict about framing and lenient about content: a message that cannot be framed
(no start line, a bad header line, a wrong Content-Length, too big) raises `SipParseError`, the
only error this module raises on input; the server answers 400 or drops it.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

MAX_HEADERS = 120

# RFC 3261 section 7.3.3: compact header forms.
COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "e": "content-encoding", "k": "supported", "s": "subject",
           "o": "event", "r": "refer-to", "b": "referred-by", "u": "allow-events", "x": "session-expires"}
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_REQUEST_LINE = re.compile(r"^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP/2\.0$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9][0-9]) ?(.*)$")

REASONS = {100: "Trying", 180: "Ringing", 200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 413: "Request Entity Too Large",
           415: "Unsupported Media Type", 420: "Bad Extension", 481: "Call/Transaction Does Not Exist",
           486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
           500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable"}


class SipParseError(ValueError):
    """The bytes are not a SIP message we accept."""


def canonical(name: str) -> str:
    low = name.strip().lower()
    return COMPACT.get(low, low)


@dataclass
class SipMessage:
    """A request (`method`, `uri`) or a response (`status`, `reason`); headers keep their order."""

    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def get(self, name: str, default: str = "") -> str:
        key = canonical(name)
        for n, v in self.headers:
            if canonical(n) == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, comma-separated lists split (for Via, Record-Route)."""
        key = canonical(name)
        out: list[str] = []
        for n, v in self.headers:
            if canonical(n) == key:
                out += split_commas(v)
        return out

    def set(self, name: str, value: str) -> None:
        key = canonical(name)
        self.headers = [(n, v) for n, v in self.headers if canonical(n) != key]
        self.headers.append((name, value))

    @property
    def call_id(self) -> str:
        return self.get("call-id")

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.get("cseq"))

    @property
    def branch(self) -> str:
        vias = self.get_all("via")
        return params(vias[0]).get("branch", "") if vias else ""

    def to_bytes(self) -> bytes:
        start = f"{self.method} {self.uri} SIP/2.0" if self.is_request else f"SIP/2.0 {self.status} {self.reason}"
        lines = [start] + [f"{n}: {v}" for n, v in self.headers if canonical(n) != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def split_commas(value: str) -> list[str]:
    """Split a header value at commas outside quotes and <...> (RFC 3261 section 7.3.1)."""
    parts, depth, quoted, cur = [], 0, False, []
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        if ch == "," and not quoted and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def params(value: str) -> dict[str, str]:
    """`;name=value` parameters after the URI/sent-by part of a header value (lower-case names)."""
    rest = value.rsplit(">", 1)[1] if ">" in value else value
    out: dict[str, str] = {}
    for piece in rest.split(";")[1:]:
        name, _, val = piece.partition("=")
        if name.strip():
            out[name.strip().lower()] = val.strip().strip('"')
    return out


def addr_uri(value: str) -> str:
    """The URI of a name-addr or addr-spec header value (From, To, Contact, Refer-To)."""
    if "<" in value:
        inner = value.split("<", 1)[1]
        return inner.split(">", 1)[0].strip()
    return value.split(";", 1)[0].strip()


def escape_hvalue(value: str) -> str:
    """A URI header's name or value %-escaped (RFC 3261 section 19.1.1 and the `hvalue` rule of
    section 25.1): UTF-8, then every byte but RFC 3986's unreserved characters (letters, digits,
    "-", ".", "_", "~", all of them allowed in an hvalue) as %XX."""
    return quote(value, safe="", encoding="utf-8")


def with_headers(uri: str, headers: list[tuple[str, str]]) -> str:
    """`uri` with header fields for the request it leads to (RFC 3261 section 19.1.1):
    "sip:5@pbx?X-A=1&X-B=two%20words". A URI that already has headers keeps them."""
    if not headers:
        return uri
    fields = "&".join(f"{escape_hvalue(name)}={escape_hvalue(value)}" for name, value in headers)
    return f"{uri}{'&' if '?' in uri else '?'}{fields}"


def uri_headers(uri: str) -> tuple[str, list[tuple[str, str]]]:
    """A URI without its header part, and the headers (unescaped, in order): what a user agent
    sending a request to `uri` turns into request headers (RFC 3261 section 19.1.5)."""
    bare, _, query = uri.partition("?")
    headers = []
    for pair in query.split("&") if query else []:
        name, _, value = pair.partition("=")
        headers.append((unquote(name), unquote(value)))
    return bare, headers


def uri_host_port(uri: str, default_port: int = 5060) -> tuple[str, int] | None:
    """host and port of a sip: URI, or None when it has none we can use."""
    m = re.match(r"^sips?:(?:[^@;>]*@)?(\[[0-9a-fA-F:.]+\]|[^:;>?]+)(?::(\d{1,5}))?", uri.strip())
    if not m:
        return None
    port = int(m.group(2)) if m.group(2) else default_port
    if not 0 < port < 65536:
        return None
    return m.group(1).strip("[]"), port


def parse_cseq(value: str) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10 or not _TOKEN.match(parts[1]):
        raise SipParseError(f"bad CSeq {value[:40]!r}")
    return int(parts[0]), parts[1].upper()


def parse(data: bytes, max_bytes: int = 8192) -> SipMessage:
    """One SIP message from one datagram (or a framed stream chunk)."""
    if len(data) > max_bytes:
        raise SipParseError(f"message of {len(data)} bytes exceeds {max_bytes}")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
        if not sep:
            raise SipParseError("no end of headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("headers are not UTF-8") from exc
    raw_lines = text.replace("\r\n", "\n").split("\n")
    while raw_lines and not raw_lines[0].strip():
        raw_lines.pop(0)  # RFC 3261 section 7.5: ignore CRLFs before the start line
    if not raw_lines:
        raise SipParseError("empty message")
    msg = SipMessage()
    start = raw_lines[0].strip()
    if m := _REQUEST_LINE.match(start):
        msg.method, msg.uri = m.group(1).upper(), m.group(2)
    elif m := _STATUS_LINE.match(start):
        msg.status, msg.reason = int(m.group(1)), m.group(2)
    else:
        raise SipParseError(f"bad start line {start[:60]!r}")
    for line in raw_lines[1:]:
        if line[:1] in (" ", "\t"):  # RFC 3261 section 7.3.1: header folding
            if not msg.headers:
                raise SipParseError("continuation line before any header")
            n, v = msg.headers[-1]
            msg.headers[-1] = (n, f"{v} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.match(name):
            raise SipParseError(f"bad header line {line[:60]!r}")
        msg.headers.append((name, value.strip()))
        if len(msg.headers) > MAX_HEADERS:
            raise SipParseError("too many headers")
    length = msg.get("content-length")
    if length:
        if not length.isdigit() or len(length) > 6:
            raise SipParseError(f"bad Content-Length {length[:20]!r}")
        n = int(length)
        if n > len(body):
            raise SipParseError("body shorter than Content-Length")
        body = body[:n]
    msg.body = body
    # RFC 3261 section 8.1.1 / 8.2: the headers every message must carry.
    for required in ("via", "from", "to", "call-id", "cseq"):
        if not msg.get(required):
            raise SipParseError(f"missing {required}")
    _, cseq_method = parse_cseq(msg.get("cseq"))
    if msg.is_request and cseq_method != msg.method:
        raise SipParseError("CSeq method does not match the request")
    return msg


def request(method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"") -> SipMessage:
    return SipMessage(method=method, uri=uri, headers=list(headers), body=body)


def response(req: SipMessage, status: int, reason: str = "", to_tag: str = "",
             extra: list[tuple[str, str]] | None = None, body: bytes = b"") -> SipMessage:
    """A response to `req` (RFC 3261 section 8.2.6.2): Via, From, To (+tag), Call-ID, CSeq copied."""
    headers = [(n, v) for n, v in req.headers if canonical(n) == "via"]
    to = req.get("to")
    if to_tag and "tag" not in params(to):
        to = f"{to};tag={to_tag}"
    headers += [("From", req.get("from")), ("To", to), ("Call-ID", req.call_id), ("CSeq", req.get("cseq"))]
    if status == 200 or 101 <= status < 200:
        headers += [(n, v) for n, v in req.headers if canonical(n) == "record-route"]
    headers += extra or []
    return SipMessage(status=status, reason=reason or REASONS.get(status, "Unknown"), headers=headers, body=body)


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)  # RFC 3261 section 8.1.1.7: the magic cookie


def frame_stream(buffer: bytearray, max_bytes: int) -> bytes | None:
    """Cut one message off a TCP stream buffer (RFC 3261 section 18.3: Content-Length frames it).

    Returns None when more bytes are needed; raises SipParseError when the stream is broken."""
    while buffer[:2] == b"\r\n":  # keep-alive CRLFs
        del buffer[:2]
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > max_bytes:
            raise SipParseError("header block too long")
        return None
    m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d{1,6})[ \t]*\r?$", bytes(buffer[:end + 2]))
    if not m:
        raise SipParseError("stream message without Content-Length")
    total = end + 4 + int(m.group(1))
    if total > max_bytes:
        raise SipParseError("message too long")
    if len(buffer) < total:
        return None
    chunk = bytes(buffer[:total])
    del buffer[:total]
    return chunk
