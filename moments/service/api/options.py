"""The upload options (reel length, shape, callback URL...) as both upload routes take them:
form fields or the query string (``POST /upload``), tus ``Upload-Metadata`` (``tus``).

They are checked as the engine checks them (``HighlightOptions``) before any bytes are kept,
and the job stores them as a plain dict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.concurrency import run_in_threadpool

from moments.engine import EngineError, HighlightOptions
from moments.engine.models import CODECS, HDR_MODES, RESOLUTIONS
from moments.service.notify.webhooks import allows_private, check_url
from moments.service.problems import Problem, invalid_request

from .schemas import Aspect

if TYPE_CHECKING:
    from moments.service.auth.deps import AccountServices
    from moments.service.settings import Settings

FLAG_WORDS = {
    **dict.fromkeys(("true", "1", "yes", "on"), True),
    **dict.fromkeys(("false", "0", "no", "off"), False),
}
"""How a yes/no option may be spelled in a form field or tus metadata (the query string's
booleans are FastAPI's, which take the same words)."""
CODEC = (
    "Video codec of the reel: auto (the source's where its pictures are copied: H.264 stays "
    "H.264, HEVC stays HEVC; else H.264), h264 (for players without HEVC) or hevc."
)
HDR = (
    "What an HDR (HLG or PQ) video gives: keep (a 10-bit HDR reel, HEVC Main 10 with the "
    "video's colour) or sdr (tone-mapped to an 8-bit SDR reel). With codec=h264 it is SDR."
)
RESOLUTION = (
    "How big the reel may be: 720p, 1080p (the default: what phones share) or 4k (a 4K video "
    "keeps its size, its pictures copied where they can be; the file is about four times "
    "bigger). A smaller video keeps its own size."
)
MAX_CALLBACK_URL = 1000
"""Longest callback_url (a multipart field holds at most intake.MAX_FIELD_BYTES)."""


def check_options(
    settings: Settings,
    duration: float | None,
    aspect: str,
    fields: dict[str, str],
    callback_url: str | None = None,
    keep_location: bool = False,
    codec: str = "auto",
    hdr: str = "keep",
    resolution: str = "1080p",
) -> dict:
    """Options from form fields (multipart) or the query string, checked like the engine does.

    ``callback_url`` is only checked for its length here; :func:`check_callback` judges where
    it leads."""
    errors = []
    callback_url = (fields.get("callback_url", callback_url) or "").strip() or None
    if callback_url is not None and len(callback_url) > MAX_CALLBACK_URL:
        errors.append(
            {"location": "callback_url", "message": f"longer than {MAX_CALLBACK_URL} characters"}
        )
    if "duration" in fields:
        try:
            duration = float(fields["duration"])
        except ValueError:
            errors.append({"location": "body.duration", "message": "must be a number"})
    aspect = fields.get("aspect", aspect)
    codec = fields.get("codec", codec)
    hdr = fields.get("hdr", hdr)
    resolution = fields.get("resolution", resolution)
    if "keep_location" in fields:
        flag = fields["keep_location"].strip().lower()
        if flag not in FLAG_WORDS:
            errors.append({"location": "keep_location", "message": "must be true or false"})
        keep_location = FLAG_WORDS.get(flag, False)
    duration = settings.default_duration if duration is None else duration
    if not errors and not 1.0 <= duration <= settings.max_duration:
        errors.append(
            {
                "location": "duration",
                "message": f"must be between 1 and {settings.max_duration:g} seconds",
            }
        )
    if aspect not in Aspect.__args__:
        errors.append(
            {"location": "aspect", "message": f"must be one of {', '.join(Aspect.__args__)}"}
        )
    if codec not in CODECS:
        errors.append({"location": "codec", "message": f"must be one of {', '.join(CODECS)}"})
    if hdr not in HDR_MODES:
        errors.append({"location": "hdr", "message": f"must be one of {', '.join(HDR_MODES)}"})
    if resolution not in RESOLUTIONS:
        errors.append(
            {"location": "resolution", "message": f"must be one of {', '.join(RESOLUTIONS)}"}
        )
    elif resolution not in offered_resolutions(settings):
        errors.append(
            {
                "location": "resolution",
                "message": f"this server makes reels of at most {settings.max_resolution}",
            }
        )
    if not errors:
        try:
            HighlightOptions(
                duration=duration,
                aspect=aspect,
                keep_location=keep_location,
                codec=codec,  # type: ignore[arg-type]  # checked above
                hdr=hdr,  # type: ignore[arg-type]  # checked above
                resolution=resolution,  # type: ignore[arg-type]  # checked above
            )
        except EngineError as exc:
            errors.append({"location": "options", "message": str(exc)})
    if errors:
        raise invalid_request(errors)
    options: dict[str, Any] = {"duration": duration, "aspect": aspect}
    if callback_url is not None:
        options["callback_url"] = callback_url
    if keep_location:  # absent means the default: where it was shot is stripped
        options["keep_location"] = True
    if codec != "auto":  # absent means the default
        options["codec"] = codec
    if hdr != "keep":
        options["hdr"] = hdr
    if resolution != "1080p":
        options["resolution"] = resolution
    return options


def offered_resolutions(settings: Settings) -> list[str]:
    """The reel sizes this server makes: up to ``max_resolution``."""
    return list(RESOLUTIONS[: RESOLUTIONS.index(settings.max_resolution) + 1])


async def check_callback(accounts: AccountServices, options: dict[str, Any]) -> None:
    """422 when the options' ``callback_url`` may not be called: the rules of account webhooks
    (an absolute http(s) URL; public addresses only, unless private ones are allowed: local
    mode or MOMENTS_WEBHOOK_ALLOW_PRIVATE). Delivery checks the address again."""
    url = options.get("callback_url")
    if not url:
        return
    sender = getattr(accounts.outbox, "webhooks", None)
    if sender is not None:  # the same resolver and rules as its deliveries
        why = await run_in_threadpool(sender.check_url, url)
    else:
        why = await run_in_threadpool(check_url, url, allows_private(accounts.settings))
    if why:
        raise Problem(
            422,
            f"The callback URL is not acceptable: {why}.",
            kind="bad-callback-url",
            title="Invalid request",
            errors=[{"location": "callback_url", "message": why}],
        )
