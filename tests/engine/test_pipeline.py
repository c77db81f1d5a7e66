"""highlight() end to end on every real media file, plus progress and cancellation."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from moments.engine import Cancelled, EngineError, HighlightOptions, highlight
from moments.engine.models import Segment
from moments.engine.progress import STAGES
from moments.engine.select import POSTER_AFTER_KEYFRAME, poster_moment, poster_time
from moments.engine.timeline import Timeline
from tests.conftest import MEDIA

VIDEOS = sorted(
    p.name for p in MEDIA.iterdir() if p.suffix in {".mp4", ".mkv"}
)  # every video file the media folder holds
AUDIO_ONLY = ["aac.m4a", "mono.mp3"]


@pytest.mark.parametrize("name", VIDEOS)
def test_every_real_video_makes_a_reel(name: str, tmp_path: Path) -> None:
    output = tmp_path / "reel.mp4"
    result = highlight(MEDIA / name, output, HighlightOptions(duration=8))

    assert result.segments
    assert result.duration <= 8 * 1.05
    starts = [s.source_start for s in result.segments]
    assert starts == sorted(starts), "segments keep chronological order"
    for segment in result.segments:
        assert segment.reason
        assert 0 <= segment.source_start < segment.source_end <= result.media.duration + 0.05
    document = result.to_dict()
    json.dumps(document)  # the --json document is plain JSON

    with av.open(str(output)) as reel:
        video = reel.streams.video[0]
        # the result says what the file holds: codec, declared profile, video bits per second
        codec, head = video.codec_context.name, video.codec_context.extradata[1]
        if codec == "hevc":  # an HEVC source's GOPs copied (hvcC: general_profile_idc)
            declared = {1: "Main", 2: "Main 10"}[head & 0x1F]
        else:
            declared = {0x42: "Baseline", 0x4D: "Main", 0x64: "High"}[head]
        assert document["codec"] == codec and document["profile"].endswith(declared)
        bits = 8 * sum(p.size for p in reel.demux(video) if p.size)
        assert document["bitrate"] == pytest.approx(bits / result.duration, rel=0.05)

    with av.open(str(output)) as reel:
        video = reel.streams.video[0]
        # H.264, or HEVC where an HEVC source's pictures are copied (codec=auto)
        assert video.codec_context.name == ("hevc" if name == "testsrc-hevc.mp4" else "h264")
        assert reel.streams.audio[0].codec_context.name == "aac"
        frames = sum(1 for _ in reel.decode(video=0))
    assert frames >= 0.5 * result.duration * result.media.fps
    assert result.poster is not None and result.poster.read_bytes()[:2] == b"\xff\xd8"


@pytest.mark.parametrize("name", AUDIO_ONLY)
def test_audio_only_files_fail_with_a_clear_message(name: str, tmp_path: Path) -> None:
    output = tmp_path / "reel.mp4"
    with pytest.raises(EngineError, match="no video"):
        highlight(MEDIA / name, output)
    assert not output.exists()


def test_progress_runs_through_every_stage_in_order(tmp_path: Path) -> None:
    seen: list[tuple[str, float]] = []
    highlight(
        MEDIA / "testsrc.mp4",
        tmp_path / "reel.mp4",
        progress=lambda stage, fraction: seen.append((stage, fraction)),
    )
    order = list(dict.fromkeys(stage for stage, _ in seen))
    assert order == list(STAGES)
    for stage in STAGES:
        fractions = [f for s, f in seen if s == stage]
        assert fractions == sorted(fractions), f"{stage} progress went backwards"
        assert fractions[-1] == 1.0


@pytest.mark.parametrize("stage", ["analyse", "render"])
def test_cancel_takes_effect_within_a_second(stage: str, tmp_path: Path) -> None:
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def on_progress(current: str, fraction: float) -> None:
        if current == stage and fraction > 0 and not cancel.is_set():
            cancel.set()
            cancelled_at.append(time.monotonic())

    output = tmp_path / "reel.mp4"
    with pytest.raises(Cancelled):
        highlight(MEDIA / "example.mp4", output, progress=on_progress, cancel=cancel)
    assert cancelled_at, f"the {stage} stage never reported progress"
    assert time.monotonic() - cancelled_at[0] < 1.0
    assert list(tmp_path.iterdir()) == [], "no partial reel or poster is left behind"


def _poster_timeline(quality: np.ndarray, plain: np.ndarray, keyframes: list[float]) -> Timeline:
    n = len(quality)
    zeros = np.zeros(n)
    signals = {"quality": quality, "plain": plain, "faces": zeros, "shake": zeros}
    return Timeline(duration=(n - 1) * 0.1, step=0.1, signals=signals, keyframes=keyframes)


def test_poster_is_the_best_looking_frame_of_the_best_segment() -> None:
    def seg(start: float, end: float, score: float) -> Segment:
        return Segment(start, end, 0.0, score, {}, "")

    # 0-4 s: a title card until 1.5 s, then a fade to black from 3 s; 10-16 s: weaker segment.
    quality = np.ones(170)
    quality[30:41] = np.linspace(1.0, 0.0, 11)
    plain = np.zeros(170)
    plain[:15] = 1.0
    segments = [seg(0.0, 4.0, 0.9), seg(10.0, 16.0, 0.5)]
    t = poster_time(segments, _poster_timeline(quality, plain, []))
    assert 1.5 <= t <= 2.6, "neither the card nor the fade"
    # A keyframe nearly as good is preferred (the poster then decodes one picture).
    t = poster_time(segments, _poster_timeline(quality, plain, [0.0, 2.0, 10.0]))
    assert t == pytest.approx(2.0 + POSTER_AFTER_KEYFRAME)
    # The best segment all dark: the other segment's frame.
    quality[:41] = 0.05
    t = poster_time(segments, _poster_timeline(quality, plain, []))
    assert 10.0 <= t <= 16.0


def test_a_dim_face_is_no_poster_over_a_bright_moment() -> None:
    """A dim shot with a face (a trailer's burrow, luma ~72) lost to a bright lively one
    (luma ~130) only by its face; a poster is well exposed first."""

    def seg(start: float, end: float, score: float) -> Segment:
        return Segment(start, end, 0.0, score, {}, "")

    n = 200
    faces = np.zeros(n)
    faces[:60] = 1.0  # 0-6 s: the dim shot with a face; 10-16 s: bright, no face
    thumbs = np.full((n, 9, 16), 130, np.uint8)
    thumbs[:60] = 72
    signals = {"quality": np.ones(n), "plain": np.zeros(n), "faces": faces, "shake": np.zeros(n)}
    signals["motion"] = np.where(faces > 0, 0.0, 0.6)  # the lively one moves
    timeline = Timeline(duration=19.9, step=0.1, signals=signals, thumbs=thumbs)
    segments = [seg(10.0, 16.0, 0.47), seg(0.0, 6.0, 0.36)]
    assert 10.0 <= poster_time(segments, timeline) <= 16.0
    # The dim face the best moment (the trailer's 15 s reel, luma 76): still the bright one.
    timeline.thumbs[:60] = 76
    best_dim = [seg(0.0, 6.0, 0.47), seg(10.0, 16.0, 0.41)]
    assert 10.0 <= poster_time(best_dim, timeline) <= 16.0
    # Lit alike, the face wins.
    timeline.thumbs[:60] = 130
    assert 0.0 <= poster_time(segments, timeline) <= 6.0
    assert 0.0 <= poster_time(best_dim, timeline) <= 6.0


def test_the_poster_of_many_clips_is_the_best_looking_frame_of_all_their_best_moments() -> None:
    """A talk over a flat card scored best of a many-clip reel (0.51): the poster was looked
    for in that clip only, and was the card. It is the best-looking frame of every clip's best
    moments (the best segment's winning unless another's is clearly better looking)."""

    def seg(start: float, end: float, score: float) -> Segment:
        return Segment(start, end, 0.0, score, {}, "")

    card = _poster_timeline(np.ones(100), np.ones(100), [])  # plain all through: a card
    sharp = _poster_timeline(np.ones(100), np.zeros(100), [])
    clips = [([seg(5.0, 8.0, 0.40)], sharp), ([seg(1.0, 9.0, 0.51)], card)]
    k, t = poster_moment(clips)
    assert k == 0 and 5.0 <= t <= 8.0
    # Alike in look, the best-scoring moment gives the poster; one clip is poster_time's.
    k, t = poster_moment([clips[0], ([seg(1.0, 9.0, 0.51)], sharp)])
    assert k == 1 and 1.0 <= t <= 9.0
    assert poster_moment([clips[1]]) == (0, poster_time(*clips[1]))
    # A clip the reel blows up (four times a side: half as sharp as the limit allows) is not.
    k, _ = poster_moment([clips[0], ([seg(1.0, 9.0, 0.51)], sharp)], [1.0, 0.5])
    assert k == 0


def test_the_poster_shows_the_moment_not_the_still_before_it() -> None:
    """OpenCV's tree.avi: a still tree, then a hand sweeping across the lens. The poster was
    the still tree with the hand's edge at the frame's side (as good a picture, and first);
    it is the frame where the hand is, as long as that looks about as good."""

    def seg(start: float, end: float, score: float) -> Segment:
        return Segment(start, end, 0.0, score, {}, "")

    n = 100
    timeline = _poster_timeline(np.ones(n), np.zeros(n), [])
    timeline.signals["quality"][60:] = 0.85  # the hand is a little blurred
    timeline.signals["motion"] = np.where(np.arange(n) >= 60, 0.9, 0.0)
    t = poster_time([seg(2.0, 9.5, 0.4)], timeline)
    assert 6.5 <= t <= 9.0, t


def test_the_poster_keeps_off_the_cuts_inside_a_segment() -> None:
    """The Big Buck Bunny trailer's 30 s poster was the keyframe on a cut inside a pick that ran
    across it: the tree the bunny steps in front of a second later, with no bunny. A poster is
    not taken within half a second of a cut, keyframe or not (unless nothing else is left)."""

    def seg(start: float, end: float, score: float) -> Segment:
        return Segment(start, end, 0.0, score, {}, "")

    n = 100
    timeline = _poster_timeline(np.ones(n), np.zeros(n), [5.0, 8.0])
    timeline.shots = [5.0]  # both shots lively and sharp alike: the first frame, or the keyframe
    timeline.signals["motion"] = np.full(n, 0.9)
    t = poster_time([seg(4.0, 9.5, 0.4)], timeline)
    assert abs(t - 5.0) >= 0.5 - 1e-9, t
    assert 4.8 <= poster_time([seg(4.8, 5.3, 0.4)], timeline) <= 5.3  # nothing else left
