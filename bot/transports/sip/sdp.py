"""SDP offer/answer for one audio stream (RFC 4566 syntax, RFC 3264 negotiation).

We take G.711 µ-law (PCMU, payload type 0) or A-law (PCMA, 8) at 8 kHz, RFC 4733
telephone-event at 8 kHz and RFC 3389 comfort noise (CN/8000, static type 13) under whatever
payload types the offer gives them. Accepting CN lets a line that suppresses silence tell us its
caller is silent (and how loud the line's noise is) instead of sending nothing or G.711 silence. `SdpError` is the only
error raised on input; `NotAcceptable` (a subclass) means "valid, but no codec we speak" (488).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

MAX_SDP_BYTES = 8192
OUR_CODECS = {"PCMU": 0, "PCMA": 8}
STATIC = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 3: ("GSM", 8000), 4: ("G723", 8000), 9: ("G722", 8000),
          18: ("G729", 8000), 13: ("CN", 8000)}  # RFC 3551 section 6
DEFAULT_DTMF_PT = 101
CN_PT = 13  # RFC 3551 section 6: CN/8000
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
                     "inactive": "inactive"}


class SdpError(ValueError):
    """Not a session description we can read."""


class NotAcceptable(SdpError):
    """A valid offer without any codec we support (answer 488 Not Acceptable Here)."""


@dataclass
class Media:
    kind: str
    port: int
    proto: str
    formats: list[str]
    address: str = ""
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)
    direction: str = ""
    ptime: int = 0


@dataclass
class Session:
    address: str = ""
    direction: str = "sendrecv"
    media: list[Media] = field(default_factory=list)


@dataclass(frozen=True)
class Negotiated:
    """What one call's RTP uses."""

    pt: int
    encoding: str          # PCMU | PCMA
    dtmf_pt: int | None
    remote: tuple[str, int]
    direction: str         # our direction in the answer: may we send, do we receive
    media_index: int = 0   # which m= line carries the audio
    cn_pt: int | None = None  # RFC 3389 comfort noise, if both sides take it

    @property
    def sending(self) -> bool:
        return self.direction in ("sendrecv", "sendonly") and self.remote[0] not in ("0.0.0.0", "::")


def parse_sdp(body: bytes | str) -> Session:
    if isinstance(body, bytes):
        if len(body) > MAX_SDP_BYTES:
            raise SdpError("SDP too long")
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpError("SDP is not UTF-8") from exc
    session = Session()
    current: Media | None = None
    seen_v = False
    for raw in body.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"bad SDP line {line[:40]!r}")
        kind, value = line[0], line[2:].strip()
        if kind == "v":
            seen_v = True
        elif kind == "c":
            addr = _connection(value)
            if current is None:
                session.address = addr
            else:
                current.address = addr
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4 or not parts[1].split("/")[0].isdigit() or len(parts[1]) > 12:
                raise SdpError(f"bad m= line {value[:40]!r}")
            port = int(parts[1].split("/")[0])
            if port > 65535:
                raise SdpError("bad port")
            current = Media(parts[0].lower(), port, parts[2].upper(), parts[3:])
            session.media.append(current)
        elif kind == "a":
            name, _, arg = value.partition(":")
            if name in DIRECTIONS:
                if current is None:
                    session.direction = name
                else:
                    current.direction = name
            elif current is not None and name == "rtpmap":
                pt, _, enc = arg.partition(" ")
                pieces = enc.strip().split("/")
                if pt.isdigit() and int(pt) < 128 and len(pieces) >= 2 and pieces[1].isdigit() and len(pieces[1]) < 7:
                    current.rtpmap[int(pt)] = (pieces[0].upper(), int(pieces[1]))
            elif current is not None and name == "ptime" and arg.strip().isdigit() and len(arg.strip()) < 5:
                current.ptime = int(arg.strip())
    if not seen_v:
        raise SdpError("no v= line")
    return session


