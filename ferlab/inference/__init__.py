"""Inference on photos, folders and videos: inputs, face detection, backends, outputs.

* :mod:`.sources` — :class:`Frame`, :func:`expand_inputs`, :func:`iter_frames`.
* :mod:`.backends` — the :class:`Backend` interface and :class:`TorchBackend`
  (``ferlab.inference.onnx_backend.OnnxBackend`` is the ONNX Runtime one).
* :mod:`.detectors` — face detectors (registry ``FACE_DETECTORS``) and :func:`align_face`.
"""

from .backends import Backend, TorchBackend, model_classes, model_input_size
from .detectors import Face, HaarFaceDetector, WholeImage, YuNetFaceDetector, align_face, build_detector
from .sources import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Frame,
    expand_inputs,
    iter_frames,
    load_image,
)

__all__ = [
    'Face',
    'HaarFaceDetector',
    'WholeImage',
    'YuNetFaceDetector',
    'align_face',
    'build_detector',
    'Backend',
    'Frame',
    'IMAGE_EXTENSIONS',
    'TorchBackend',
    'VIDEO_EXTENSIONS',
    'expand_inputs',
    'iter_frames',
    'load_image',
    'model_classes',
    'model_input_size',
]
