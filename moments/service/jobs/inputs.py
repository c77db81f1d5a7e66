"""What a job reads, as this worker has it: the engine's options from the job's row, and local
copies of its sources (and song) under the names people know them by, with the key each
source's analysis is kept under."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath

from moments.engine import EngineError, HighlightOptions

from ..settings import Settings
from ..sources import SourceStore
from ..storage import Storage
from ..store import JobStore, JobView
from .analyses import MUSIC, SOURCES, analysis_key, content_digest

# Options a job may carry into the engine; anything else in the row is ignored.
JOB_OPTIONS = ("duration", "aspect", "keep_location", "codec", "hdr", "resolution")


def engine_options(job: JobView, settings: Settings) -> HighlightOptions:
    """HighlightOptions from the job's stored options (raises EngineError if they are bad)."""
    known = {f.name for f in fields(HighlightOptions)}
    given = {k: v for k, v in (job.options or {}).items() if k in JOB_OPTIONS and k in known}
    given.setdefault("duration", settings.default_duration)
    return HighlightOptions(**given)


@dataclass(frozen=True)
class SourceClip:
    """One source of a reel as this worker has it: its place in the reel's list, where it is
    stored, the name people know it by, a local copy under that name, and where its analysis
    is kept."""

    index: int
    stored_key: str
    filename: str
    path: Path
    key: str


def sources_of(job: JobView, store: JobStore) -> list[tuple[str, str]]:
    """(storage key, file name) of each of the job's sources, in the order given."""
    sources = SourceStore(store.sessions)
    found = []
    for source_id in job.options[SOURCES]:
        source = sources.get(source_id)
        if source is None:
            raise EngineError("a clip of this reel has expired or was deleted; upload it again")
        found.append((source.input_key, source.filename))
    return found


def named_link(folder: Path, stored: Path, filename: str) -> Path:
    """``stored`` under the name people know it by (a link): the engine's notes and errors
    name files, and every stored upload is called ``source.<ext>``."""
    name = PurePosixPath(filename).name
    while len(name.encode()) > 200:  # file systems allow 255 bytes a name; 200 characters
        name = name[:-1]  # of a script written in 4-byte characters would be 800
    if name in ("", ".", ".."):
        name = "clip"
    path = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    path.symlink_to(stored.resolve())
    return path


def song_of(job: JobView, store: JobStore, storage: Storage, scratch: Path) -> Path:
    """A local copy of the music source the job's reel is set to, under its own name."""
    source = SourceStore(store.sessions).get(job.options[MUSIC])
    try:
        if source is None:
            raise FileNotFoundError(job.options[MUSIC])
        stored = storage.local_path(source.input_key)
    except FileNotFoundError:
        raise EngineError("the music of this reel has expired or was deleted") from None
    return named_link(scratch / "music", stored, source.filename)


def local_sources(
    entries: list[tuple[str, str]], storage: Storage, folder: Path
) -> list[SourceClip]:
    """Each of the sources ``entries`` names: a local copy, under the name people know it by
    (the engine's notes and errors name a clip by its file), and its analysis key."""
    inputs = []
    for index, (stored_key, filename) in enumerate(entries):
        try:
            stored = storage.local_path(stored_key)
        except FileNotFoundError:
            raise EngineError(
                f"{filename}: this clip has expired or was deleted; upload it again"
            ) from None
        path = named_link(folder / str(index), stored, filename)
        key = analysis_key(stored_key, content_digest(stored))
        inputs.append(SourceClip(index, stored_key, filename, path, key))
    return inputs
