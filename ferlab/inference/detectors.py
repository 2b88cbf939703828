"""Face detectors and face alignment for inference on photos and videos.

Detectors are registered in :data:`ferlab.registry.FACE_DETECTORS` and built
from config dicts (``dict(type='HaarFaceDetector', min_size=40)``). Each is a
callable ``detector(image) -> list[Face]`` on a BGR uint8 image ``(H, W, 3)``;
:func:`align_face` turns a :class:`Face` into an upright square crop.

* :class:`HaarFaceDetector` (default): OpenCV's Viola-Jones cascade
  ``haarcascade_frontalface_default.xml`` shipped in the opencv-python wheel
  (``cv2.data``), with the eye cascade for the roll angle.
* :class:`YuNetFaceDetector`: ``cv2.FaceDetectorYN`` with a YuNet ONNX file
  the user downloads; its 5 landmarks give a similarity alignment.
* :class:`WholeImage`: no detection; the image already is an aligned face.

Nothing is downloaded and nothing is read from disk after construction.
"""

from __future__ import annotations

import math
import os.path as osp
from dataclasses import dataclass, field

import cv2
import numpy as np

from ferlab.registry import FACE_DETECTORS
from ferlab.utils.errors import FerlabInputError, InputFileNotFoundError

__all__ = [
    'ARCFACE_TEMPLATE',
    'Face',
    'HaarFaceDetector',
    'WholeImage',
    'YuNetFaceDetector',
    'align_face',
    'build_detector',
    'haar_cascade_path',
]

#: Five-point template (right eye, left eye, nose tip, right and left mouth corners, in image
#: coordinates: "right eye" is the subject's right, on the image's left) of a 112 x 112 face crop;
#: the InsightFace/ArcFace alignment reference (Deng et al., CVPR 2019).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)

YUNET_URL = 'https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet'


@dataclass
class Face:
    """One detected face.

    Attributes:
        box: ``(x, y, w, h)`` in pixels of the (upright) image.
        score: Detector confidence. YuNet: a probability; Haar: the cascade's
            level weight of the detection (unbounded, larger is surer);
            :class:`WholeImage`: 1.0.
        landmarks: ``(5, 2)`` points in :data:`ARCFACE_TEMPLATE` order, or ``None``.
        roll: In-plane rotation of the face in degrees (eye line vs horizontal,
            positive clockwise in image coordinates), or ``None`` when unknown.
        whole: The face is the whole image (:class:`WholeImage`): the crop is
            the image unchanged.
        detected: The box comes from the detector run on the whole frame;
            ``False``: from the local search around a tracked box
            (:class:`ferlab.inference.keyframes.KeyframeDetector`).
    """

    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray | None = field(default=None, repr=False)
    roll: float | None = None
    whole: bool = False
    detected: bool = True


def _order(faces: list[Face], max_faces: int | None) -> list[Face]:
    """Keep the ``max_faces`` largest faces, then order them left to right (then top to bottom)."""
    if max_faces is not None and len(faces) > max_faces:
        faces = sorted(faces, key=lambda f: (-f.box[2] * f.box[3], f.box[0], f.box[1]))[:max_faces]
    return sorted(faces, key=lambda f: (f.box[0], f.box[1]))


def haar_cascade_path(name: str) -> str:
    """Path of an OpenCV Haar cascade shipped in ``cv2.data``.

    Raises:
        FerlabInputError: This OpenCV has no ``cv2.data`` or lacks the file
            (OpenCV 5 dropped the cascades; ferlab needs ``opencv-python>=4.8,<5``).
    """
    base = getattr(getattr(cv2, 'data', None), 'haarcascades', None)
    path = osp.join(base, name) if base else None
    if path is None or not osp.isfile(path) or not hasattr(cv2, 'CascadeClassifier'):
        raise FerlabInputError(
            f'OpenCV {cv2.__version__} does not ship the Haar cascade {name} '
            f'(looked in {base or "cv2.data: missing"}); install opencv-python>=4.8,<5 '
            "(pip install 'opencv-python>=4.8,<5') or use --detector yunet / whole"
        )
    return path


