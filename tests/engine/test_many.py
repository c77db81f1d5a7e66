"""One reel from many clips (issue 20, item 3): every highlight found, capture-time order, a
clip with nothing worth keeping left out (and said so), a second take shown once, and clips of
mixed size, orientation and frame rate made into one normalised reel.

Seven short synthetic clips with known truth, given out of the order they were shot in.
"""

from __future__ import annotations

import itertools
import pickle
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from moments.engine import HighlightOptions, analyse_clip, highlight_many, reel_from_clips
from moments.engine.capture import capture_time

from .synth import ShotSpec, make_video

# name: (shots, size, fps, capture-time tags). Shot in the order a, b, c, d, e; f says nothing
# of when it was shot; g is a second take of a's moment.
CLIPS = {
    "d.mp4": (
        [ShotSpec("dull", 2, 5), ShotSpec("highlight", 2.5, 40), ShotSpec("dull", 2, 6)],
        (160, 90),
        30,
        {"creation_time": "2026-05-01T10:03:00.000000Z"},
    ),
    "f.mp4": ([ShotSpec("dull", 5, 8)], (160, 90), 30, {}),
    "b.mp4": (
        [ShotSpec("highlight", 2.5, 20), ShotSpec("dull", 3, 3)],
        (90, 160),  # portrait
        30,
        # Apple's date, local time: 10:01 UTC. (Its creation_time, as an editing app may have
        # set it on export, is later than every other clip's: Apple's wins.)
        {
            "com.apple.quicktime.creationdate": "2026-05-01T12:01:00+0200",
            "creation_time": "2026-05-02T09:00:00.000000Z",
        },
    ),
    "e.mp4": (
        [ShotSpec("dull", 2, 7), ShotSpec("highlight", 2.5, 50)],
        (160, 90),
        30,
        {"creation_time": "2026-05-01T10:04:00.000000Z"},
    ),
    "a.mp4": (
        [ShotSpec("dull", 2, 1), ShotSpec("highlight", 2.5, 10), ShotSpec("dull", 2, 2)],
        (160, 90),
        30,
        {"com.apple.quicktime.creationdate": "2026-05-01T06:00:00-0400"},  # 10:00 UTC
    ),
    "g.mp4": (
        [ShotSpec("highlight", 2.5, 10, take=1), ShotSpec("dull", 2, 9)],
        (160, 90),
        30,
        {"creation_time": "2026-05-01T10:00:30.000000Z"},
    ),
    "c.mp4": (
        [ShotSpec("dull", 3, 4), ShotSpec("highlight", 2.5, 30)],
        (192, 108),
        60,
        {"creation_time": "2026-05-01T10:02:00.000000Z"},
    ),
}
SHOT_ORDER = ["a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4"]


def _tagged(plain: Path, path: Path, tags: dict[str, str]) -> Path:
    """``plain`` remuxed (streams copied) with ``tags`` on the container, as a phone writes."""
    with (
        av.open(str(plain)) as src,
        av.open(str(path), "w", format="mp4", options={"movflags": "use_metadata_tags"}) as out,
    ):
        out.metadata.update(tags)
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """The reel of all seven clips (15 s asked): (result, {name: truth shots})."""
    folder = tmp_path_factory.mktemp("many")
    truth, paths = {}, []
    for name, (shots, size, fps, tags) in CLIPS.items():
        plain = folder / f"plain-{name}"
        truth[name] = make_video(plain, shots, size=size, fps=fps)
        paths.append(_tagged(plain, folder / name, tags))
    result = highlight_many(paths, folder / "reel.mp4", HighlightOptions(duration=15.0))
    return result, truth


def _from(result, name: str):
    return [s for s in result.segments if result.clips[s.clip].path.name == name]


TAKES = {"a.mp4": ("a.mp4", "g.mp4")}
"""A moment shot twice is in the reel from either take (the better one: which of two equal
takes measures a hair better is chance)."""


def _take_of(result, name: str) -> str:
    shown = [n for n in TAKES.get(name, (name,)) if _from(result, n)]
    return shown[0] if shown else name


def test_a_highlight_of_each_clip_is_in_the_reel(many):
    result, truth = many
    for name in SHOT_ORDER:
        take = _take_of(result, name)
        highlight = next(s for s in truth[take] if s.kind == "highlight")
        found = sum(highlight.overlap(s.source_start, s.source_end) for s in _from(result, take))
        assert found >= 0.8 * (highlight.end - highlight.start), (take, _from(result, take))
    assert 0.6 * 15.0 <= result.duration <= 15.0 * 1.05


