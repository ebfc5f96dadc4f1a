"""Gzip for text answers when the browser accepts it, so the tenant page stays under 150 KB on the wire (SPEC §5).

WeUI's stylesheet alone is 188 KB; gzipped it is about 25 KB. Static files are compressed once per
version (their ETag) and kept; pages are small and compressed per request. A proxy in front that
compresses itself sees Content-Encoding and leaves the answer alone. (Flask-Compress 1.25 was tried and
left out: compressing Flask's static responses it leaves their file handles open.)
"""
from __future__ import annotations

import gzip
from functools import lru_cache

from flask import Flask, Response, request

COMPRESSIBLE = frozenset({"text/html", "text/css", "text/javascript", "application/javascript", "application/json",
                          "image/svg+xml", "text/csv", "text/plain"})
#: below this, gzip's header costs more than it saves
MIN_BYTES = 1024


def init_app(app: Flask) -> None:
    """Compress eligible responses of every blueprint and of the static route."""
    app.after_request(gzip_response)


@lru_cache(maxsize=64)
def _gzip_static(etag: str, body: bytes) -> bytes:
    """A static file's gzip, computed once per version (the ETag names the version)."""
    return gzip.compress(body, compresslevel=9, mtime=0)


def gzip_response(response: Response) -> Response:
    """Gzip the body when it is text, large enough, not yet encoded, and the client says it accepts gzip."""
    if (response.status_code != 200 or response.mimetype not in COMPRESSIBLE
            or "Content-Encoding" in response.headers or "gzip" not in request.accept_encodings
            or (response.is_streamed and not response.direct_passthrough)):
        return response
    response.vary.add("Accept-Encoding")
    static = response.direct_passthrough
    if static:
        response.direct_passthrough = False  # read the file through, so it is closed here
    body = response.get_data()
    if len(body) < MIN_BYTES:
        return response
    etag, _weak = response.get_etag()
    if static and etag:
        packed = _gzip_static(etag, body)
    else:
        packed = gzip.compress(body, compresslevel=6, mtime=0)
    response.set_data(packed)
    response.headers["Content-Encoding"] = "gzip"
    if etag:
        # The bytes differ from the plain file's, so the validator is weak; If-None-Match still matches.
        response.set_etag(etag, weak=True)
    return response
