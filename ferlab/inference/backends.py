"""Inference backends: run a model on a batch of face crops.

A backend is any callable with the :class:`Backend` interface:

* ``meta``: ``dict(classes=[...], input_size=(H, W), au_names=[...] or None)``;
* ``backend(crops) -> dict(scores=(N, C) float32, au_scores=(N, A) float32 or None)``
  for ``crops``, a list of BGR uint8 face crops ``(h, w, 3)`` of any size;
  optionally ``labels=(N,) int`` (the model's own decision, ``pred_label``),
  else the labels are ``decide(scores, meta['decision'])``;
* ``meta['decision']`` (optional, default ``'argmax'``): how a score vector
  becomes a label (:data:`DECISIONS`), also for smoothed scores.

:class:`TorchBackend` runs a config + checkpoint with the config's own test
pipeline and data preprocessor (the preprocessing of ``tools/test.py``);
``ferlab.inference.onnx_backend.OnnxBackend`` runs an exported ONNX file with
the same interface. Every crop is processed on its own through the pipeline
and the model is in eval mode, so a crop's scores never depend on the other
crops of its batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate

from ferlab.utils.errors import FerlabInputError

#: How a score vector becomes a label: ``'argmax'``, or CFC-SP's coarse-to-fine rule
#: (:func:`ferlab.models.classifiers.cascade_decision`, ``CascadeClassifier``).
DECISIONS = ('argmax', 'cascade')


def decide(scores: np.ndarray, decision: str = 'argmax') -> np.ndarray:
    """``(N,)`` labels of ``(N, C)`` scores by ``decision`` (:data:`DECISIONS`); ties to the lower index."""
    if decision not in DECISIONS:
        raise ValueError(f'decision must be one of {DECISIONS}, got {decision!r}')
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores.reshape(len(scores), -1)
    if decision == 'argmax':
        return scores.argmax(1)
    from ferlab.models.classifiers.cascade import cascade_decision

    return cascade_decision(torch.from_numpy(np.ascontiguousarray(scores))).numpy()


def model_decision(model: torch.nn.Module) -> str:
    """``'cascade'`` for a ``CascadeClassifier`` (its ``pred_label`` is the coarse-to-fine rule), else ``'argmax'``."""
    from ferlab.models.classifiers.cascade import CascadeClassifier

    return 'cascade' if isinstance(model, CascadeClassifier) else 'argmax'


class Backend:
    """The interface every inference backend implements.

    Attributes:
        meta: ``classes`` (list of class names, the order of the score
            columns), ``input_size`` (``(H, W)`` the model takes), ``au_names``
            (list of AU names of an AU output, or ``None``).
    """

    meta: dict

    def __call__(self, crops: Sequence[np.ndarray]) -> dict:
        """Score face crops.

        Args:
            crops: ``N`` BGR uint8 crops ``(h, w, 3)`` of any size.

        Returns:
            ``dict(scores=(N, C) float32 probabilities, au_scores=(N, A)
            float32 probabilities or None)``, optionally ``labels`` ``(N,)``
            int: the model's decision (else ``decide(scores, meta['decision'])``).
        """
        raise NotImplementedError


#: Keys under which a dataset wrapper holds the dataset(s) it wraps: one dataset
#: (``ConditionSubset``, ``OpenFaceAUs``, mmengine's ``RepeatDataset`` /
#: ``ClassBalancedDataset``), ``MultiSourceDataset``'s ``sources[i].dataset``,
#: mmengine's ``ConcatDataset`` ``datasets[i]``.
WRAPPER_KEYS = ('dataset', 'sources', 'datasets')


def dataset_chain(dataset: dict) -> list[dict]:
    """The dataset configs from ``dataset`` to the one whose pipeline the model is tested with.

    The rule: a dataset config with a ``pipeline`` key is the one that runs
    the images; a config without one is a wrapper, and the chain goes on into
    the dataset it wraps: ``dataset``, else ``sources[0].dataset``
    (``MultiSourceDataset``'s source 0, the target set), else ``datasets[0]``
    (``ConcatDataset``'s first). It ends at a config with a pipeline or
    without any of these keys.

    Args:
        dataset: A dataset config, e.g. ``cfg.test_dataloader.dataset``.

    Returns:
        The configs, outermost first; the last one is the innermost dataset.
    """
    chain = [dataset]
    while 'pipeline' not in chain[-1]:
        ds = chain[-1]
        inner = ds.get('dataset')
        if inner is None and ds.get('sources'):
            inner = ds['sources'][0].get('dataset') if isinstance(ds['sources'][0], dict) else None
        if inner is None and ds.get('datasets'):
            inner = ds['datasets'][0]
        if not isinstance(inner, dict):
            break
        chain.append(inner)
    return chain


def innermost_test_dataset(cfg: Config) -> dict:
    """The innermost dataset config of ``cfg.test_dataloader.dataset`` (:func:`dataset_chain`)."""
    return dataset_chain(cfg.test_dataloader.dataset)[-1]


def config_test_pipeline(cfg: Config) -> list[dict]:
    """The test pipeline of ``cfg``: the innermost test dataset's ``pipeline`` (:func:`dataset_chain`)."""
    return list(innermost_test_dataset(cfg).get('pipeline', None) or [])


def _pipeline_resize(pipeline: Sequence[dict]) -> tuple[int, int] | None:
    """``(H, W)`` of the first fixed-size ``Resize`` of a test pipeline, else ``None``."""
    for t in pipeline:
        if (
            t.get('type') in ('Resize', 'mmcv.Resize')
            and t.get('scale') is not None
            and not t.get('keep_ratio')
        ):
            scale = t['scale']
            if isinstance(scale, int):
                return (scale, scale)
            w, h = scale  # mmcv's Resize takes scale=(w, h)
            return (int(h), int(w))
    return None


def model_input_size(cfg: Config) -> tuple[int, int]:
    """``(H, W)`` the model of ``cfg`` is tested at.

    The fixed-size ``Resize`` of the test pipeline (:func:`config_test_pipeline`)
    if there is one, else the ``img_size`` of a test dataset config
    (innermost first; in-memory datasets such as SynthFER render faces at that
    size), else the config's top-level ``img_size``.

    Raises:
        FerlabInputError: None of them is set.
    """
    size = _pipeline_resize(config_test_pipeline(cfg))
    if size is not None:
        return size
    chain = dataset_chain(cfg.test_dataloader.dataset)
    for value in [ds.get('img_size') for ds in reversed(chain)] + [cfg.get('img_size')]:
        if value is not None:
            return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))
    raise FerlabInputError(
        f'config {cfg.filename}: cannot tell the model input size (no fixed-size Resize in the test '
        'pipeline and no img_size in test_dataloader.dataset or at the top level)'
    )


