"""Cheap face detection on a few sampled frames, when this OpenCV build can do it.

OpenCV 4.x ships Haar cascades (``cv2.data.haarcascades``); OpenCV 5 dropped both the
cascades and ``CascadeClassifier``. Without them ``detect`` finds nothing and the analysis
falls back to motion for the subject's position.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np

CASCADE = "haarcascade_frontalface_alt2.xml"
"""Of OpenCV's frontal cascades, the one that was both cheapest and most sure here: on an
astronaut's face planted at five sizes over 40 backgrounds, alt2 with the settings below found
as many faces as ``default`` (with a finer scale step and three neighbours) with no false hit
against one, in 6 ms a frame against 11 (on the benchmark's busy texture, 7 against 14)."""


@cache
def _detector():
    classifier = getattr(cv2, "CascadeClassifier", None)
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if classifier is None or folder is None or not (Path(folder) / CASCADE).is_file():
        return None
    detector = classifier(str(Path(folder) / CASCADE))
    return None if detector.empty() else detector


def available() -> bool:
    return _detector() is not None


def detect(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) in a small upright luma image; empty when unavailable."""
    detector = _detector()
    if detector is None:
        return []
    side = min(gray.shape)
    # No histogram equalisation: stretching the whole frame's tones to suit a busy background
    # washed out a plain, well-lit face (a 42 px face in a 320x180 frame was missed).
    # Faces smaller than a sixth of the frame are background, and a coarse scale step, since
    # the smallest scales cost most. Three neighbours, as OpenCV's default: with two, a street
    # sign in a bike shot was a face on a frame here and there (3 frames of 1,000 in one
    # encoding, 6 in another: picks then followed whichever frame was sampled), while a
    # close-up in a car was found on 36 of its 100 frames with three against 39 with two.
    found = detector.detectMultiScale(
        gray, scaleFactor=1.3, minNeighbors=3, minSize=(side // 6,) * 2
    )
    return [tuple(int(v) for v in box) for box in found]
