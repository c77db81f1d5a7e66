"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS): how to send a tus chunk body."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.serializer("application/offset+octet-stream")
def offset_octet_stream(ctx: Any, value: Any) -> bytes:
    """tus chunks are raw bytes; generated values may be bytes or text."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return str(value).encode()