def model_classes(model: torch.nn.Module, cfg: Config) -> list[str]:
    """Class names in the order of the model's outputs.

    From the checkpoint (``meta.dataset_meta.classes``, which
    ``tools/train.py`` writes), else from the config's test dataset, outermost
    config first (:func:`dataset_chain`: ``metainfo.classes``, a wrapper's
    ``classes`` such as ``MultiSourceDataset``'s), else the innermost
    dataset's class ``METAINFO`` (SynthFER's ``label_set``).

    Raises:
        FerlabInputError: Neither names the classes, or their number is not
            the model's number of outputs.
    """
    from ferlab.registry import DATASETS

    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    chain = dataset_chain(cfg.test_dataloader.dataset)
    for ds in chain:
        if classes:
            break
        classes = (ds.get('metainfo') or {}).get('classes')
        if not classes and isinstance(ds.get('classes'), (list, tuple)):
            classes = ds.get('classes')
    ds = chain[-1]
    if not classes and ds.get('type') in ('SynthFER', 'SynthFERVideo'):
        from ferlab.datasets.synthfer.expressions import label_set_classes

        default = 'rafdb' if ds.get('type') == 'SynthFER' else 'affwild2_7'
        classes = label_set_classes(ds.get('label_set', default))
    elif not classes and isinstance(ds.get('type'), str) and DATASETS.get(ds.get('type')) is not None:
        classes = (getattr(DATASETS.get(ds.get('type')), 'METAINFO', None) or {}).get('classes')
    num = getattr(getattr(model, 'head', None), 'num_classes', None)
    if not classes:
        raise FerlabInputError(
            f'config {cfg.filename}: the class names are unknown (the checkpoint has no '
            'meta.dataset_meta.classes and the test dataset names none)'
        )
    classes = [str(c) for c in classes]
    if num is not None and len(classes) != num:
        raise FerlabInputError(
            f'config {cfg.filename}: {len(classes)} class names {classes} for a model with {num} outputs'
        )
    return classes


def model_au_names(model: torch.nn.Module) -> list[str] | None:
    """AU names of the model's AU output, in its column order; ``None`` when it has none.

    A model has an AU output when it says so with ``with_au = True``
    (:class:`~ferlab.models.classifiers.JointFERAUClassifier`: its
    ``forward(mode='tensor')`` returns ``(expr_logits (B, C), au_logits (B,
    A))`` and ``predict`` sets ``pred_au_score = sigmoid(au_logits)``). The
    names are the model's own ``au_names``, else those of its first sub-module
    that has them (the backbone's ``AUBranch``, or ``ViTAUToken``). The AU
    names of the data a model was trained on (``dataset_meta['au_names']``)
    never make AU columns: a plain classifier trained on AU-labelled data
    produces no AUs.

    Raises:
        FerlabInputError: The model has an AU output but no sub-module names its AUs.
    """
    if not getattr(model, 'with_au', False):
        return None
    names = getattr(model, 'au_names', None)
    if not names:
        for module in model.modules():
            if module is not model and getattr(module, 'au_names', None):
                names = module.au_names
                break
    if not names:
        raise FerlabInputError(
            f'{type(model).__name__} has an AU output (with_au=True) but no module names its AUs '
            '(an AUBranch or backbone with au_names)'
        )
    return [str(a) for a in names]


