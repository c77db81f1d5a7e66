"""The ``moments`` command line: a thin layer over the engine and the service."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from moments import engine

# The engine (FFmpeg, NumPy, OpenCV) is imported inside the commands that use it: `serve`
# should not pay for it, and every job process the embedded pool spawns re-imports this
# module before it can lower its own priority.
ASPECT_CHOICES = "source, 16:9, 9:16, 1:1"
MUSIC_MODE_CHOICES = "replace, mix"
CODEC_CHOICES = "auto, h264, hevc"
HDR_CHOICES = "keep, sdr"
RESOLUTION_CHOICES = "720p, 1080p, 4k"

app = typer.Typer(
    help="Moments: turn a raw video into a short highlight reel.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console(stderr=True)


@app.command()
def highlight(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="The video to make a reel from, or several clips to make one reel of (put in "
            "the order they were shot)."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the MP4 reel.")],
    duration: Annotated[float, typer.Option(help="Target reel length in seconds.")] = 30.0,
    aspect: Annotated[str, typer.Option(help=f"Output aspect: {ASPECT_CHOICES}.")] = "source",
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the full result as JSON here.")
    ] = None,
    poster: Annotated[bool, typer.Option(help="Write a JPEG poster beside the reel.")] = True,
    keep_location: Annotated[
        bool,
        typer.Option(
            "--keep-location",
            help="Keep where the video was shot in the reel's tags (dropped by default).",
        ),
    ] = False,
    music: Annotated[
        Path | None,
        typer.Option(help="A song (MP3, AAC/M4A, WAV, FLAC) to set the reel to, cut on its beats."),
    ] = None,
    music_mode: Annotated[
        str,
        typer.Option(
            help=f"With --music: {MUSIC_MODE_CHOICES} (replace: the song alone; mix: the song "
            "under the video's own sound, quieter while someone talks)."
        ),
    ] = "replace",
    codec: Annotated[
        str,
        typer.Option(
            help=f"Video codec of the reel: {CODEC_CHOICES} (auto: the source's where its "
            "pictures are copied, else h264; h264 for players without HEVC)."
        ),
    ] = "auto",
    hdr: Annotated[
        str,
        typer.Option(
            help=f"An HDR (HLG or PQ) video gives: {HDR_CHOICES} (keep: a 10-bit HDR reel, "
            "HEVC; sdr: a tone-mapped 8-bit reel for screens and apps without HDR)."
        ),
    ] = "keep",
    resolution: Annotated[
        str,
        typer.Option(
            help=f"How big the reel may be: {RESOLUTION_CHOICES} (4k keeps a 4K video's size, "
            "its pictures copied where they can be; a smaller video keeps its own)."
        ),
    ] = "1080p",
) -> None:
    """Make a highlight reel of SOURCES, with a progress bar per stage."""
    from moments import engine

    try:
        options = engine.HighlightOptions(
            duration=duration,
            aspect=aspect,
            poster=poster,
            keep_location=keep_location,
            music=music,
            music_mode=music_mode,  # type: ignore[arg-type]  # checked by the engine
            codec=codec,  # type: ignore[arg-type]  # checked by the engine
            hdr=hdr,  # type: ignore[arg-type]  # checked by the engine
            resolution=resolution,  # type: ignore[arg-type]  # checked by the engine
        )
        with _stage_progress() as on_progress:
            if len(sources) == 1:
                result = engine.highlight(sources[0], output, options, progress=on_progress)
            else:
                result = engine.highlight_many(sources, output, options, progress=on_progress)
    except engine.EngineError as exc:
        console.print(f"[bold red]Cannot make a reel:[/] {exc}")
        raise typer.Exit(2) from exc
    except (KeyboardInterrupt, engine.Cancelled) as exc:
        console.print("[yellow]Stopped.[/]")
        raise typer.Exit(130) from exc

    _print_result(result)
    if json_path is not None:
        json_path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")


@contextmanager
def _stage_progress() -> Iterator[engine.ProgressFn]:
    """A Rich progress bar with one row per engine stage; yields the engine's progress callback."""
    columns = (
        TextColumn("{task.description:<8}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def on_progress(stage: str, fraction: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=1.0)
            bar.update(tasks[stage], completed=fraction)

        yield on_progress


def _print_result(result: engine.HighlightResult) -> None:
    size = f"{result.duration:.1f} s, {result.width}x{result.height}"
    if result.codec:
        size += f", {result.codec} {result.profile or ''}".rstrip()
    if result.bitrate:
        size += f" {result.bitrate / 1e6:.1f} Mbit/s"
    table = Table(title=f"{result.output}  ({size})")
    columns = ("#", "clip", "source", "reel at", "score", "why")
    for column in columns if result.clips else (c for c in columns if c != "clip"):
        table.add_column(column)
    for number, segment in enumerate(result.segments, 1):
        clip = [result.clips[segment.clip].path.name] if segment.clip is not None else []
        table.add_row(
            str(number),
            *clip,
            f"{segment.source_start:6.2f}–{segment.source_end:6.2f}",
            f"{segment.output_start:6.2f}",
            f"{segment.score:.2f}",
            segment.reason,
        )
    Console().print(table)
    for note in result.notes:
        console.print(f"[yellow]{note}[/]")
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
    console.print(f"[dim]{timings}[/]")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Start the service: REST API, web page, job store and in-process workers."""
    import uvicorn

    from moments.service.api.app import create_app
    from moments.service.auth.setup import check_bind, ready_message
    from moments.service.db import upgrade
    from moments.service.http_limits import uvicorn_options as limit_options
    from moments.service.logging import configure_logging
    from moments.service.proxies import uvicorn_options
    from moments.service.settings import get_settings

    settings = get_settings()
    check_bind(settings, host or settings.host)  # exits with a message: local auth, public bind
    configure_logging(settings.log_format)
    upgrade(settings)
    config = uvicorn.Config(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        access_log=False,  # moments.access logs every request, with its request id
        **uvicorn_options(settings),  # X-Forwarded-* only from MOMENTS_TRUSTED_PROXIES
        **limit_options(settings),  # head size and deadline, body rate, connection cap
    )

    class Server(uvicorn.Server):
        """uvicorn's server, telling a person where to go once it really listens."""

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started and self.servers and self.servers[0].sockets:
                bound, bound_port = self.servers[0].sockets[0].getsockname()[:2]
                print(ready_message(settings, bound, bound_port), file=sys.stderr, flush=True)

    server = Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise typer.Exit(3)  # as uvicorn.run: the app or its socket did not start


@app.command()
def worker() -> None:
    """Run a worker that processes queued jobs until stopped (Ctrl-C / SIGTERM).

    With MOMENTS_QUEUE=celery it is a Celery worker on MOMENTS_REDIS_URL; otherwise an
    embedded pool that takes pending jobs from the shared database.
    """
    from moments.service.settings import get_settings

    settings = get_settings()
    if settings.queue == "celery":
        from moments.service.jobs.celery_app import run_celery_worker

        run_celery_worker(settings)
        return
    from moments.service.jobs.embedded import run_worker

    run_worker(settings)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the job database to the newest schema."""
    from moments.service.db import upgrade
    from moments.service.settings import get_settings

    settings = get_settings()
    upgrade(settings)
    console.print(f"database at {settings.database_url} is up to date")


if __name__ == "__main__":
    app()
