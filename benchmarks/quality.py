"""Reel quality on real footage (issue 17): the engine's picks beside a naive reel's.

Builds the evaluation clips of tests/quality/footage.py (real footage with labelled dull
stretches; cached in benchmarks/.cache/), makes the reels each clip is meant for, and prints per
reel, each figure as ``engine | naive`` (the naive reel: evenly spaced picks of the same total
length and number of segments):

- dull s: seconds of the reel in labelled dull stretches (black, frozen, title, static, pocket,
  music, digital silence, fade-out); cards s: of which black, title, frozen or static;
- live covered: labelled live stretches with at least 1 s in the reel;
- jump cuts: two picks of one shot less than 3 s apart in source time;
- talk kept: seconds of talk in the reel / min(talk there is, seconds picked);
- poster luma: the poster's mean brightness (0-255); poster in: the labelled kind it shows;
- got vs ask: the reel's length against the length asked;

then the IoU of the picks between every two encodings of one content (H.264 with a keyframe
every 1 s and every 8 s, HEVC, 720p, 1080p). For each reel it writes a contact sheet (one frame
per second of the reel with its segment's reason) and a signal plot into --out.

    python benchmarks/quality.py [--out benchmarks/out] [--only dull-zoo,talk] [--no-encodings]

vtest.avi (Debian's opencv-doc) joins in when /usr/share/doc/opencv-doc/examples/data holds it,
or the folder given by --opencv-doc.

Off the set, ``--footage FILE ...`` encodes each whole file in the same five ways (cached) and
prints, per file and reel length (``--footage-reels``, 15 and 30 s), each encoding's picks and
the IoU of every two (min / median / mean):

    python benchmarks/quality.py --footage shared/media/man-on-green-screen.mp4 --only none
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.quality import footage  # noqa: E402
from tests.quality.measures import Run, evaluate, iou, iou_table, table  # noqa: E402
from tests.quality.sheets import pictures  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    parser.add_argument("--only", default="", help="comma-separated clip names")
    parser.add_argument("--no-encodings", action="store_true")
    parser.add_argument("--small", action="store_true", help="320x180 clips, as the tests use")
    parser.add_argument("--opencv-doc", type=Path, help="folder holding opencv-doc's vtest.avi")
    parser.add_argument("--footage", type=Path, nargs="*", default=[], help="whole real files")
    parser.add_argument("--footage-reels", default="15,30", help="reel lengths for --footage")
    args = parser.parse_args()
    if args.opencv_doc:
        os.environ["MOMENTS_OPENCV_DOC"] = str(args.opencv_doc)
    only = {n for n in args.only.split(",") if n}

    specs = list(footage.CLIPS)
    for spec in footage.OPTIONAL:
        if footage.available(*footage.needs(spec)):
            specs.append(spec)
        else:
            print(f"(skipping {spec.name}: its footage is not installed)", file=sys.stderr)
    if args.small:
        specs = [replace(s, width=320, height=180) for s in specs]
    clips = [footage.example_clip()]
    for spec in specs:
        if not only or spec.name in only:
            started = time.perf_counter()
            clips.append(footage.build(spec, args.cache))
            print(f"built {spec.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    clips = [c for c in clips if not only or c.name in only]

    runs: list[Run] = []
    for clip in clips:
        for seconds in clip.reels:
            runs.append(_run(clip, seconds, args.out))

    encoded: list[Run] = []
    if not args.no_encodings and (not only or footage.ENCODED.name in only):
        spec = footage.ENCODED
        if args.small:
            spec = replace(spec, width=320, height=180)
        seconds = spec.reels[-1]
        for encoding in footage.ENCODINGS:
            started = time.perf_counter()
            clip = footage.build(spec, args.cache, encoding)
            print(f"built {clip.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            same = next((r for r in runs if r.clip.path == clip.path and r.asked == seconds), None)
            encoded.append(same or _run(clip, seconds, args.out))

    print()
    print(table(runs + [r for r in encoded if r not in runs]))
    print()
    for run in runs:
        if run.notes:
            print(f"notes, {run.clip.name} {run.asked:g} s: " + " ".join(run.notes))
    if encoded:
        print()
        print(iou_table(encoded))
    print(f"\ncontact sheets and signal plots: {args.out}")
    _save(runs + encoded, args.out / "quality.json")
    reels = [float(x) for x in args.footage_reels.split(",") if x]
    for source in args.footage:
        print()
        print(_footage_agreement(source, reels, args.cache, args.out / "footage"))


def _footage_agreement(source: Path, reels: list[float], cache: Path, out: Path) -> str:
    """Each encoding's picks of ``source`` and the IoU of every two, per reel length."""
    from moments.engine import HighlightOptions, highlight

    files = []
    for encoding in footage.ENCODINGS:
        started = time.perf_counter()
        files.append((encoding.name, footage.reencode(source, cache, encoding)))
        print(
            f"encoded {source.name} {encoding.name} in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    lines = [f"{source.name}: picks of five encodings (source seconds)"]
    out.mkdir(parents=True, exist_ok=True)
    for seconds in reels:
        picks = {}
        for name, path in files:
            result = highlight(
                path,
                out / f"{path.stem}.{seconds:g}s.mp4",
                HighlightOptions(duration=seconds, poster=False),
            )
            picks[name] = [(s.source_start, s.source_end) for s in result.segments]
            shown = " ".join(f"{a:.2f}-{b:.2f}" for a, b in picks[name])
            lines.append(f"  {seconds:g} s  {name:11} {result.duration:5.1f} s  {shown}")
        scores = [iou(picks[a], picks[b]) for a, b in itertools.combinations(picks, 2)]
        lines.append(
            f"  {seconds:g} s  IoU min / median / mean: {min(scores):.2f} / "
            f"{statistics.median(scores):.2f} / {statistics.mean(scores):.2f}"
        )
    return "\n".join(lines)


def _run(clip: footage.Clip, seconds: float, out: Path) -> Run:
    started = time.perf_counter()
    run = evaluate(clip, seconds, out / "reels")
    pictures(run, out)
    print(f"{clip.name} {seconds:g} s: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return run


def _save(runs: list[Run], path: Path) -> None:
    document = [
        {
            "clip": run.clip.name,
            "encoding": run.clip.encoding,
            "asked": run.asked,
            "segments": [s.to_dict() for s in run.result.segments],
            "notes": run.notes,
            "engine": asdict(run.engine),
            "naive": asdict(run.naive),
            "naive_picks": run.naive_spans,
        }
        for run in runs
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, default=str))


if __name__ == "__main__":
    main()