class TorchBackend(Backend):
    """A PyTorch model built from a config, with the config's test pipeline.

    Each crop goes through the test pipeline of ``cfg.test_dataloader``
    (``LoadImageFromFile`` keeps the in-memory crop) and the model's data
    preprocessor, exactly as ``tools/test.py`` processes a dataset image. When
    the pipeline has no fixed-size ``Resize`` (the dataset's faces are
    already at the model's size, e.g. SynthFER) the crop is first resized to
    ``meta['input_size']`` (``cv2.INTER_AREA`` when shrinking,
    ``cv2.INTER_LINEAR`` when enlarging); a crop already at that size is
    passed unchanged, so aligned dataset faces score exactly as in
    ``tools/test.py``.

    Args:
        config: Config file or :class:`~mmengine.config.Config`.
        checkpoint: Checkpoint of ``tools/train.py`` (or a converted one);
            ``None`` keeps the model's own initialisation.
        device: Torch device.
        amp: Autocast the forward pass (as ``tools/test.py --amp``).
        model: An already built model (from :func:`ferlab.apis.init_model`);
            ``config``/``checkpoint`` are then ignored.
    """

    def __init__(
        self,
        config: str | Path | Config | None = None,
        checkpoint: str | None = None,
        device: str = 'cpu',
        amp: bool = False,
        model: torch.nn.Module | None = None,
    ):
        from ferlab.apis.inference import init_model
        from ferlab.registry import TRANSFORMS

        if model is None:
            if config is None:
                raise ValueError('TorchBackend needs a config or a model')
            model = init_model(config, checkpoint, device=device)
        self.model = model
        self.cfg = model.cfg
        self.device = device
        self.amp = amp
        pipeline_cfg = config_test_pipeline(self.cfg)
        self.pipeline = Compose([TRANSFORMS.build(t) for t in pipeline_cfg])
        self._pipeline_resizes = _pipeline_resize(pipeline_cfg) is not None
        self.meta = dict(
            classes=model_classes(model, self.cfg),
            input_size=model_input_size(self.cfg),
            au_names=model_au_names(model),
            decision=model_decision(model),
        )

    def prepare(self, crop: np.ndarray) -> dict:
        """The packed pipeline output of one crop (``inputs`` ``(3, H, W)``, ``data_samples``)."""
        if crop.ndim == 2:
            crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
        if not self._pipeline_resizes:
            h, w = self.meta['input_size']
            if crop.shape[:2] != (h, w):
                shrink = crop.shape[0] > h or crop.shape[1] > w
                crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return self.pipeline(dict(img=np.ascontiguousarray(crop), img_path='<crop>'))

    @torch.no_grad()
    def __call__(self, crops: Sequence[np.ndarray]) -> dict:
        from ferlab.engine.optim_wrappers import autocast, resolve_amp_dtype

        if len(crops) == 0:
            n_au = len(self.meta['au_names']) if self.meta['au_names'] else None
            return dict(
                scores=np.zeros((0, len(self.meta['classes'])), np.float32),
                au_scores=None if n_au is None else np.zeros((0, n_au), np.float32),
            )
        batch = pseudo_collate([self.prepare(c) for c in crops])
        device = self.model.data_preprocessor.device
        with autocast(device, resolve_amp_dtype(device) if self.amp else None):
            samples = self.model.test_step(batch)
        scores = torch.stack([s.pred_score.float() for s in samples]).cpu().numpy().astype(np.float32)
        au_scores = None
        if self.meta['au_names']:
            au_scores = (
                torch.stack([s.pred_au_score.float() for s in samples]).cpu().numpy().astype(np.float32)
            )
            if au_scores.shape[1] != len(self.meta['au_names']):
                raise FerlabInputError(
                    f'{type(self.model).__name__}: {au_scores.shape[1]} AU scores for the '
                    f'{len(self.meta["au_names"])} au_names {self.meta["au_names"]}'
                )
        labels = None
        if all('pred_label' in s for s in samples):
            labels = np.array([int(s.pred_label.reshape(-1)[0]) for s in samples], dtype=np.int64)
        return dict(scores=scores, au_scores=au_scores, labels=labels)
