"""Inference on photos, folders and videos: inputs, face detection, backends, outputs.

* :mod:`.sources` — :class:`Frame`, :func:`expand_inputs`, :func:`iter_frames`.
* :mod:`.detectors` — face detectors (registry ``FACE_DETECTORS``) and :func:`align_face`.
* :mod:`.keyframes` — :class:`KeyframeDetector`: full detection on key frames of a video, a local
  search around the tracked boxes in between (``detect_every``).
* :mod:`.backends` — the :class:`Backend` interface and :class:`TorchBackend`
  (``ferlab.inference.onnx_backend.OnnxBackend`` is the ONNX Runtime one).
* :mod:`.writers` — result rows, streamed CSV / JSON files.
* :mod:`.annotate` — :func:`draw_results` (boxes, label, probability bars).
* :mod:`.video`, :mod:`.tracker`, :mod:`.smoothing`, :mod:`.plots` — streamed video and camera
  frames, face ids across frames, SmoothPredicting per face, probability plots.

:class:`ferlab.apis.FERInferencer` puts them together.
"""

from .annotate import draw_results
from .backends import Backend, TorchBackend, model_classes, model_input_size
from .detectors import Face, HaarFaceDetector, WholeImage, YuNetFaceDetector, align_face, build_detector
from .keyframes import KeyframeDetector
from .sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Frame, expand_inputs, iter_frames, load_image
from .writers import ResultWriter, read_rows, row_fields, write_rows

__all__ = [
    'IMAGE_EXTENSIONS',
    'VIDEO_EXTENSIONS',
    'Backend',
    'Face',
    'Frame',
    'HaarFaceDetector',
    'KeyframeDetector',
    'ResultWriter',
    'TorchBackend',
    'WholeImage',
    'YuNetFaceDetector',
    'align_face',
    'build_detector',
    'draw_results',
    'expand_inputs',
    'iter_frames',
    'load_image',
    'model_classes',
    'model_input_size',
    'read_rows',
    'row_fields',
    'write_rows',
]
