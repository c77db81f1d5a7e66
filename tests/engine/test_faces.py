"""Faces: a real face (scikit-image's astronaut photo) planted off-centre in a synthetic clip."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from moments.engine import highlight
from moments.engine.analyse import analyse, faces
from moments.engine.analyse.video import DETAIL_SIDE, FACE_EVERY
from moments.engine.models import HighlightOptions
from moments.engine.probe import probe
from moments.engine.progress import Reporter
from moments.engine.select import frame_scores, select

from .synth import FACE_CENTRE, FACE_DRIFT, ShotSpec, synthesise

CLIP = [ShotSpec("dull", 4, 1), ShotSpec("face", 6, 2), ShotSpec("dull", 4, 3)]


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory):
    return synthesise(tmp_path_factory.mktemp("faces") / "face.mp4", CLIP)


def _inside(timeline, shot, margin: float = 0.6) -> np.ndarray:
    t = timeline.times
    return (t >= shot.start + margin) & (t < shot.end - margin)


def test_the_detector_is_available():
    assert faces.available(), "OpenCV with Haar cascades (opencv < 5) is a dependency"


def test_faces_signal_is_high_on_the_face_and_zero_without_one(face_clip):
    _, truth, _, tl = face_clip
    empty_a, face, empty_b = truth
    assert tl.signals["faces"][_inside(tl, face)].min() > 0.9
    for shot in (empty_a, empty_b):
        assert tl.signals["faces"][_inside(tl, shot, 0.3)].max() < 0.05


def test_focus_follows_the_off_centre_face(face_clip):
    _, truth, _, tl = face_clip
    face = truth[1]
    fx, fy = tl.focus[_inside(tl, face)].T
    assert np.abs(fx - FACE_CENTRE[0]).max() < FACE_DRIFT + 0.03
    assert np.abs(fy - FACE_CENTRE[1]).max() < 0.05
    # Right from the cut into the face shot, not leaning towards the centred shot before.
    just_after = (tl.times >= face.start + 0.1) & (tl.times < face.start + 0.6)
    assert np.abs(tl.focus[just_after, 0] - FACE_CENTRE[0]).max() < FACE_DRIFT + 0.03
    # Without a face or motion the focus stays at the centre.
    assert np.allclose(tl.focus[_inside(tl, truth[0])], 0.5, atol=0.05)


def test_a_face_shot_shorter_than_the_face_interval_is_still_looked_at(tmp_path):
    assert FACE_EVERY > 1.5
    clip = [ShotSpec("dull", 5, 1), ShotSpec("face", 1.5, 2), ShotSpec("dull", 5, 3)]
    _, truth, _, tl = synthesise(tmp_path / "short.mp4", clip)
    assert tl.signals["faces"][_inside(tl, truth[1], 0.3)].min() > 0.9
    for shot in (truth[0], truth[2]):
        assert tl.signals["faces"][_inside(tl, shot, 0.3)].max() < 0.05


def test_face_shot_outranks_an_empty_static_shot_at_equal_audio(face_clip):
    _, truth, media, tl = face_clip
    score = frame_scores(tl)
    empty_a, face, empty_b = truth
    # Same room tone and lighting in all three shots: the face is the only difference.
    for shot in (empty_a, empty_b):
        assert abs(tl.signals["audio"][_inside(tl, shot)].mean()) < 0.2
    assert score[_inside(tl, face)].mean() > 2 * score[_inside(tl, empty_a)].mean()
    assert score[_inside(tl, face)].mean() > 2 * score[_inside(tl, empty_b)].mean()
    segments = select(media, tl, HighlightOptions(duration=5))
    assert segments
    for seg in segments:
        assert face.overlap(seg.source_start, seg.source_end) > 0.9 * seg.duration
        assert abs(seg.focus[0] - FACE_CENTRE[0]) < FACE_DRIFT + 0.03
        assert abs(seg.focus[1] - FACE_CENTRE[1]) < 0.05
        assert seg.reason.startswith(("a face close up", "people in view"))


def test_face_detection_runs_on_sampled_frames_only(face_clip, monkeypatch):
    _, truth, media, _ = face_clip
    calls: list[np.ndarray] = []
    real_detect = faces.detect

    def counted_detect(gray):  # a spy: the real detector still runs
        calls.append(gray)
        return real_detect(gray)

    monkeypatch.setattr(faces, "detect", counted_detect)
    analyse(media, HighlightOptions(), Reporter())
    frames = round(truth[-1].end * 30)
    # Every FACE_EVERY seconds within a shot, and once more at each new shot.
    assert len(calls) <= media.duration / FACE_EVERY + len(truth) + 1
    assert len(calls) < frames / 20
    assert all(gray.shape[1] == DETAIL_SIDE for gray in calls)  # small frames only


def _backgrounds(count: int) -> list[np.ndarray]:
    """Busy (smooth random blobs, like the benchmark's texture) and plain 320x180 scenes."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count // 2):
        blobs = rng.uniform(40, 220, size=(180 // 8, 320 // 8)).astype(np.float32)
        out.append(cv2.resize(blobs, (320, 180), interpolation=cv2.INTER_LINEAR).astype(np.uint8))
        out.append(np.full((180, 320), int(rng.uniform(60, 200)), np.uint8))
    return out


def test_faces_a_sixth_of_the_frame_and_up_are_found_and_backgrounds_are_not_faces():
    from skimage import data

    head = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)[30:300, 100:330]
    rng = np.random.default_rng(1)
    missed = []
    for k, background in enumerate(_backgrounds(20)):
        assert faces.detect(background) == [], k
        for face_share in (0.3, 0.4, 0.55):  # of the frame's height (face ~45% of the crop)
            h = min(178, int(180 * face_share / 0.45))
            w = int(h * head.shape[1] / head.shape[0])
            image = background.copy()
            x, y = int(rng.integers(0, 320 - w)), int(rng.integers(0, 180 - h))
            image[y : y + h, x : x + w] = cv2.resize(head, (w, h), interpolation=cv2.INTER_AREA)
            boxes = faces.detect(image)
            centre = [(bx + bw / 2, by + bh / 2) for bx, by, bw, bh in boxes]
            if not any(x < cx < x + w and y < cy < y + h for cx, cy in centre):
                missed.append((k, face_share))
    assert missed == []


def test_vertical_reel_keeps_the_face_in_frame(face_clip, tmp_path):
    path, _truth, _, _ = face_clip
    result = highlight(path, tmp_path / "reel.mp4", HighlightOptions(duration=5, aspect="9:16"))
    assert result.height > result.width
    found, count = 0, 0
    with av.open(str(result.output)) as reel:
        for frame in reel.decode(video=0):
            count += 1
            gray = cv2.cvtColor(frame.to_ndarray(format="rgb24"), cv2.COLOR_RGB2GRAY)
            boxes = faces.detect(gray)
            found += bool(boxes)
            for x, _y, w, _h in boxes:
                assert x >= 0 and x + w <= gray.shape[1]
    assert count > 100
    # A centred crop (the default without a face) would show none of it.
    assert found / count > 0.8, (found, count)


@pytest.mark.parametrize("name", ["example.mp4", "man-on-green-screen.mp4", "testsrc.mp4"])
def test_no_faces_found_where_there_are_none(media_dir, name):
    # example.mp4 is a green frame with a timecode; the man on green is a black silhouette.
    media = probe(media_dir / name)
    tl = analyse(media, HighlightOptions(), Reporter())
    assert tl.signals["faces"].max() < 0.05
