"""ONNX Runtime inference backend: an exported ``.onnx`` file, no config, no PyTorch model.

The file is one written by ``tools/deployment/pytorch2onnx.py``
(:func:`ferlab.deployment.onnx.export_onnx`); its metadata holds what the
config's test pipeline and data preprocessor do, and this backend replays it
on each crop with OpenCV/mmcv, the same functions the PyTorch path calls:

1. the geometric steps of ``preprocess`` in order: ``resize`` (mmcv's
   ``imresize``, as the pipeline's ``Resize``; ``area_or_linear``:
   ``cv2.INTER_AREA`` when shrinking, ``cv2.INTER_LINEAR`` when enlarging, a
   crop already at the size unchanged, as
   :class:`~ferlab.inference.backends.TorchBackend` does for pipelines without
   a ``Resize``) and ``center_crop`` (mmcv's ``CenterCrop``);
2. BGR→RGB when ``to_rgb``, ``(x - mean) / std`` in float32, ``(3, H, W)``;
3. one ``session.run`` per chunk of ``max_batch`` crops; softmax of the
   logits in float32 (an ``output_kind: probabilities`` export, e.g. CFC-SP's
   ensemble or cascade, already gives the probabilities);
4. with an AU output (metadata ``au_output``, ``au_names``): the sigmoid of
   the ``au_logits`` ``(N, A)`` in float32, as the model's ``pred_au_score``.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ferlab.utils.errors import FerlabInputError, InputFileNotFoundError

from .backends import Backend


def _resize(img: np.ndarray, size: Sequence[int], interpolation: str) -> np.ndarray:
    h, w = int(size[0]), int(size[1])
    if interpolation == 'area_or_linear':
        if img.shape[:2] == (h, w):
            return img
        shrink = img.shape[0] > h or img.shape[1] > w
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    import mmcv

    return mmcv.imresize(img, (w, h), interpolation=interpolation)


def _center_crop(img: np.ndarray, size: Sequence[int]) -> np.ndarray:
    from mmcv.transforms import CenterCrop

    return CenterCrop(crop_size=(int(size[1]), int(size[0])))(dict(img=img))['img']


def preprocess_crop(crop: np.ndarray, meta: dict) -> np.ndarray:
    """One BGR ``uint8`` crop ``(h, w, 3)`` (or gray ``(h, w)``) → the model input ``(3, H, W)`` float32.

    Raises:
        FerlabInputError: The crop is not a 2-D gray or 3-channel uint8 image.
    """
    if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8 or crop.ndim not in (2, 3):
        got = f'{crop.dtype} {crop.shape}' if isinstance(crop, np.ndarray) else type(crop).__name__
        raise FerlabInputError(f'OnnxBackend expects BGR uint8 crops (h, w, 3), got {got}')
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    if crop.shape[2] != 3 or min(crop.shape[:2]) == 0:
        raise FerlabInputError(f'OnnxBackend expects BGR uint8 crops (h, w, 3), got shape {crop.shape}')
    img = crop
    for step in meta['preprocess']:
        if step['type'] == 'resize':
            img = _resize(img, step['size'], step.get('interpolation', 'bilinear'))
        elif step['type'] == 'center_crop':
            img = _center_crop(img, step['size'])
        else:
            raise FerlabInputError(f'ONNX metadata names an unknown preprocessing step {step!r}')
    x = img.astype(np.float32)
    if meta.get('to_rgb', True):
        x = x[..., ::-1]
    x = (x - np.asarray(meta['mean'], np.float32)) / np.asarray(meta['std'], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax ``(N, C)`` in float32."""
    z = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic ``1 / (1 + exp(-x))`` in float32."""
    return (1.0 / (1.0 + np.exp(-logits.astype(np.float32)))).astype(np.float32)


def _providers(device: str) -> list:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == 'cpu':
        return ['CPUExecutionProvider']
    if device.startswith('cuda'):
        if 'CUDAExecutionProvider' not in available:
            raise FerlabInputError(
                f'device {device!r}: this onnxruntime has no CUDAExecutionProvider (available: {available}); '
                'install onnxruntime-gpu or use device cpu'
            )
        index = int(device.split(':', 1)[1]) if ':' in device else 0
        return [('CUDAExecutionProvider', dict(device_id=index)), 'CPUExecutionProvider']
    raise FerlabInputError(f"OnnxBackend device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")


class OnnxBackend(Backend):
    """Run a ferlab ``.onnx`` export with ONNX Runtime (the :class:`Backend` interface).

    Args:
        path: ``.onnx`` file written by ``tools/deployment/pytorch2onnx.py``.
        device: ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` (needs ``onnxruntime-gpu``).
        num_threads: ONNX Runtime intra-op threads (``None``: its default,
            one per core).
        max_batch: Crops per ``session.run``.

    Attributes:
        meta: ``classes``, ``input_size`` ``(H, W)``, ``au_names`` (the
            columns of the ``au_logits`` output; ``None``: no AU output), ``decision``
            (``'cascade'`` for a ``CascadeClassifier``, else ``'argmax'``), ``mean``, ``std``,
            ``to_rgb``, ``preprocess`` and the rest of the file's metadata.

    Raises:
        InputFileNotFoundError: ``path`` does not exist.
        DeployDependencyError: onnx/onnxruntime are not installed (the
            message names the ``deploy`` extra).
        OnnxExportError: The file carries no ferlab metadata.
    """

    def __init__(self, path: str, device: str = 'cpu', num_threads: int | None = None, max_batch: int = 64):
        import os.path as osp

        from ferlab.deployment.onnx import (
            INPUT_NAME,
            OUTPUT_NAME,
            OnnxExportError,
            read_onnx_meta,
            require_deploy,
        )

        if not osp.isfile(str(path)):
            raise InputFileNotFoundError(f'ONNX model {path} does not exist')
        require_deploy(('onnx', 'onnxruntime'), what='the onnxruntime backend')
        import onnxruntime as ort

        meta = read_onnx_meta(str(path))
        meta['input_size'] = tuple(int(v) for v in meta['input_size'])
        meta['classes'] = [str(c) for c in meta['classes']]
        meta.setdefault('au_names', None)
        if bool(meta['au_names']) != bool(meta.get('au_output')):
            raise OnnxExportError(
                f'{path}: the metadata names AUs {meta["au_names"]} but the AU output is '
                f'{meta.get("au_output")!r} (both or neither); export it again with tools/deployment/pytorch2onnx.py'
            )
        # a cascade's label is its coarse-to-fine rule on the 8 probabilities, as in its predict
        meta.setdefault('decision', 'cascade' if meta.get('model_type') == 'CascadeClassifier' else 'argmax')
        self.meta = meta
        self.path = str(path)
        self.max_batch = int(max_batch)
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = int(num_threads)
        self.session = ort.InferenceSession(self.path, sess_options=options, providers=_providers(device))
        self._input, self._output = INPUT_NAME, meta.get('output', OUTPUT_NAME)
        self._au_output = meta.get('au_output') if meta['au_names'] else None

    def _run(self, names: list[str], inputs: np.ndarray) -> list[np.ndarray]:
        parts = [
            self.session.run(names, {self._input: inputs[i : i + self.max_batch]})
            for i in range(0, len(inputs), self.max_batch)
        ]
        return [np.concatenate([p[k] for p in parts]).astype(np.float32) for k in range(len(names))]

    def raw(self, inputs: np.ndarray) -> np.ndarray:
        """The graph's output ``(N, C)`` (logits or probabilities, ``meta['output_kind']``) of inputs ``(N, 3, H, W)``."""
        return self._run([self._output], inputs)[0]

    def __call__(self, crops: Sequence[np.ndarray]) -> dict:
        if len(crops) == 0:
            n_au = len(self.meta['au_names']) if self._au_output else None
            return dict(
                scores=np.zeros((0, len(self.meta['classes'])), np.float32),
                au_scores=None if n_au is None else np.zeros((0, n_au), np.float32),
            )
        inputs = np.stack([preprocess_crop(c, self.meta) for c in crops])
        names = [self._output] + ([self._au_output] if self._au_output else [])
        outs = self._run(names, inputs)
        out = outs[0]
        scores = (
            softmax(out) if self.meta.get('output_kind', 'logits') == 'logits' else out.astype(np.float32)
        )
        return dict(scores=scores, au_scores=sigmoid(outs[1]) if self._au_output else None)