@FACE_DETECTORS.register_module()
class HaarFaceDetector:
    """OpenCV Viola-Jones frontal-face cascade with eye-based roll estimation.

    Viola & Jones, "Rapid Object Detection using a Boosted Cascade of Simple
    Features", CVPR 2001; the cascade is OpenCV's
    ``haarcascade_frontalface_default.xml``. The roll angle comes from
    ``haarcascade_eye.xml`` run on the upper 60 % of each face box: with one
    eye found in each half of the box, ``roll = atan2(dy, dx)`` of the line
    joining them; otherwise ``roll = 0``. A face box wider than ``roll_max_side``
    is shrunk (``cv2.INTER_AREA``) to that width before the eye cascade: the
    eye cascade's cost grows with the face's pixel count (on
    ``skimage.data.astronaut()`` enlarged 2-3x, faces of 191-334 px, rotated by
    -20 to 20 degrees: 15-36 ms at full resolution, 6-11 ms at 128 px), and
    the eyes of a 128-px face (about 27 px) are still well above the cascade's
    20 x 20 window; the roll moved by at most 0.9 degrees in those 8 cases. Faces
    up to ``roll_max_side`` wide (all faces of the 320 x 240 and 640 x 480
    benchmark videos, 50 and 89 px) are unchanged.

    With ``max_side`` the face cascade runs on the grey image shrunk
    (``cv2.INTER_AREA``) so that its longer side is ``max_side`` pixels, with
    ``min_size`` shrunk by the same factor, and the boxes are scaled back to
    the image (the eye cascade runs on the full-resolution face box, shrunk to
    ``roll_max_side``). The
    cascade's cost grows with the pixel count (a 1280 x 720 frame with one
    face: 93-97 ms at ``max_side=640`` against 174-175 ms at full resolution,
    docs/inference.md); the price is that faces smaller
    than ``24 / scale`` pixels (the cascade's 24 x 24 window) are no longer
    found and the boxes are quantised to ``1 / scale`` pixels. Images whose
    longer side is at most ``max_side`` are detected unchanged.

    Args:
        scale_factor: Pyramid step of ``detectMultiScale``.
        min_neighbors: Overlapping raw detections needed to keep a face.
        min_size: Smallest face side in pixels.
        max_faces: Keep at most this many faces (the largest); ``None``: all.
        align_roll: Estimate the roll angle (eye cascade).
        max_roll: Roll angles beyond this (degrees) are treated as wrong eye
            detections and ignored.
        max_side: Run the face cascade on the image shrunk to this longer
            side (pixels) when it is larger; ``None``: always at full
            resolution (the default: detections never depend on the frame
            being shrunk; a 1024 x 512 picture shrunk to 640 gives one false
            face more in ``tests/test_inference/test_inferencer.py``).
        roll_max_side: Run the eye cascade on the upper face box shrunk to
            this width (pixels) when the box is wider; ``None``: at the
            image's resolution.
    """

    def __init__(
        self,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 30,
        max_faces: int | None = None,
        align_roll: bool = True,
        max_roll: float = 45.0,
        max_side: int | None = None,
        roll_max_side: int | None = 128,
    ):
        if roll_max_side is not None and int(roll_max_side) < 40:
            raise FerlabInputError(
                f'HaarFaceDetector roll_max_side must be >= 40 (two 20-px eye windows) or None, got {roll_max_side}'
            )
        if max_side is not None and int(max_side) < 24:
            raise FerlabInputError(
                f'HaarFaceDetector max_side must be >= 24 (the cascade window) or None, got {max_side}'
            )
        self.face_cascade = cv2.CascadeClassifier(haar_cascade_path('haarcascade_frontalface_default.xml'))
        self.eye_cascade = (
            cv2.CascadeClassifier(haar_cascade_path('haarcascade_eye.xml')) if align_roll else None
        )
        if self.face_cascade.empty() or (self.eye_cascade is not None and self.eye_cascade.empty()):
            raise FerlabInputError(f'OpenCV {cv2.__version__} could not load its Haar cascades from cv2.data')
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.max_faces = max_faces
        self.max_roll = max_roll
        self.max_side = None if max_side is None else int(max_side)
        self.roll_max_side = None if roll_max_side is None else int(roll_max_side)

    def _roll(self, gray: np.ndarray, box: tuple[int, int, int, int]) -> float:
        x, y, w, h = box
        roi = gray[y : y + int(0.6 * h), x : x + w]
        if roi.size == 0:
            return 0.0
        sx = sy = 1.0
        if self.roll_max_side is not None and roi.shape[1] > self.roll_max_side:
            rh, rw = roi.shape[:2]
            size = (self.roll_max_side, max(1, round(rh * self.roll_max_side / rw)))
            roi = cv2.resize(roi, size, interpolation=cv2.INTER_AREA)
            sx, sy = size[0] / rw, size[1] / rh
        ew = int(round(w * sx))  # the box width at the eye cascade's resolution
        eyes = self.eye_cascade.detectMultiScale(roi, 1.1, 5, minSize=(max(ew // 8, 5), max(ew // 8, 5)))
        left = [e for e in eyes if e[0] + e[2] / 2 < ew / 2]
        right = [e for e in eyes if e[0] + e[2] / 2 >= ew / 2]
        if not left or not right:
            return 0.0
        a = max(left, key=lambda e: e[2] * e[3])
        b = max(right, key=lambda e: e[2] * e[3])
        dx = ((b[0] + b[2] / 2) - (a[0] + a[2] / 2)) / sx
        dy = ((b[1] + b[3] / 2) - (a[1] + a[3] / 2)) / sy
        roll = math.degrees(math.atan2(dy, dx))
        return roll if abs(roll) <= self.max_roll else 0.0

    def __call__(self, image: np.ndarray) -> list[Face]:
        """Detect faces in a BGR uint8 image ``(H, W, 3)``; ordered left to right."""
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        h, w = gray.shape[:2]
        scale = 1.0
        if self.max_side is not None and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            small = cv2.resize(
                gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
            )
            small = cv2.equalizeHist(small)
            gray = cv2.equalizeHist(gray) if self.eye_cascade is not None else gray
        else:
            gray = small = cv2.equalizeHist(gray)
        min_side = max(1, round(self.min_size * scale))
        boxes, _, weights = self.face_cascade.detectMultiScale3(
            small,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side),
            outputRejectLevels=True,
        )
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if scale != 1.0:
            boxes = np.round(boxes / scale)
        faces = []
        for box, weight in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(weights).reshape(-1)):
            box = tuple(int(v) for v in box)
            roll = self._roll(gray, box) if self.eye_cascade is not None else None
            faces.append(Face(box=box, score=float(weight), roll=roll))
        return _order(faces, self.max_faces)

    def detect_near(
        self, image: np.ndarray, box: tuple[int, int, int, int], search: float = 1.0, size_ratio: float = 1.25
    ) -> Face | None:
        """Find the face of a tracked ``box`` again in the next frame, by a local search.

        The face cascade runs only on the region ``box`` grown by ``search``
        of its longer side on every side (clipped to the image; the frame is
        histogram-equalised as a whole, as in :meth:`__call__`) and only at window sizes from ``side /
        size_ratio`` to ``side * size_ratio`` (``side = max(w, h)``, and at
        least ``min_size``), so it scans a few pyramid levels of a small
        region instead of the whole frame (on the 640 x 480 benchmark video,
        eye cascade included, 44 ms a frame against 226 ms for :meth:`__call__`
        on the loaded 2 cores, 5.1x less). Of the faces found
        the one overlapping ``box`` most (IoU) is returned, with the roll of
        the eye cascade run in the same region; ``max_side`` does not apply.

        Args:
            image: BGR uint8 ``(H, W, 3)`` (or grey ``(H, W)``).
            box: The face's last box ``(x, y, w, h)``.
            search: Margin of the search region, as a fraction of the box's longer side.
            size_ratio: Largest scale change accepted from one frame to the next.

        Returns:
            The face (``detected=False``), or ``None`` when the region holds none.
        """
        from ferlab.inference.tracker import box_iou_xywh

        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        ih, iw = gray.shape[:2]
        x, y, w, h = (int(v) for v in box)
        side = max(w, h)
        pad = int(round(search * side))
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(iw, x + w + pad), min(ih, y + h + pad)
        lo = max(int(self.min_size), int(math.floor(side / size_ratio)))
        hi = int(math.ceil(side * size_ratio))
        if x1 - x0 < lo or y1 - y0 < lo or lo > hi:
            return None
        roi = np.ascontiguousarray(cv2.equalizeHist(gray)[y0:y1, x0:x1])
        boxes, _, weights = self.face_cascade.detectMultiScale3(
            roi,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(lo, lo),
            maxSize=(hi, hi),
            outputRejectLevels=True,
        )
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return None
        weights = np.asarray(weights, np.float64).reshape(-1)
        iou = box_iou_xywh(np.array([[x - x0, y - y0, w, h]], np.float64), boxes)[0]
        best = int(np.argmax(iou))
        local = tuple(int(v) for v in boxes[best])
        roll = self._roll(roi, local) if self.eye_cascade is not None else None
        found = (local[0] + x0, local[1] + y0, local[2], local[3])
        return Face(box=found, score=float(weights[best]), roll=roll, detected=False)


@FACE_DETECTORS.register_module()
class YuNetFaceDetector:
    """YuNet (Wu et al., "YuNet: A Tiny Millisecond-level Face Detector",
    Machine Intelligence Research 2023) through ``cv2.FaceDetectorYN``.

    The ONNX model is not shipped with ferlab: download
    ``face_detection_yunet_2023mar.onnx`` from the OpenCV model zoo
    (:data:`YUNET_URL`) and pass its path. Its 5 landmarks give a similarity
    alignment (:func:`align_face`).

    Args:
        model: Path of the YuNet ONNX file.
        score_threshold: Minimum face score.
        nms_threshold: Non-maximum suppression IoU threshold.
        top_k: Candidates kept before NMS.
        max_faces: Keep at most this many faces (the largest); ``None``: all.

    Raises:
        FileNotFoundError: ``model`` does not exist (the message says where to get it).
        FerlabInputError: This OpenCV has no ``FaceDetectorYN`` (needs >= 4.8).
    """

    def __init__(
        self,
        model: str,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        max_faces: int | None = None,
    ):
        if not model or not osp.isfile(model):
            raise InputFileNotFoundError(
                f'YuNet model file {model!r} does not exist; download face_detection_yunet_2023mar.onnx '
                f'from {YUNET_URL} and pass its path (--yunet-model PATH)'
            )
        if not hasattr(cv2, 'FaceDetectorYN'):
            raise FerlabInputError(
                f'OpenCV {cv2.__version__} has no cv2.FaceDetectorYN (needs opencv-python>=4.8)'
            )
        try:
            self.net = cv2.FaceDetectorYN.create(model, '', (320, 320), score_threshold, nms_threshold, top_k)
        except cv2.error as err:
            msg = str(err).strip().splitlines()[-1] if str(err).strip() else 'unknown error'
            raise FerlabInputError(
                f'YuNet model file {model!r} could not be loaded by OpenCV: {msg}'
            ) from None
        self.max_faces = max_faces

    def __call__(self, image: np.ndarray) -> list[Face]:
        """Detect faces in a BGR uint8 image ``(H, W, 3)``; ordered left to right."""
        h, w = image.shape[:2]
        self.net.setInputSize((w, h))
        _, dets = self.net.detect(image)
        faces = []
        for d in [] if dets is None else dets:
            x, y, bw, bh = (int(round(v)) for v in d[:4])
            faces.append(
                Face(
                    box=(x, y, bw, bh), score=float(d[14]), landmarks=d[4:14].reshape(5, 2).astype(np.float64)
                )
            )
        return _order(faces, self.max_faces)


@FACE_DETECTORS.register_module()
class WholeImage:
    """No detection: every image is one aligned face (e.g. RAF-DB's aligned crops).

    The face is the whole image, ``score=1.0``; :func:`align_face` returns
    the image unchanged, so the model sees exactly what ``tools/test.py``
    gives it for the same file.
    """

    def __init__(self, max_faces: int | None = None):
        self.max_faces = max_faces

    def __call__(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        return [Face(box=(0, 0, w, h), score=1.0, whole=True)]


def build_detector(cfg: dict | str | object) -> object:
    """A detector from a config dict, a short name (``'haar'``, ``'yunet'``, ``'whole'``) or an instance."""
    short = {'haar': 'HaarFaceDetector', 'yunet': 'YuNetFaceDetector', 'whole': 'WholeImage'}
    if isinstance(cfg, str):
        cfg = dict(type=short.get(cfg, cfg))
    if isinstance(cfg, dict):
        cfg = dict(cfg)
        if isinstance(cfg.get('type'), str):
            cfg['type'] = short.get(cfg['type'], cfg['type'])
        return FACE_DETECTORS.build(cfg)
    if not callable(cfg):
        raise TypeError(
            f'a face detector must be a config dict, a name or a callable, got {type(cfg).__name__}'
        )
    return cfg


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform ``(2, 3)`` taking points ``src`` to ``dst`` (Umeyama, TPAMI 1991)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def align_face(image: np.ndarray, face: Face, margin: float = 0.2, square: bool = True) -> np.ndarray:
    """Cut one face out of ``image`` as an upright crop at the image's resolution.

    * ``face.whole``: the image itself (unchanged).
    * With 5 landmarks: the similarity transform (Umeyama) that takes them
      onto :data:`ARCFACE_TEMPLATE`, scaled to a square of side
      ``S = max(w, h) * (1 + 2 * margin)`` with the template shrunk by
      ``1 / (1 + 2 * margin)`` about the crop centre (``margin=0`` is the
      ArcFace crop).
    * Otherwise: the box grown by ``margin`` of its size on every side
      (made square first when ``square``: side ``max(w, h)``), rotated by
      ``-roll`` about the box centre when a roll angle is known.

    Pixels outside the image are black (constant padding), so a face at the
    border keeps its position in the crop. The backend resizes the crop to
    the model's input size.

    Args:
        image: BGR uint8 ``(H, W, 3)``.
        face: A detection.
        margin: Extra context on each side, as a fraction of the box size.
        square: Square crop (side ``max(w, h)`` before the margin).

    Returns:
        BGR uint8 crop ``(S_h, S_w, 3)``.
    """
    if face.whole:
        return image
    x, y, w, h = face.box
    if square:
        side = max(w, h)
        out_w = out_h = max(1, int(round(side * (1 + 2 * margin))))
    else:
        out_w, out_h = max(1, int(round(w * (1 + 2 * margin)))), max(1, int(round(h * (1 + 2 * margin))))
    if face.landmarks is not None:
        side = out_w if square else max(out_w, out_h)
        dst = ((ARCFACE_TEMPLATE - 56.0) / (1 + 2 * margin) + 56.0) * (side / 112.0)
        m = _similarity(np.asarray(face.landmarks, np.float64), dst)
        return cv2.warpAffine(image, m, (side, side), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    cx, cy = x + w / 2.0, y + h / 2.0
    if not face.roll:
        x0, y0 = int(round(cx - out_w / 2.0)), int(round(cy - out_h / 2.0))
        ih, iw = image.shape[:2]
        crop = np.zeros((out_h, out_w) + image.shape[2:], image.dtype)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + out_w, iw), min(y0 + out_h, ih)
        if sx1 > sx0 and sy1 > sy0:
            crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
        return crop
    m = cv2.getRotationMatrix2D((cx, cy), face.roll, 1.0)  # positive angle: counter-clockwise turn
    m[0, 2] += out_w / 2.0 - cx
    m[1, 2] += out_h / 2.0 - cy
    return cv2.warpAffine(image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
