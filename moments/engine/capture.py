"""When a clip was shot, from its container's tags: the order of a reel made of many clips."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

log = logging.getLogger(__name__)

WHEN_KEYS = ("com.apple.quicktime.creationdate", "creation_time")
"""Tags read, best first. Apple's is the moment of capture with its local time zone; the MP4
header's ``creation_time`` is UTC, and an editing app may have set it to when it exported."""


def capture_time(tags: Mapping[str, str]) -> datetime | None:
    """When the clip was shot (aware, UTC), from its container ``tags``; None when no tag
    says (or none reads as a date: the values are the file's own, untrusted)."""
    for key in WHEN_KEYS:
        value = tags.get(key)
        if not value or len(value) > 64:
            continue
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            log.info("unreadable %s tag %r", key, value)
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if when.year < 1971:  # a camera's clock never set: 1904 or 1970 (zero in the header)
            continue
        return when.astimezone(UTC)
    return None