def test_clips_are_in_the_order_they_were_shot(many):
    result, _ = many
    names = [result.clips[s.clip].path.name for s in result.segments]
    in_order = list(dict.fromkeys(names))
    # g was shot 30 s after a, before every other clip: either take opens the reel.
    assert in_order == [_take_of(result, n) for n in SHOT_ORDER], in_order
    starts = [s.output_start for s in result.segments]
    assert starts == sorted(starts)
    assert result.to_dict()["segments"][0]["clip"] == 0


def test_a_clip_with_nothing_worth_keeping_is_left_out_and_said_so(many):
    result, _ = many
    assert not _from(result, "f.mp4")
    assert any(n.startswith("f.mp4: nothing worth keeping") for n in result.notes), result.notes


def test_a_second_take_of_a_moment_is_shown_once(many):
    result, _ = many
    assert not _from(result, "g.mp4") or not _from(result, "a.mp4")
    assert any("hold the same moment" in n for n in result.notes), result.notes


def test_mixed_clips_make_one_normalised_reel(many):
    result, _ = many
    # Most footage is landscape: the reel is, at the size of its biggest landscape clip, and
    # at the rate of most footage (30 fps); c.mp4, at 60 and the reel's own size, has its
    # GOPs copied at their own rate (MP4 holds each picture's time).
    assert (result.width, result.height) == (192, 108)
    with av.open(str(result.output)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (192, 108)
        decoded = list(container.decode(video))
        audio = container.streams.audio
        assert audio and audio[0].codec_context.name == "aac"
    times = [float(f.time) for f in decoded]
    fast = [(s.output_start, s.output_start + s.duration) for s in _from(result, "c.mp4")]
    assert fast
    sixtieths = 0
    for at, gap in zip(times, np.diff(times), strict=False):
        if abs(gap - 1 / 60) < 2e-3:
            assert any(a - 1e-3 <= at < b for a, b in fast), at  # only c.mp4's pictures
            sixtieths += 1
        else:
            assert abs(gap - 1 / 30) < 2e-3, (at, gap)
    assert sixtieths >= 30  # c.mp4's highlight, copied at 60 fps
    assert abs(times[-1] + 1 / 30 - result.duration) <= 1 / 30
    # The portrait clip's picture fills the frame (cropped around its subject): no black bars.
    portrait = _from(result, "b.mp4")[0]
    middle = np.searchsorted(times, portrait.output_start + portrait.duration / 2)
    picture = decoded[middle].to_ndarray(format="gray")
    assert picture[:, :8].mean() > 40 and picture[:, -8:].mean() > 40
    assert any("192x108, 30 frames a second" in n for n in result.notes), result.notes
    assert any("60 frames a second keep their own rate" in n for n in result.notes)


def test_capture_time_reads_phone_tags():
    apple = {"com.apple.quicktime.creationdate": "2026-05-01T12:01:00+0200"}
    assert capture_time(apple).isoformat() == "2026-05-01T10:01:00+00:00"
    assert capture_time({"creation_time": "2026-05-01T10:03:00.000000Z"}).hour == 10
    assert capture_time({"creation_time": "1970-01-01T00:00:00.000000Z"}) is None  # clock unset
    assert capture_time({"creation_time": "yesterday"}) is None
    assert capture_time({}) is None
    assert np.isfinite(capture_time(apple).timestamp())


def test_a_recut_from_kept_analyses_gives_the_same_reel(many, tmp_path):
    """Clips analysed once (and kept: pickled, as a worker would hand them on) make the same
    reel again without analysis; another length needs no analysis either."""
    result, _ = many
    folder = result.output.parent
    options = HighlightOptions(duration=15.0, poster=False)
    kept = [
        pickle.loads(pickle.dumps(analyse_clip(folder / name, options, given)))
        for given, name in enumerate(CLIPS)
    ]
    again = reel_from_clips(kept, tmp_path / "again.mp4", options)
    assert [s.to_dict() for s in again.segments] == [s.to_dict() for s in result.segments]
    assert "analyse" not in again.timings
    shorter = reel_from_clips(kept, tmp_path / "short.mp4", replace(options, duration=6.0))
    assert shorter.duration <= 6.0 * 1.05 + 0.5
    # Six clips worth keeping do not fit 6 s: the liveliest are shown, and the rest named.
    assert len(shorter.clips) < 6
    assert any("room for the best moments" in n for n in shorter.notes), shorter.notes


def test_clips_without_a_capture_time_follow_in_the_order_given():
    from datetime import UTC, datetime

    from moments.engine.many import Clip, reel_order

    when = [
        None,
        datetime(2026, 5, 1, 10, 5, tzinfo=UTC),
        None,
        datetime(2026, 5, 1, 10, 1, tzinfo=UTC),
    ]
    clips = [Clip(i, None, None, w) for i, w in enumerate(when)]  # type: ignore[arg-type]
    assert [c.given for c in reel_order(clips)] == [3, 1, 0, 2]


def test_the_length_is_shared_with_a_floor_for_each_clip():
    from moments.engine.many import share

    # A lively clip, a quiet one and a short one: each gets the floor, the rest by liveliness,
    # nobody more than their length, and all of the budget is given.
    got = share([9.0, 1.0, 5.0], [60.0, 60.0, 2.0], 20.0, 3.0)
    assert got[2] == 2.0  # its whole length
    assert got[1] >= 3.0 and got[0] > got[1]
    assert sum(got) == pytest.approx(20.0)


def test_progress_runs_through_the_stages_and_cancel_stops_it(many, tmp_path):
    import threading

    from moments.engine import Cancelled

    result, _ = many
    folder = result.output.parent
    paths = [folder / name for name in SHOT_ORDER[:3]]
    seen: list[tuple[str, float]] = []
    highlight_many(paths, tmp_path / "r.mp4", HighlightOptions(duration=6.0, poster=False),
                   progress=lambda stage, fraction: seen.append((stage, fraction)))  # fmt: skip
    stages = list(dict.fromkeys(stage for stage, _ in seen))
    assert stages == ["probe", "analyse", "select", "render"]
    analysing = [f for stage, f in seen if stage == "analyse"]
    assert analysing == sorted(analysing) and analysing[-1] == 1.0  # one bar across the clips

    stop = threading.Event()

    def progress(stage: str, fraction: float) -> None:
        if stage == "analyse" and fraction > 0.4:
            stop.set()

    with pytest.raises(Cancelled):
        highlight_many(paths, tmp_path / "c.mp4", HighlightOptions(duration=6.0),
                       progress=progress, cancel=stop)  # fmt: skip
    assert not list(tmp_path.glob("c*")) and not list(tmp_path.glob(".c*"))


def test_hdr_clips_of_one_kind_make_an_hdr_reel_and_mixed_ones_an_sdr_one(tmp_path):
    from moments.engine.models import Segment
    from moments.engine.probe import probe
    from moments.engine.progress import Reporter
    from moments.engine.render.many import render_many

    from .media_factory import arrow_frame
    from .media_factory import make_video as plain_video

    def deep(i: int, w: int, h: int) -> np.ndarray:
        return arrow_frame(i, w, h).astype(np.uint16) * 200  # 10-bit HLG signal levels

    hlg = {"pix_fmt": "yuv420p10le", "color_trc": 18, "color_primaries": 9, "colorspace": 9}
    a = probe(
        plain_video(tmp_path / "a.mp4", seconds=1.5, width=96, height=54, frame_fn=deep, **hlg)
    )
    b = probe(
        plain_video(tmp_path / "b.mp4", seconds=1.5, width=96, height=54, frame_fn=deep, **hlg)
    )
    sdr = probe(plain_video(tmp_path / "sdr.mp4", seconds=1.5, width=96, height=54))
    assert a.hdr == b.hdr == "hlg" and sdr.hdr is None
    segs = [Segment(0.2, 1.2, 0.0, 0.5, {}, "movement")]
    options = HighlightOptions(poster=False)

    info, _ = render_many([(a, segs), (b, segs)], tmp_path / "hdr.mp4", options, Reporter())
    with av.open(str(info.output)) as container:
        video = container.streams.video[0].codec_context
        assert (video.name, video.pix_fmt, video.color_trc) == ("hevc", "yuv420p10le", 18)
    assert not any("SDR" in n for n in info.notes)

    info, _ = render_many([(a, segs), (sdr, segs)], tmp_path / "mixed.mp4", options, Reporter())
    with av.open(str(info.output)) as container:
        video = container.streams.video[0].codec_context
        assert (video.name, video.pix_fmt) == ("h264", "yuv420p")
    assert any("not all HDR of one kind" in n for n in info.notes), info.notes


def test_a_shorter_recut_keeps_the_shape_of_the_footage(tmp_path):
    """Three landscape clips and two livelier portrait ones: a reel with room for two clips
    shows the portrait ones, in the landscape frame most of the footage has, as the reel of
    all five does (the shape is the footage's, not that of the clips a short reel keeps)."""
    options = HighlightOptions(poster=False)

    def wide(seed: int) -> list[ShotSpec]:  # a short highlight between dull stretches
        return [ShotSpec("dull", 2, seed), ShotSpec("highlight", 1.2, seed + 1),
                ShotSpec("dull", 2, seed + 2)]  # fmt: skip

    def tall(seed: int) -> list[ShotSpec]:  # a long one
        return [ShotSpec("highlight", 3.5, seed), ShotSpec("dull", 1, seed + 1)]

    specs = [
        ("l0.mp4", wide(11), (160, 90)),
        ("p0.mp4", tall(14), (90, 160)),
        ("l1.mp4", wide(16), (160, 90)),
        ("p1.mp4", tall(19), (90, 160)),
        ("l2.mp4", wide(21), (160, 90)),
    ]
    clips = []
    for given, (name, shots, size) in enumerate(specs):
        make_video(tmp_path / name, shots, size=size)
        clips.append(analyse_clip(tmp_path / name, options, given))
    whole = reel_from_clips(clips, tmp_path / "whole.mp4", replace(options, duration=30.0))
    assert len(whole.clips) == 5 and (whole.width, whole.height) == (160, 90)
    short = reel_from_clips(clips, tmp_path / "short.mp4", replace(options, duration=4.5))
    assert sorted(m.path.name for m in short.clips) == ["p0.mp4", "p1.mp4"]  # the liveliest
    assert (short.width, short.height) == (160, 90)
    with av.open(str(short.output)) as container:
        video = container.streams.video[0].codec_context
        assert (video.width, video.height) == (160, 90)


def _rendered(path: Path) -> tuple[tuple[int, int], np.ndarray, list[np.ndarray]]:
    """A reel's size, its pictures' times and the pictures (grey)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        size = (video.codec_context.width, video.codec_context.height)
        decoded = [(float(f.time), f.to_ndarray(format="gray")) for f in container.decode(video)]
    return size, np.array([t for t, _ in decoded]), [p for _, p in decoded]


def _changes(pictures: list[np.ndarray]) -> int:
    """How many times the picture changes from one frame to the next."""
    return sum(np.abs(a.astype(int) - b).mean() > 1.0 for a, b in itertools.pairwise(pictures))


def test_a_clip_of_pictures_far_apart_is_held_not_made_a_slide_show(tmp_path):
    """A clip of 2.5 pictures a second (an AVI of 68 pictures in 29.6 s plays at 2.35) set
    the rate of the reel it was most of: every clip in it was shown at 2.5 frames a second.
    A reel plays at 24 fps or more, the sparse clip's pictures held; the other clip's rate
    (30) is the reel's. Alone, the sparse clip makes a 25 fps reel (each picture 10 slots)."""
    from moments.engine.models import Segment
    from moments.engine.probe import probe
    from moments.engine.progress import Reporter
    from moments.engine.render import render
    from moments.engine.render.layout import output_rate
    from moments.engine.render.many import render_many

    from .media_factory import make_video as plain_video

    times = [k * 0.4 for k in range(20)]
    sparse = probe(plain_video(tmp_path / "sparse.mp4", width=160, height=90, frame_times=times))
    steady = probe(plain_video(tmp_path / "steady.mp4", seconds=2.0, width=160, height=90))
    assert sparse.nominal_fps == pytest.approx(2.5, rel=0.01)
    options = HighlightOptions(poster=False, crossfade=0.0)
    spans = [Segment(0.5, 5.5, 0.0, 0.5, {}, "movement")]
    clips = [(sparse, spans), (steady, [Segment(0.2, 1.8, 0.0, 0.5, {}, "movement")])]
    info, _ = render_many(clips, tmp_path / "reel.mp4", options, Reporter())
    _, times, pictures = _rendered(info.output)
    assert np.allclose(np.diff(times), 1 / 30, atol=2e-3), np.unique(np.diff(times).round(4))
    # 12-13 pictures of the sparse clip held over 150 slots, then 48 of the steady clip's.
    assert len(times) == pytest.approx(30 * 6.6, abs=2)
    assert 11 <= _changes(pictures[:150]) <= 14
    assert _changes(pictures[150:]) >= 40
    assert any("30 frames a second" in n for n in info.notes), info.notes

    assert output_rate(sparse) == 25  # each picture held 10 slots
    alone = render(sparse, spans, tmp_path / "alone.mp4", options, Reporter())
    _, times, pictures = _rendered(alone.output)
    assert np.allclose(np.diff(times), 1 / 25, atol=2e-3) and len(times) == 125
    assert 11 <= _changes(pictures) <= 14


def test_a_short_big_clip_does_not_blow_up_the_rest(tmp_path):
    """A 1.5 s 1080p card among 320x240 and 720x528 clips made a 1920x1080 reel: most of the
    footage enlarged 2.7-4.5 times. The reel is the biggest picture of a clip's shape that
    enlarges most of what it shows at most ``MAX_UPSCALE`` a side: when most of it is the
    big clip, that clip's size."""
    from moments.engine.models import Segment
    from moments.engine.probe import probe
    from moments.engine.progress import Reporter
    from moments.engine.render.many import reel_shape, render_many

    from .media_factory import make_video as plain_video

    def clip(name: str, width: int, height: int):
        return probe(plain_video(tmp_path / name, seconds=2.0, width=width, height=height))

    big, small, middle = clip("big.mp4", 640, 360), clip("s.mp4", 96, 72), clip("m.mp4", 144, 106)
    options = HighlightOptions(poster=False)

    def shown(*seconds: float) -> list[list[Segment]]:
        return [[Segment(0.1, 0.1 + s, 0.0, 0.5, {}, "movement")] for s in seconds]

    few = list(zip([small, big, middle], shown(1.5, 0.5, 1.5), strict=True))
    info, _ = render_many(few, tmp_path / "few.mp4", options, Reporter())
    # The big clip's shape, as big as the middle clip allows: 2x (the small one 3x, not 6.7x).
    assert (info.width, info.height) == (288, 162)
    assert _rendered(info.output)[0] == (288, 162)
    # So for a 9:16 reel, whose crops are enlarged at most that much too; it says it is small.
    tall, _ = reel_shape([small, big, middle], replace(options, aspect="9:16"),
                         [(small, 1.5), (big, 0.5), (middle, 1.5)])  # fmt: skip
    assert tall.height / tall.width == pytest.approx(16 / 9, rel=0.02)
    assert max(tall.width / 144, tall.height / 106) == pytest.approx(2.0, abs=0.05)
    assert "rather than 720x1280" in (tall.note("9:16") or "")
    most = list(zip([small, big, middle], shown(0.5, 1.8, 0.5), strict=True))
    info, _ = render_many(most, tmp_path / "most.mp4", options, Reporter())
    assert (info.width, info.height) == (640, 360)


def _moving_clip(media_dir: Path, given: int, duration: float, live: tuple[float, float]):
    """A clip of ``duration`` seconds (example.mp4's media, a hand-made timeline) in which
    something moves from ``live[0]`` to ``live[1]`` seconds and nothing else happens."""
    from moments.engine.many import Clip
    from moments.engine.probe import probe
    from moments.engine.timeline import Timeline

    step = 0.1
    t = np.arange(int(duration / step) + 1) * step
    moving = (t >= live[0]) & (t < live[1])
    timeline = Timeline(
        duration=duration,
        step=step,
        signals={
            "motion": np.where(moving, 0.6, 0.0),
            "audio": np.zeros(len(t)),
            "quality": np.ones(len(t)),
            "shake": np.zeros(len(t)),
        },
    )
    media = replace(probe(media_dir / "example.mp4"), duration=duration)
    return Clip(given, media, timeline)


def test_a_short_reel_of_many_clips_says_so(media_dir):
    # A reviewer's four clips gave a 12.1 s reel of 15 asked, and nothing said why.
    from moments.engine.many import choose, short_note

    options = HighlightOptions(duration=15)
    clips = [
        _moving_clip(media_dir, 0, 20.0, (2.0, 5.0)),
        _moving_clip(media_dir, 1, 20.0, (8.0, 11.0)),
    ]
    choice = choose(clips, options)
    assert [len(segments) for segments in choice.segments] == [1, 1]
    assert "of these clips stood out; your reel is" in (short_note(choice, options) or "")
    # Clips meet on a hard cut, a clip's own segments on a crossfade: the sentence gives the
    # reel's true length. Counting a crossfade at every join, a 7.0 s reel said "6 s".
    picks = [[replace(segs[0], source_end=segs[0].source_start + 3.3)]
             for segs in choice.segments]  # fmt: skip
    note = short_note(replace(choice, segments=picks), options)
    assert note == "Only 7 s of these clips stood out; your reel is 7 s rather than 15 s."


def test_clips_shorter_in_all_than_the_reel_say_so(media_dir):
    # Two 4 s clips for a 15 s reel said "Only 7 s of these clips stood out": of 8 s.
    from moments.engine.many import choose, short_note

    def two(live_from: float) -> list:
        return [_moving_clip(media_dir, n, 4.0, (live_from, 4.1)) for n in (0, 1)]

    options = HighlightOptions(duration=15)
    whole = short_note(choose(two(0.0), options), options) or ""
    assert whole.startswith("These clips are 8 s long in all, so your reel is "), whole
    assert whole.endswith(" s rather than 15 s."), whole
    half = short_note(choose(two(2.0), options), options) or ""
    assert half.startswith("These clips are 8 s long in all and only "), half
    assert " s of them stood out, so your reel is " in half, half


def _level(samples: np.ndarray, start: float, end: float, rate: int = 48_000) -> float:
    """RMS of ``samples`` (channels, n) from ``start`` to ``end`` seconds, dBFS."""
    part = samples[:, round(start * rate) : round(end * rate)]
    assert part.shape[1] > rate // 10, (start, end)
    return float(10 * np.log10(np.mean(part.astype(np.float64) ** 2) + 1e-20))


def test_a_clip_without_sound_is_silent_in_a_reel_that_has_sound(tmp_path):
    # Three lively clips, the middle one filmed with no sound track at all (a screen
    # recording, a muted export): the reel has the others' sound where they are, and silence
    # where the silent clip is, not an error, nor a note about sound that could not be read.
    names = ["first.mp4", "mute.mp4", "last.mp4"]
    paths = []
    for k, name in enumerate(names):
        shots = [ShotSpec("dull", 1.5, 60 + k), ShotSpec("highlight", 3, 70 + k)]
        make_video(tmp_path / name, shots, size=(160, 90), audio=name != "mute.mp4")
        paths.append(tmp_path / name)
    result = highlight_many(paths, tmp_path / "reel.mp4", HighlightOptions(duration=9.0))
    assert [c.path.name for c in result.clips] == names
    assert not any("sound" in n for n in result.notes), result.notes
    with av.open(str(result.output)) as container:
        assert len(container.streams.audio) == 1
        sound = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    assert sound.shape[1] >= (result.duration - 0.1) * 48_000  # sound the reel's whole length
    levels: dict[str, list[float]] = {name: [] for name in names}
    for segment in result.segments:  # inside each segment, clear of crossfades and soft cuts
        start, end = segment.output_start + 0.3, segment.output_start + segment.duration - 0.3
        levels[result.clips[segment.clip].path.name].append(_level(sound, start, end))
    assert all(levels.values()), levels  # every clip is in the reel
    # Claps and cheering normalised to -16 LUFS: about -20 dBFS. Silence: nothing at all.
    assert min(levels["first.mp4"] + levels["last.mp4"]) > -35.0, levels
    assert max(levels["mute.mp4"]) < -70.0, levels


def test_a_size_the_clips_cannot_give_is_said(many, tmp_path):
    result, _ = many
    folder = result.output.parent
    paths = [folder / name for name in SHOT_ORDER[:3]]
    options = HighlightOptions(duration=6.0, poster=False, resolution="4k")
    made = highlight_many(paths, tmp_path / "r.mp4", options)
    said = f"Your reel is {made.width}x{made.height} rather than 4K: the clips' pictures are"
    assert max(made.width, made.height) < 3840
    assert any(note.startswith(said) for note in made.notes), made.notes
