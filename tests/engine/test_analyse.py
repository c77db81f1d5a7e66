"""Analysis on synthetic videos with known ground truth, and on real files."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from moments.engine.analyse import analyse
from moments.engine.errors import Cancelled
from moments.engine.models import HighlightOptions
from moments.engine.probe import probe
from moments.engine.progress import Reporter


def _mean(timeline, name, shot):
    t = timeline.times
    inside = (t >= shot.start + 0.5) & (t < shot.end - 0.5)
    values = timeline.signals.get(name, timeline.speech)
    return float(np.mean(values[inside]))


def _shots(truth, kind):
    return [s for s in truth if s.kind == kind]


def test_motion_tells_subject_motion_from_camera_shake(reel):
    _, truth, _, tl = reel
    for shot in _shots(truth, "highlight"):
        assert _mean(tl, "motion", shot) > 0.5
        assert _mean(tl, "shake", shot) < 0.2
    for shot in _shots(truth, "shaky"):
        assert _mean(tl, "shake", shot) > 0.6
        assert _mean(tl, "motion", shot) < 0.2  # a shaky camera is not action
    for shot in _shots(truth, "dull"):
        assert _mean(tl, "motion", shot) < 0.1
        assert _mean(tl, "shake", shot) < 0.1


def test_audio_excitement_uses_variation_not_level(reel):
    _, truth, _, tl = reel
    exciting = min(_mean(tl, "audio", s) for s in _shots(truth, "highlight"))
    for kind in ("hum", "dull", "pocket"):
        for shot in _shots(truth, kind):
            assert _mean(tl, "audio", shot) < 0.2 < exciting, kind


def test_quality_flags_dark_blurred_and_pocket(reel):
    _, truth, _, tl = reel
    for kind in ("dark", "blurred", "pocket"):
        for shot in _shots(truth, kind):
            assert _mean(tl, "quality", shot) < 0.2, kind
    for kind in ("dull", "highlight", "shaky"):
        for shot in _shots(truth, kind):
            assert _mean(tl, "quality", shot) > 0.8, kind


def test_speech_is_found_and_a_steady_hum_is_not_speech(reel):
    _, truth, _, tl = reel
    (talk,) = _shots(truth, "speech")
    assert _mean(tl, "speech", talk) > 0.8
    for kind in ("hum", "highlight", "pocket", "dull"):
        for shot in _shots(truth, kind):
            assert _mean(tl, "speech", shot) < 0.2, kind
    # Pauses between words are offered as cut points; none falls inside a word.
    pauses = [q for q in tl.quiet if talk.start < q < talk.end]
    # Real talk (not the evenly spaced synthetic words this once was): a pause between
    # phrases every two or three seconds.
    assert len(pauses) >= (talk.end - talk.start) / 4
    for q in pauses:
        assert not any(w0 + 0.02 < q < w1 - 0.02 for w0, w1 in talk.words), (q, talk.words)


def test_shot_boundaries_match_visible_cuts(reel):
    _, truth, _, tl = reel
    found = np.asarray(tl.shots)
    # Every cut between two different scenes is found, to within two frames.
    visible = [b.start for a, b in itertools.pairwise(truth) if a.seed != b.seed]
    for cut in visible:
        assert np.min(np.abs(found - cut)) < 0.07, cut
    # And few are invented (a shaky shot may add one).
    assert len(found) <= len(visible) + 2


def test_focus_follows_the_moving_subject(reel):
    _, truth, _, tl = reel
    assert tl.focus is not None and tl.focus.shape == (len(tl.times), 2)
    assert ((tl.focus >= 0) & (tl.focus <= 1)).all()
    # The dull shots have nothing moving: focus stays near the centre.
    for shot in _shots(truth, "dull")[:1]:
        inside = (tl.times > shot.start + 1) & (tl.times < shot.end - 1)
        assert np.allclose(tl.focus[inside], 0.5, atol=0.15)


def test_sparse_decode_still_finds_the_highlights(reel):
    _path, truth, media, _ = reel
    tl = analyse(media, HighlightOptions(), Reporter(), dense_fraction=0.3)
    for shot in _shots(truth, "highlight"):
        assert _mean(tl, "motion", shot) > 0.4
    for shot in _shots(truth, "dark"):
        assert _mean(tl, "quality", shot) < 0.2


def test_progress_is_reported_and_cancel_stops_analysis(reel):
    _, _, media, _ = reel
    seen: list[float] = []
    analyse(media, HighlightOptions(), Reporter(lambda stage, f: seen.append(f)))
    assert len(seen) >= 3 and seen == sorted(seen)

    stop = threading.Event()

    def cancel_soon(stage: str, fraction: float) -> None:
        if fraction > 0.1:
            stop.set()

    with pytest.raises(Cancelled):
        analyse(media, HighlightOptions(), Reporter(cancel_soon, stop))


@pytest.mark.parametrize("name", ["example.mp4", "man-on-green-screen.mp4", "testsrc.mp4"])
def test_real_files_give_sane_timelines(media_dir, name):
    media = probe(media_dir / name)
    tl = analyse(media, HighlightOptions(), Reporter())
    assert abs(tl.duration - media.duration) < 0.5
    n = len(tl.times)
    assert n == pytest.approx(media.duration / tl.step, abs=2)
    for key, values in tl.signals.items():
        assert values.shape == (n,), key
        assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all(), key
    assert tl.thumbs is not None and len(tl.thumbs) == n
    # All three are well-lit, in-focus recordings.
    assert np.median(tl.signals["quality"]) > 0.5


@pytest.mark.parametrize("length", [1, 2, 5, 10, 11, 12, 40])
def test_moving_mean_keeps_the_length_of_short_series(length: int) -> None:
    # A shot shorter than the smoothing window once broke focus smoothing (shape mismatch).
    from moments.engine.analyse.audio import moving_mean

    x = np.arange(length, dtype=float)
    smoothed = moving_mean(x, 11)
    assert smoothed.shape == x.shape
    assert smoothed.min() >= x.min() and smoothed.max() <= x.max()
    assert moving_mean(np.full(length, 3.0), 11) == pytest.approx(np.full(length, 3.0))


def test_face_samples_speak_only_for_their_own_shot() -> None:
    # Faces are sampled sparsely; a face seen just before a cut must not mark the next shot.
    from moments.engine.analyse.build import _nearest_in_shot

    grid = np.arange(0, 6, 0.5)
    found = _nearest_in_shot([0.5, 2.5, 4.5], [1.0, 1.0, 0.0], grid, shots=[3.0])
    assert found[grid < 3.0].tolist() == [1.0] * 6
    assert found[grid >= 3.0].tolist() == [0.0] * 6
    assert _nearest_in_shot([0.5], [1.0], grid, shots=[1.0, 4.0])[grid >= 1.0].max() == 0.0


def test_portrait_is_measured_at_the_scale_of_landscape(tmp_path, monkeypatch) -> None:
    # The same fine texture, once as a landscape picture and once turned to portrait: their
    # detail images (sharpness, faces) must see it at one scale, or a portrait clip's focus
    # and smallest face would be judged by other thresholds than a landscape one's.
    import cv2

    from moments.engine.analyse.video import DETAIL_SIDE, VideoMeter

    from .media_factory import make_video

    rng = np.random.default_rng(3)
    grain = cv2.GaussianBlur(rng.integers(0, 256, (360, 640), dtype=np.uint8), (0, 0), 1.5)
    wide = np.repeat(grain[:, :, None], 3, axis=2)
    tall = np.ascontiguousarray(np.rot90(wide))
    seen: list[tuple[tuple[int, int], float]] = []
    measure = VideoMeter.add_detail

    def spy(self, t, gray):
        seen.append((gray.shape, float(cv2.Laplacian(gray, cv2.CV_32F).var())))
        return measure(self, t, gray)

    monkeypatch.setattr(VideoMeter, "add_detail", spy)
    sharpness = {}
    for name, picture in (("wide", wide), ("tall", tall)):
        height, width = picture.shape[:2]
        clip = make_video(
            tmp_path / f"{name}.mp4",
            seconds=2.0,
            width=width,
            height=height,
            audio=False,
            frame_fn=lambda i, w, h, picture=picture: picture,
            video_options={"crf": "12"},
        )
        seen.clear()
        analyse(probe(clip), HighlightOptions(duration=1.0), Reporter())
        assert seen and {max(shape) for shape, _ in seen} == {DETAIL_SIDE}
        sharpness[name] = float(np.mean([value for _, value in seen]))
    assert 0.85 < sharpness["tall"] / sharpness["wide"] < 1.15


def _meter(samples: np.ndarray):
    """AudioFrames of mono float ``samples`` at 48 kHz (resampled as analysis does)."""
    import av

    from moments.engine.analyse.audio import AudioMeter
    from moments.engine.analyse.audio_in import AudioInput

    sound = AudioInput(AudioMeter())
    frame = av.AudioFrame.from_ndarray(
        samples.astype(np.float32)[None, :], format="flt", layout="mono"
    )
    frame.sample_rate = 48_000
    sound.add(frame)
    return sound.finish().finish()


def test_music_talk_and_a_hum_are_told_apart():
    """The voice model hears talk, not a song; the music test hears a song, not talk or a hum."""
    from moments.engine.analyse import audio as au
    from tests.quality.footage import music_bed

    from .synth import _talk

    rng = np.random.default_rng(3)
    t = np.arange(12 * 48_000) / 48_000
    hum = sum(0.35 / k * np.sin(2 * np.pi * 100 * k * t) for k in range(1, 6))
    cases = {
        "music": music_bed(12.0, rng),
        "talk": _talk(12.0, 0.5)[0],
        "hum": hum + rng.normal(0, 0.003, len(t)),
    }
    found = {}
    for name, samples in cases.items():
        frames = _meter(samples)
        inner = slice(len(frames.level_db) // 4, -len(frames.level_db) // 4)  # away from edges
        found[name] = (au.speech(frames)[inner].mean(), au.music(frames)[inner].mean())
    assert found["music"][0] < 0.1 and found["music"][1] > 0.8, found
    assert found["talk"][0] > 0.9 and found["talk"][1] < 0.1, found
    assert found["hum"][0] < 0.1 and found["hum"][1] < 0.1, found


def test_soft_music_over_a_quiet_room_is_music():
    """A trailer's title music, soft (about -53 dBFS) over a room at about -66 dBFS, is music:
    counted only where it was 15 dB over the room, it was never held long enough, and its
    onsets made a title sequence 'lively sound' that opened the reel."""
    from moments.engine.analyse import audio as au
    from tests.quality.footage import music_bed

    rng = np.random.default_rng(5)
    room = rng.normal(0, 10 ** (-66 / 20), 20 * 48_000)
    bed = music_bed(14.0, rng)
    bed *= 10 ** (-53 / 20) / np.sqrt(np.mean(bed**2))
    samples = room.copy()
    samples[6 * 48_000 :] += bed
    frames = _meter(samples)
    per_second = len(frames.level_db) / 20.0
    inner = slice(round(9 * per_second), round(17 * per_second))  # away from the edges
    assert au.music(frames)[inner].mean() > 0.8
    assert au.speech(frames)[inner].mean() < 0.1


def test_a_fade_to_black_is_no_movement(tmp_path):
    """A still picture fading to black in 0.6 s scales every pixel alike: no movement (it read
    as 'fast action' when a trailer's last caption faded out)."""
    import av
    import cv2

    from moments.engine.analyse import analyse
    from moments.engine.models import HighlightOptions
    from moments.engine.probe import probe
    from moments.engine.progress import Reporter

    rng = np.random.default_rng(2)
    still = cv2.resize(rng.integers(60, 256, (18, 32, 3), dtype=np.uint8), (320, 180))
    path = tmp_path / "fade.mp4"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        for i in range(100):  # 2 s still, 0.6 s fade, then black
            gain = float(np.clip(1.0 - (i / 25 - 2.0) / 0.6, 0.0, 1.0))
            picture = (still * gain).astype(np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    timeline = analyse(probe(path), HighlightOptions(duration=2), Reporter())
    fading = (timeline.times >= 2.0) & (timeline.times <= 2.6)
    assert timeline.signals["motion"][fading].max() < 0.2


def test_a_fade_through_black_is_a_shot_boundary(tmp_path):
    """Two pictures joined by a fade out, 0.4 s of black and a fade in (a trailer's way between
    shots): decoded whole, no two frames differ enough for a cut, yet the shots are two, as
    frames a GOP apart (sparse decoding) see them."""
    import av
    import cv2

    from moments.engine.analyse import analyse
    from moments.engine.models import HighlightOptions
    from moments.engine.probe import probe
    from moments.engine.progress import Reporter

    rng = np.random.default_rng(4)
    first, second = (
        cv2.resize(rng.integers(40, 256, (18, 32, 3), dtype=np.uint8), (320, 180)) for _ in "ab"
    )
    path = tmp_path / "through-black.mp4"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        for i in range(150):  # A to 2 s, fade out to 2.5, black to 2.9, fade in to 3.4, B
            t = i / 25
            if t < 2.7:
                picture, gain = first, np.clip((2.5 - t) / 0.5, 0.0, 1.0)
            else:
                picture, gain = second, np.clip((t - 2.9) / 0.5, 0.0, 1.0)
            frame = av.VideoFrame.from_ndarray((picture * gain).astype(np.uint8), format="rgb24")
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    timeline = analyse(probe(path), HighlightOptions(duration=2), Reporter())
    assert [round(s, 1) for s in timeline.shots if 2.4 <= s <= 3.0] == [2.7], timeline.shots


def test_a_plain_card_does_not_move():
    # gradio's "thanks for watching" end card: a flat picture whose only change is codec noise
    # in one pixel. Phase correlation found a 41 px shift in it (peak 0.2), the black border
    # that shift brought in counted as moving, and the card went into a reel as "movement".
    from moments.engine.analyse.video import VideoMeter

    meter = VideoMeter()
    for k in range(5):
        gray = np.full((90, 160), 59, np.uint8)
        gray[37, 41] = 59 + 3 * k
        meter.add(k / 30, gray)
    motion = np.asarray(meter.samples.motion)
    assert np.nanmax(motion) < 0.01, motion
    vx = np.asarray(meter.samples.vx)
    assert np.all(np.isnan(vx) | (vx == 0)), vx  # no camera moves either


def test_a_black_first_frame_does_not_darken_the_shot_after_it(tmp_path):
    # OpenCV's Megamind.avi opens on one black frame, then a lit, sharp dialogue. Sharpness,
    # smoothed over a second across that cut, made the talk's first 0.8 s unwatchable
    # (quality 0), and its reel began after the first words.
    import cv2

    from .media_factory import make_video

    rng = np.random.default_rng(4)
    cells = rng.uniform(40, 230, size=(180 // 12, 320 // 12 + 1))
    scene = cv2.resize(cells, None, fx=12, fy=12, interpolation=cv2.INTER_NEAREST)[:180, :320]

    def frame(i: int, _w: int, _h: int) -> np.ndarray:
        if i < 3:
            return np.zeros((180, 320, 3), np.uint8)
        shifted = np.roll(scene, 2 * i, axis=1)
        return np.repeat(shifted[:, :, None], 3, axis=2).astype(np.uint8)

    path = tmp_path / "black-first.mp4"
    make_video(path, seconds=4, audio=False, frame_fn=frame)
    tl = analyse(probe(path), HighlightOptions(), Reporter())
    after = (tl.times >= 0.2) & (tl.times <= 1.0)
    assert tl.signals["quality"][after].min() >= 0.9, tl.signals["quality"][:12]


def test_a_gop_decoded_again_keeps_the_cut_on_its_keyframe():
    # The Big Buck Bunny trailer with 8 s GOPs (x264 put keyframes on its cuts): a long GOP
    # decoded whole ran on into the next GOP's keyframe, on a hard cut, and measured it; that
    # GOP was then decoded again whole (a skipped stretch of it looked like a cut), and its
    # own decode, starting at the keyframe, had nothing to compare it with. Merged, the cut was
    # lost, and the trailer's picks ran across two of its hard cuts.
    from moments.engine.analyse.build import _shots
    from moments.engine.analyse.video import CUT_THRESHOLD, VideoMeter, merge, without

    rng = np.random.default_rng(5)
    scenes = [rng.uniform(20, 235, size=(90, 160)).astype(np.uint8) for _ in range(2)]

    def frames(first: int, last: int) -> VideoMeter:
        meter = VideoMeter()
        for k in range(first, last):
            picture = np.roll(scenes[k >= 10], k, axis=1)  # a pan; the cut at frame 10
            meter.add(k / 30, picture)
        meter.finish()
        return meter

    once = frames(0, 20).samples  # the first decode ran through the cut
    assert once.cut[10] > CUT_THRESHOLD and not once.run_start[10]
    again = frames(10, 20).samples  # the GOP from the keyframe on the cut, decoded again
    assert again.run_start[0] and again.cut[0] == 0.0  # alone, it cannot see the cut
    merged = merge(without(once, [(10 / 30, 19 / 30)]), again)
    assert merged.t == once.t
    k = merged.t.index(10 / 30)
    assert merged.cut[k] > CUT_THRESHOLD and not merged.run_start[k]
    assert _shots(np.asarray(merged.t), np.asarray(merged.cut)) == [round(10 / 30, 3)]
    assert merged.gap_t == []  # one run throughout, as the first decode saw it


def test_talk_over_a_song_is_still_talk(media_dir):
    """Talk over music (a party, a car radio) keeps its first and last words as talk: the song
    took them where the model's confidence was judged over a window that took in the quiet
    before and after them (example.mp4's talk over a music bed 12 dB down: 81% kept)."""
    import av

    from moments.engine.analyse import audio as au
    from tests.quality.footage import music_bed

    with av.open(str(media_dir / "example.mp4")) as container:
        resample = av.AudioResampler(format="flt", layout="mono", rate=48_000)
        talk = np.concatenate(
            [
                f.to_ndarray().ravel()
                for packet in container.demux(audio=0)
                for frame in packet.decode()
                for f in resample.resample(frame)
            ]
        )[: 18 * 48_000]  # talk from 0 to 18 s, then digital silence
    bed = music_bed(18.0, np.random.default_rng(1))[: len(talk)]
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    alone = au.speech(_meter(talk)).mean()
    mixed = _meter(talk + bed * rms(talk) / rms(bed) * 10 ** (-12 / 20))
    assert alone > 0.9
    assert au.speech(mixed).mean() > alone - 0.03, (alone, au.speech(mixed).mean())
    assert au.music(mixed).mean() > 0.2  # the song is heard: its quiet moments are music


def test_a_gop_decoded_whole_measures_motion_where_the_plan_does():
    # A GOP decoded whole to find a cut measured every pair, where an encoding with no cut to
    # look for there measured its runs alone: motion with a rhythm of its own (the Big Buck
    # Bunny trailer's hops, every second on the second) read differently in the two. Only the
    # planned runs' pairs keep their motion; every frame keeps what else it measured.
    from moments.engine.analyse.video import VideoMeter, pairs_as_planned

    rng = np.random.default_rng(3)
    scene = rng.uniform(20, 235, size=(90, 160)).astype(np.uint8)
    meter = VideoMeter()
    for k in range(60):  # 2 s at 30 fps of a pan
        meter.add(k / 30, np.roll(scene, k, axis=1))
    meter.finish()
    whole = meter.samples
    assert np.isfinite(whole.motion[1:]).all()
    planned = np.array([0, 1, 2, 30, 31, 32]) / 30  # a run at each second, as the plan has it
    kept = pairs_as_planned(whole, planned)
    measured = [round(t * 30) for t, m in zip(kept.t, kept.motion, strict=True) if np.isfinite(m)]
    assert measured == [1, 2, 31, 32]  # each run's pairs; not its first, nor what lies between
    for name in ("vx", "vy", "motion"):
        values = np.asarray(getattr(kept, name))
        assert np.isnan(values[[0, 3, 15, 30, 45]]).all()
        assert np.array_equal(
            values[[1, 2, 31, 32]], np.asarray(getattr(whole, name))[[1, 2, 31, 32]]
        )
    assert kept.t == whole.t and kept.cut == whole.cut and kept.brightness == whole.brightness
