"""Analyses kept with their upload, so a re-cut (another length, shape, codec) skips analysis.

A job's analysis (the engine's analysed clip: probe facts and timeline of signals) is pickled
next to the upload it was measured from, under a key naming the upload's content (SHA-256)
and the engine version that measured it (``ENGINE_VERSION``): another version, or other bytes
under the same name, never reads it. It lives in the upload's folder, so whatever deletes the
upload (deleting the job, retention) deletes it too.

The pickle is only ever written by our own workers into our own storage; nothing a client
sends is unpickled.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import replace
from pathlib import Path, PurePosixPath

from moments.engine import ENGINE_VERSION, HighlightResult
from moments.engine.capture import capture_time
from moments.engine.many import Clip
from moments.engine.render.tags import source_metadata

from ..storage import Storage
from ..storage.base import check_key
from ..store import JobStore, JobView

log = logging.getLogger(__name__)

HASH_CHUNK = 4 * 1024 * 1024


def input_folder(input_key: str) -> str:
    """The storage folder an upload (and what is kept with it) lives in: ``uploads/<id>``."""
    return str(PurePosixPath(input_key).parent)


def delete_input(storage: Storage, input_key: str) -> None:
    """Delete an upload and what is kept with it (its folder, when it has one of its own)."""
    parts = PurePosixPath(input_key).parts
    if len(parts) == 3 and parts[0] == "uploads":  # uploads/<job id>/source.<ext>
        storage.delete_prefix(input_folder(input_key))
    else:
        storage.delete(input_key)


SOURCES = "sources"
"""The job option listing a reel's sources (``api.sources``): their uploads are the sources'."""
RECUT_OF = "recut_of"
"""The job option naming the job a re-cut was made from (``api.recut``)."""
MUSIC = "music"
"""The job option naming the music source a reel is set to (``api.sources``)."""


def release_input(store: JobStore, storage: Storage, job: JobView) -> None:
    """Once ``job`` is deleted: its upload and kept analysis go, unless they are a source's
    (which has its own life) or another job (a re-cut) still reads them."""
    if (job.options or {}).get(SOURCES) or job.input_key.startswith("sources/"):
        return
    if not store.input_in_use(job.input_key, job.id):
        delete_input(storage, job.input_key)


def content_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex. 0.15 s for the engine benchmark's 171 MB 2-minute
    1080p clip (1.2 GB/s, file in the page cache), against about 2 s of analysis it saves."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def analysis_key(input_key: str, digest: str) -> str:
    """Where the analysis of the upload at ``input_key`` with content ``digest`` is kept."""
    return check_key(f"{input_folder(input_key)}/analysis-{digest[:32]}-{ENGINE_VERSION}.pickle")


def clip_of(result: HighlightResult) -> Clip | None:
    """The analysed clip a finished single-video run measured (None without its timeline)."""
    if result.timeline is None:
        return None
    return Clip(0, result.media, result.timeline, capture_time(source_metadata(result.media)))


def save_analysis(storage: Storage, key: str, clip: Clip) -> None:
    storage.write(key, [pickle.dumps(clip, protocol=pickle.HIGHEST_PROTOCOL)])


def load_analysis(storage: Storage, key: str, source: Path, duration: float) -> Clip | None:
    """The kept analysis at ``key``, its media pointing at ``source`` (this worker's copy of the
    upload); None when there is none, it cannot be read, or it was measured for shorter reels
    than ``duration`` seconds (``Timeline.measured_for``): the job then analyses afresh, and
    keeps that analysis instead."""
    if not storage.exists(key):
        return None
    try:
        with storage.open(key) as f:
            clip = pickle.load(f)
    except Exception:  # damaged or from older code: analysing again is always correct
        log.warning("kept analysis %s could not be read; analysing again", key, exc_info=True)
        return None
    if not isinstance(clip, Clip):
        return None
    if not clip.timeline.measured_for(duration):
        log.info("kept analysis %s was measured for shorter reels; analysing again", key)
        return None
    return Clip(clip.given, replace(clip.media, path=source), clip.timeline, clip.shot_at)