def _connection(value: str) -> str:
    parts = value.split()
    if len(parts) < 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"bad c= line {value[:40]!r}")
    addr = parts[2].split("/")[0]
    try:
        ipaddress.ip_address(addr)
    except ValueError as exc:
        raise SdpError(f"c= address is not an IP address: {addr[:40]!r}") from exc
    return addr


def _encoding(media: Media, pt: int) -> tuple[str, int] | None:
    return media.rtpmap.get(pt) or STATIC.get(pt)


def negotiate(offer: Session) -> Negotiated:
    """Pick the first PCMU/PCMA of the first usable audio stream, in the offer's order of preference
    (RFC 3264 section 6.1), and telephone-event/8000 if offered."""
    for index, media in enumerate(offer.media):
        if media.kind != "audio" or media.port == 0 or media.proto not in ("RTP/AVP", "RTP/AVPF"):
            continue
        codec = dtmf = cn = None
        for fmt in media.formats:
            if not fmt.isdigit() or int(fmt) > 127:
                continue
            enc = _encoding(media, int(fmt))
            if enc is None:
                continue
            if codec is None and enc[0] in OUR_CODECS and enc[1] == 8000:
                codec = (int(fmt), enc[0])
            elif dtmf is None and enc[0] == "TELEPHONE-EVENT" and enc[1] == 8000:
                dtmf = int(fmt)
            elif cn is None and enc[0] == "CN" and enc[1] == 8000:
                cn = int(fmt)
        if codec is None:
            continue
        address = media.address or offer.address
        if not address:
            raise SdpError("no connection address")
        direction = _ANSWER_DIRECTION[media.direction or offer.direction]
        return Negotiated(codec[0], codec[1], dtmf, (address, media.port), direction, index, cn)
    raise NotAcceptable("no PCMU or PCMA audio stream offered")


def build_sdp(address: str, port: int, session_id: int, version: int, *, negotiated: Negotiated | None = None,
              offer: Session | None = None) -> bytes:
    """Our SDP: the answer to `offer` using `negotiated`, or (without them) our own offer."""
    ip = "IP6" if ":" in address else "IP4"
    lines = ["v=0", f"o=- {session_id} {version} IN {ip} {address}", "s=branch7", f"c=IN {ip} {address}", "t=0 0"]

    def audio(neg: Negotiated) -> list[str]:
        pt, dtmf, cn = neg.pt, neg.dtmf_pt, neg.cn_pt
        fmts = [str(pt)] + [str(x) for x in (dtmf, cn) if x is not None]
        out = [f"m=audio {port} RTP/AVP {' '.join(fmts)}", f"a=rtpmap:{pt} {neg.encoding}/8000"]
        if dtmf is not None:
            out += [f"a=rtpmap:{dtmf} telephone-event/8000", f"a=fmtp:{dtmf} 0-16"]
        if cn is not None:
            out.append(f"a=rtpmap:{cn} CN/8000")
        return out + ["a=ptime:20", f"a={neg.direction}"]

    if negotiated is None or offer is None:
        lines += [f"m=audio {port} RTP/AVP 0 8 {DEFAULT_DTMF_PT} {CN_PT}", "a=rtpmap:0 PCMU/8000",
                  "a=rtpmap:8 PCMA/8000", f"a=rtpmap:{DEFAULT_DTMF_PT} telephone-event/8000",
                  f"a=fmtp:{DEFAULT_DTMF_PT} 0-16", f"a=rtpmap:{CN_PT} CN/8000", "a=ptime:20", "a=sendrecv"]
    else:
        # RFC 3264 section 6: as many m= lines as the offer; the ones we refuse get port 0.
        for index, media in enumerate(offer.media):
            if index == negotiated.media_index:
                lines += audio(negotiated)
            else:
                lines.append(f"m={media.kind} 0 {media.proto} {' '.join(media.formats)}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
