"""Pictures of a run to look at: a contact sheet of the reel and a plot of the signals."""

from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .footage import DULL, LIVE
from .measures import Run, reel_kind

THUMB_W = 200
PER_ROW = 8
KIND_COLOURS = {
    "live": "#2e8b57",
    "talk": "#1f77b4",
    "idle": "#9acd32",
    "black": "#000000",
    "frozen": "#8b4513",
    "title": "#800080",
    "static": "#a0522d",
    "pocket": "#444444",
    "music": "#ff8c00",
    "silence": "#b22222",
    "fade": "#696969",
}


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def contact_sheet(run: Run, path: Path) -> Path:
    """One frame per second of the reel in rows; under each, its segment's reason and the
    labelled kind of the source instant it shows (red when that is a dull stretch)."""
    frames = run.sheet_frames
    if not frames:
        raise ValueError("the reel has no frames")
    h0, w0 = frames[0][1].shape[:2]
    tw, th = THUMB_W, max(2, round(THUMB_W * h0 / w0))
    caption = 46
    rows = (len(frames) + PER_ROW - 1) // PER_ROW
    header = 44
    sheet = Image.new("RGB", (PER_ROW * tw, header + rows * (th + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    small, tiny = _font(13), _font(11)
    e = run.engine
    draw.text(
        (6, 4),
        f"{run.clip.name}: asked {run.asked:g} s, got {e.length:.1f} s in {e.segments} "
        f"segments; dull {e.dull:.1f} s, live covered {e.covered[0]}/{e.covered[1]}, "
        f"poster luma {e.poster_brightness}",
        fill="black",
        font=small,
    )
    notes = "; ".join(run.notes) or "(no notes)"
    draw.text((6, 24), textwrap.shorten(notes, 150), fill="#555555", font=tiny)
    for n, (t, rgb) in enumerate(frames):
        x, y = (n % PER_ROW) * tw, header + (n // PER_ROW) * (th + caption)
        thumb = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
        sheet.paste(Image.fromarray(thumb), (x, y))
        index, source, kind = reel_kind(run, t)
        segment = run.result.segments[index]
        colour = "#c00000" if kind in DULL else ("#006400" if kind in LIVE else "#555555")
        draw.rectangle([x, y, x + tw - 1, y + th - 1], outline=colour, width=2)
        draw.text((x + 3, y + 2), f"{t:.1f}s", fill="yellow", font=tiny)
        lines = textwrap.wrap(f"#{index + 1} {segment.reason}", 32)[:2]
        for k, line in enumerate(lines):
            draw.text((x + 3, y + th + 1 + 13 * k), line, fill="black", font=tiny)
        draw.text((x + 3, y + th + 29), f"src {source:.1f}s: {kind}", fill=colour, font=tiny)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def signal_plot(run: Run, path: Path) -> Path:
    """Each timeline signal over source time (one row each), the engine's picks shaded blue,
    the labelled dull stretches shaded red; the top rows show the labels, the engine's picks and
    the naive reel's picks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline = run.result.timeline
    signals = dict(timeline.signals) if timeline is not None else {}
    times = timeline.times if timeline is not None else np.zeros(0)
    rows = 2 + len(signals)
    fig, axes = plt.subplots(rows, 1, figsize=(14, 0.9 * rows + 0.8), sharex=True, squeeze=False)
    axes = axes[:, 0]
    clip = run.clip
    top = axes[0]
    for lab in clip.labels:
        top.broken_barh(
            [(lab.start, lab.end - lab.start)], (0, 1), color=KIND_COLOURS.get(lab.kind, "gray")
        )
        top.text(
            (lab.start + lab.end) / 2,
            0.5,
            lab.kind,
            ha="center",
            va="center",
            color="white",
            fontsize=7,
            clip_on=True,
        )
    for a, _ in clip.shots[1:]:
        top.axvline(a, color="white", lw=0.8, ls=":")
    top.set_yticks([])
    top.set_ylabel("truth", rotation=0, ha="right", va="center")
    picks = axes[1]
    picks.broken_barh([(s, e - s) for s, e in run.spans], (0.55, 0.4), color="tab:blue")
    picks.broken_barh([(s, e - s) for s, e in run.naive_spans], (0.05, 0.4), color="0.6")
    for n, seg in enumerate(run.result.segments):
        picks.text(seg.source_start, 0.75, f"{n + 1}", fontsize=7, color="white", va="center")
    picks.set_yticks([0.25, 0.75], ["naive", "engine"], fontsize=7)
    picks.set_ylim(0, 1)
    for ax, (name, values) in zip(axes[2:], sorted(signals.items()), strict=True):
        ax.plot(times[: len(values)], values, lw=0.9, color="black")
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        ax.set_yticks([0, 1])
    for ax in axes[1:]:
        for lab in clip.labels:
            if lab.kind in DULL:
                ax.axvspan(lab.start, lab.end, color="red", alpha=0.08, lw=0)
        for s, e in run.spans:
            ax.axvspan(s, e, color="tab:blue", alpha=0.18, lw=0)
    poster = run.engine.poster_time
    if poster is not None:
        for ax in axes:
            ax.axvline(poster, color="gold", lw=1.5)
    axes[-1].set_xlabel("source seconds (gold line: poster)")
    axes[-1].set_xlim(0, clip.duration)
    fig.suptitle(
        f"{clip.name}: asked {run.asked:g} s, got {run.engine.length:.1f} s  "
        f"(blue: engine picks; red: labelled dull stretches)",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def pictures(run: Run, folder: Path) -> tuple[Path, Path]:
    stem = f"{run.clip.name.replace('@', '.')}.{run.asked:g}s"
    return (
        contact_sheet(run, folder / f"{stem}.sheet.png"),
        signal_plot(run, folder / f"{stem}.signals.png"),
    )
