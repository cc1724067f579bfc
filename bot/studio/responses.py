"""The studio's HTTP answers: security headers on every response, JSON errors, WAV audio."""
from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
import soundfile as sf
from aiohttp import web

HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": ("default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "Permissions-Policy": "microphone=(self)",
}


def json_error(status: int, code: str, message: str) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
           409: web.HTTPConflict, 413: web.HTTPRequestEntityTooLarge, 415: web.HTTPUnsupportedMediaType,
           422: web.HTTPUnprocessableEntity}[status]
    body = json.dumps({"error": code, "message": message}, ensure_ascii=False)
    if cls is web.HTTPRequestEntityTooLarge:
        return web.HTTPRequestEntityTooLarge(max_size=0, actual_size=0, text=body, content_type="application/json",
                                             headers=HEADERS)
    return cls(text=body, content_type="application/json", headers=HEADERS)


def finite(value: Any) -> Any:
    """JSON has no infinity: a loudness of -inf (silence) is reported as null."""
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def wav_response(pcm: np.ndarray, rate: int) -> web.Response:
    buffer = io.BytesIO()
    sf.write(buffer, pcm, rate, format="WAV", subtype="PCM_16")
    return web.Response(body=buffer.getvalue(), content_type="audio/wav")
