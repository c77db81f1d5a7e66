"""What the reel says about where, when and with what it was shot: its container metadata.

A reel is made to be shared, so it carries an allowlist of the source's tags, nothing else:
when it was shot (``creation_time``, which the MP4 muxer writes into the movie and track
headers, and Apple's ``com.apple.quicktime.creationdate`` with its local time zone), and
where only when asked (``keep_location``: ``location``, QuickTime's ``©xyz``, and Apple's
``com.apple.quicktime.location.ISO6709``). Device make, model and software (Apple's
``com.apple.quicktime.make/model/software``, ``©mak``/``©mod``, Android's
``com.android.manufacturer/model``) and anything else are never copied, and neither the full
nor the smart render brings tags along from the source any other way.

Keys FFmpeg can only write as QuickTime ``mdta`` keys (dotted names) need the muxer's
``use_metadata_tags`` flag; it is set only when such a key is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import av

from ..models import MediaInfo
from ..probe import reopen
from .soundtrack import MUX_OPTIONS

WHEN = ("creation_time", "com.apple.quicktime.creationdate")
"""Tags every reel keeps: when the source was shot."""
WHERE = ("location", "com.apple.quicktime.location.ISO6709")
"""Tags a reel keeps only with ``keep_location``: where the source was shot."""

_MAX_VALUE = 100
_ISO6709 = re.compile(r"[+-]\d{1,3}(\.\d+)?[+-]\d{1,3}(\.\d+)?([+-]\d+(\.\d+)?)?(CRS[\w:]+)?/?")
_PRINTABLE = re.compile(r"[ -~]+")


def source_metadata(media: MediaInfo) -> dict[str, str]:
    """The source container's tags, as FFmpeg reads them (QuickTime udta, mdta keys, ilst)."""
    with reopen(media) as container:
        return dict(container.metadata)


def reel_metadata(source: Mapping[str, str], keep_location: bool = False) -> dict[str, str]:
    """The tags the reel carries, from the source's ``source`` (see the module's docstring).

    Values are the source's own, untrusted: only short printable ones are kept, and a
    location only when it reads as ISO 6709 (``+37.3349-122.0090+010.000/``).
    """
    keys = WHEN + (WHERE if keep_location else ())
    kept: dict[str, str] = {}
    for key in keys:
        value = source.get(key)
        if key == "location" and value is None:
            value = source.get("location-eng")  # ©xyz as FFmpeg names it with a language
        if value is None or len(value) > _MAX_VALUE or not _PRINTABLE.fullmatch(value):
            continue
        if key in WHERE and not _ISO6709.fullmatch(value):
            continue
        kept[key] = value
    return kept


def open_reel(
    path: Path,
    metadata: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> av.container.OutputContainer:
    """The reel's MP4 muxer, opened with ``metadata`` as its container tags (``extra``: more
    muxer options)."""
    metadata = dict(metadata or {})
    options = {**MUX_OPTIONS, **(extra or {})}
    if any("." in key for key in metadata):
        options["movflags"] = f"{options.get('movflags', '')}+use_metadata_tags"
    out = av.open(str(path), "w", format="mp4", options=options)
    out.metadata.update(metadata)
    return out
