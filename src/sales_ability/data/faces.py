"""Face detection behind a small interface, and the tracker that keeps detection cheap.

A face in an interview clip moves little, so ``locate_faces`` runs the detector on downscaled copies of
every ``detect_every``-th sampled frame (in one batch) and follows the box in between by template
matching; when the match gets poor the face counts as lost and the detector runs again on that frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h in the pixels of the image it was found in


@dataclass(frozen=True)
class Detection:
    """One face: its box and the detector's confidence."""

    box: Box
    score: float


class FaceDetector(Protocol):
    """Anything that finds faces in RGB uint8 images."""

    name: str

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """Faces of each image, most confident first."""
        ...


class MTCNNDetector:
    """MTCNN (the ``mtcnn`` wheel carries its weights, so it works offline). Needs TensorFlow."""

    name = "mtcnn"

    def __init__(self, min_confidence: float = 0.9, min_face_size: int = 20) -> None:
        self.min_confidence = min_confidence
        self.min_face_size = min_face_size
        self._mtcnn = None

    def _model(self):
        if self._mtcnn is None:
            from mtcnn import MTCNN

            self._mtcnn = MTCNN(device="CPU:0")
        return self._mtcnn

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Detection]]:
        if not images:
            return []
        shapes = {im.shape for im in images}
        model = self._model()
        if len(shapes) == 1 and len(images) > 1:
            raw = model.detect_faces(list(images), min_face_size=self.min_face_size)
        else:
            raw = [model.detect_faces(im, min_face_size=self.min_face_size) for im in images]
        out = []
        for faces in raw:
            found = [
                Detection(tuple(float(v) for v in f["box"]), float(f["confidence"]))
                for f in faces
                if f["confidence"] >= self.min_confidence
            ]
            out.append(sorted(found, key=lambda d: -d.score))
        return out


DETECTORS: dict[str, type] = {"mtcnn": MTCNNDetector}


def make_detector(name: str) -> FaceDetector:
    """The detector registered under ``name``."""
    try:
        return DETECTORS[name]()
    except KeyError:
        raise ValueError(f"unknown face detector {name!r}; known: {', '.join(DETECTORS)}") from None


def _track(prev_gray: np.ndarray, gray: np.ndarray, box: Box) -> tuple[Box, float]:
    """Follow ``box`` from ``prev_gray`` into ``gray`` by normalised cross-correlation."""
    import cv2

    h_img, w_img = gray.shape
    x, y, w, h = (int(round(v)) for v in box)
    x, y = max(0, x), max(0, y)
    w, h = min(w, w_img - x), min(h, h_img - y)
    if w < 8 or h < 8:
        return box, -1.0
    template = prev_gray[y : y + h, x : x + w]
    pad_x, pad_y = w // 2, h // 2
    sx0, sy0 = max(0, x - pad_x), max(0, y - pad_y)
    sx1, sy1 = min(w_img, x + w + pad_x), min(h_img, y + h + pad_y)
    window = gray[sy0:sy1, sx0:sx1]
    if window.shape[0] < h or window.shape[1] < w:
        return box, -1.0
    result = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, score, _, (mx, my) = cv2.minMaxLoc(result)
    return (float(sx0 + mx), float(sy0 + my), float(w), float(h)), float(score)


@dataclass
class FaceTrack:
    """Per sampled frame: the face box in source pixels (NaN when not found) and whether it was found."""

    boxes: np.ndarray  # (T, 4) float32
    found: np.ndarray  # (T,) bool


def locate_faces(
    frames_bgr: list[np.ndarray],
    detector: FaceDetector,
    detect_every: int = 10,
    detect_max_side: int = 360,
    track_min_score: float = 0.6,
) -> FaceTrack:
    """Find the face in each sampled frame: detect on keyframes, track in between, re-detect when lost."""
    import cv2

    n = len(frames_bgr)
    height, width = frames_bgr[0].shape[:2]
    scale = min(1.0, detect_max_side / max(height, width))
    small = [
        cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else f for f in frames_bgr
    ]
    gray = [cv2.cvtColor(s, cv2.COLOR_BGR2GRAY) for s in small]

    def rgb(i: int) -> np.ndarray:
        return cv2.cvtColor(small[i], cv2.COLOR_BGR2RGB)

    keyframes = list(range(0, n, detect_every))
    key_dets = dict(zip(keyframes, detector.detect_batch([rgb(i) for i in keyframes]), strict=True))
    boxes = np.full((n, 4), np.nan, np.float32)
    found = np.zeros(n, bool)
    box: Box | None = None
    for i in range(n):
        new_box: Box | None = None
        if i in key_dets:
            dets = key_dets[i]
            new_box = dets[0].box if dets else None
        elif box is not None:
            tracked, score = _track(gray[i - 1], gray[i], box)
            if score >= track_min_score:
                new_box = tracked
        if new_box is None and i not in key_dets:
            # lost (or never found since the last keyframe): ask the detector on this very frame
            dets = detector.detect_batch([rgb(i)])[0]
            new_box = dets[0].box if dets else None
        box = new_box
        if box is not None:
            boxes[i] = np.array(box, np.float32) / scale
            found[i] = True
    return FaceTrack(boxes=boxes, found=found)


def square_crop(frame_bgr: np.ndarray, box: np.ndarray, margin: float, size: int) -> np.ndarray:
    """A ``size`` x ``size`` RGB crop of the square around ``box`` enlarged by ``margin`` (edges replicated)."""
    import cv2

    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    height, width = frame_bgr.shape[:2]
    pad = max(0, -x0, -y0, x0 + s - width, y0 + s - height)
    src = cv2.copyMakeBorder(frame_bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else frame_bgr
    patch = src[y0 + pad : y0 + pad + s, x0 + pad : x0 + pad + s]
    patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_LINEAR)
    return cv2.cvtColor(patch, cv2.COLOR_BGR2RGB)


def fill_missing_boxes(boxes: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    """Boxes to crop with where no face was found: the nearest found box, else the centre square."""
    out = boxes.copy()
    ok = ~np.isnan(out[:, 0])
    if not ok.any():
        h, w = frame_shape
        side = min(h, w) / 1.4
        out[:] = [(w - side) / 2, (h - side) / 2, side, side]
        return out
    idx = np.flatnonzero(ok)
    for i in np.flatnonzero(~ok):
        out[i] = out[idx[np.argmin(np.abs(idx - i))]]
    return out
