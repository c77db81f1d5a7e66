"""Source audio reaches the meter as the same mono signal, however it is batched."""

from __future__ import annotations

import av
import numpy as np
import pytest

from moments.engine.analyse.audio import RATE, AudioMeter
from moments.engine.analyse.audio_in import AudioInput


class _Recorder(AudioMeter):
    """A meter that also keeps every sample fed to it."""

    def __init__(self) -> None:
        super().__init__()
        self.fed: list[np.ndarray] = []

    def feed(self, samples: np.ndarray) -> None:
        self.fed.append(samples.copy())
        super().feed(samples)


def _frames(seconds: float, rate: int, fmt: str, layout: str, size: int = 1024):
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    channels = 2 if layout == "stereo" else 1
    for start in range(0, len(t), size):
        chunk = tone[start : start + size]
        if fmt == "fltp":
            data = np.tile(chunk.astype(np.float32), (channels, 1))
        else:  # packed s16
            data = np.repeat((chunk * 32767).astype(np.int16), channels)[None, :]
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
        frame.sample_rate = rate
        yield frame


def _per_frame(frames) -> np.ndarray:
    """The plain way: every frame resampled on its own."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    out = [m.to_ndarray().reshape(-1) for f in frames for m in resampler.resample(f)]
    out += [m.to_ndarray().reshape(-1) for m in resampler.resample(None)]
    return np.concatenate(out)


def test_batches_give_the_signal_frame_by_frame_resampling_gives():
    meter = _Recorder()
    sound = AudioInput(meter)
    for frame in _frames(3.3, 48_000, "fltp", "stereo"):
        sound.add(frame)
    assert sound.finish() is meter
    batched = np.concatenate(meter.fed)
    plain = _per_frame(_frames(3.3, 48_000, "fltp", "stereo"))
    assert len(batched) == len(plain) == pytest.approx(3.3 * RATE, abs=64)
    assert np.abs(batched - plain).max() < 1e-3
    assert len(meter.fed) <= 5  # about a second per call, not a call per 21 ms frame


def test_a_format_change_midway_keeps_both_parts():
    meter = _Recorder()
    sound = AudioInput(meter)
    for frame in _frames(1.5, 48_000, "fltp", "stereo"):
        sound.add(frame)
    for frame in _frames(2.0, 44_100, "s16", "mono", size=1152):
        sound.add(frame)
    sound.finish()
    signal = np.concatenate(meter.fed)
    assert len(signal) == pytest.approx(3.5 * RATE, abs=128)
    # The same 440 Hz tone throughout (stereo is downmixed at -3 dB per channel, so the
    # stereo part is the louder), with no silence or garbage where the format changed.
    rms = [np.sqrt(np.mean(part**2)) for part in np.array_split(signal[800:-800], 14)]
    assert np.allclose(rms[:5], 0.5, atol=0.02)
    assert np.allclose(rms[7:], 0.5 / np.sqrt(2), atol=0.02)
    assert min(rms) > 0.3
