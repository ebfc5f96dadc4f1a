"""The body of a platform's notify, read only up to what a notify can be (the limit the raw column keeps)."""
from __future__ import annotations

from flask import request

from portal.payments.notify import RAW_LIMIT


def capped_body() -> bytes | None:
    """The request body, or None when it is larger than a notify can be (then it is not read any further)."""
    if (request.content_length or 0) > RAW_LIMIT:
        return None
    # One byte past the limit tells an oversized chunked body (no Content-Length) from one that fits; a
    # stream may hand over less than asked at a time. (`max_content_length` would cut such a body off at
    # the limit and hand it over truncated.)
    body = b""
    while len(body) <= RAW_LIMIT:
        chunk = request.stream.read(RAW_LIMIT + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return None if len(body) > RAW_LIMIT else body
