"""Helpers shared by ferlab's tests (fake datasets, tiny configs, free ports).

Import as ``from tests.utils import make_fake_rafdb`` (``tests/conftest.py``
puts the repository root on ``sys.path``).
"""

from __future__ import annotations

import os
import os.path as osp
import socket
from pathlib import Path
from typing import Union

import cv2
import numpy as np

PathLike = Union[str, Path]

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RAFDB_LABEL_FILE = 'basic/EmoLabel/list_patition_label.txt'
RAFDB_ALIGNED_DIR = 'basic/Image/aligned'


def make_fake_rafdb(
    root: PathLike,
    n_train: int = 8,
    n_test: int = 4,
    size: int = 32,
    seed: int = 0,
    num_classes: int = 7,
) -> str:
    """Write a tiny RAF-DB ``basic`` tree of random JPEGs under ``root``.

    Layout (as read by :class:`ferlab.datasets.RAFDB`)::

        basic/EmoLabel/list_patition_label.txt   # "train_00001.jpg 3" (labels 1..7)
        basic/Image/aligned/train_00001_aligned.jpg

    Labels cycle through ``1..num_classes`` so every class appears once there
    are at least ``num_classes`` samples.

    Args:
        root: Directory to create (may exist).
        n_train: Number of training images (``train_00001`` ...).
        n_test: Number of test images (``test_0001`` ...).
        size: Side of the square images in pixels.
        seed: Seed of the random pixels.
        num_classes: Labels are drawn from ``1..num_classes`` (at most 7).

    Returns:
        ``str(root)``, usable as ``data_root``.
    """
    if n_train < 0 or n_test < 0 or n_train + n_test == 0:
        raise ValueError(f'need n_train, n_test >= 0 and at least one image, got {n_train}, {n_test}')
    if not 1 <= num_classes <= 7:
        raise ValueError(f'RAF-DB has 7 classes, got num_classes={num_classes}')
    if size < 1:
        raise ValueError(f'size must be positive, got {size}')
    root = str(root)
    img_dir = osp.join(root, RAFDB_ALIGNED_DIR)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(osp.dirname(osp.join(root, RAFDB_LABEL_FILE)), exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    names = [f'train_{i:05d}' for i in range(1, n_train + 1)] + [
        f'test_{i:04d}' for i in range(1, n_test + 1)
    ]
    for k, stem in enumerate(names):
        label = k % num_classes + 1
        lines.append(f'{stem}.jpg {label}')
        img = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        ok = cv2.imwrite(osp.join(img_dir, f'{stem}_aligned.jpg'), img)
        if not ok:
            raise OSError(f'could not write {stem}_aligned.jpg under {img_dir}')
    with open(osp.join(root, RAFDB_LABEL_FILE), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    return root


def tiny_train_options(
    data_root: PathLike, max_epochs: int = 1, batch_size: int = 4, img_size: int = 32
) -> list:
    """``--cfg-options`` that shrink ``configs/baseline/resnet18_rafdb.py`` to a seconds-long run.

    Sets the data root, tiny images, batch size, no dataloader workers, the
    epoch count, frequent logging and a checkpoint every epoch (kept).

    Args:
        data_root: A fake RAF-DB tree (see :func:`make_fake_rafdb`).
        max_epochs: ``train_cfg.max_epochs``.
        batch_size: Batch size of every dataloader.
        img_size: Side of the resized images.

    Returns:
        A list of ``key=value`` strings to put after ``--cfg-options``.
    """
    opts = [f'data_root={data_root}', f'train_cfg.max_epochs={max_epochs}', 'default_hooks.logger.interval=1']
    opts.append('default_hooks.checkpoint.max_keep_ckpts=-1')
    opts.append('default_hooks.checkpoint.save_best=None')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.batch_size={batch_size}', f'{loader}.num_workers=0']
    opts.append(f'train_dataloader.dataset.pipeline.1.scale=({img_size},{img_size})')
    for loader in ('val_dataloader', 'test_dataloader'):
        opts.append(f'{loader}.dataset.pipeline.1.scale=({img_size},{img_size})')
    return opts


#: ``configs/baseline/resnet18_rafdb.py`` on a one-stage trunk (64 channels) at 32 px: a model
#: Grad-CAM runs on in well under a second.
TINY_CAM_CONFIG = osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
TINY_CAM_OPTIONS = ['test_dataloader.dataset.pipeline.1.scale=(32,32)', 'model.backbone.num_stages=1',
                    'model.backbone.out_indices=(0,)', 'model.head.in_channels=64']  # fmt: skip


def tiny_cam_checkpoint(tmp_path: PathLike):
    """A randomly initialised :data:`TINY_CAM_CONFIG` model saved as a checkpoint, and a face image.

    Returns:
        ``(cfg, checkpoint, image)``: the config with :data:`TINY_CAM_OPTIONS` applied, the
        checkpoint path (``seed 0`` weights) and a random 40x40 PNG path.
    """
    import torch
    from mmengine.config import Config

    from ferlab.registry import MODELS
    from ferlab.utils import atomic_save

    cfg = Config.fromfile(TINY_CAM_CONFIG)
    cfg.merge_from_dict(parse_cfg_options(TINY_CAM_OPTIONS))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = str(Path(tmp_path) / 'model.pth')
    atomic_save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    img = str(Path(tmp_path) / 'face.png')
    cv2.imwrite(img, np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    return cfg, ckpt, img


def free_port() -> int:
    """A TCP port on localhost that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def parse_cfg_options(options: list) -> dict:
    """``['a.b=1', 'c=(2,2)']`` → the dict ``--cfg-options`` turns them into (mmengine's ``DictAction``)."""
    import argparse

    from mmengine.config import DictAction

    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(['--cfg-options', *options] if options else []).cfg_options


def recompute_test_scores(config: PathLike, checkpoint: PathLike, cfg_options: list = ()) -> dict:
    """Evaluate ``checkpoint`` on the config's test split without the Runner or ``tools/test.py``.

    The model is built from the config through the registry, the checkpoint's
    ``state_dict`` is read with :func:`ferlab.utils.safe_torch_load` and loaded
    with ``load_state_dict(strict=True)`` (not mmengine's ``load_checkpoint``), and every test sample goes through the model on its own
    (data preprocessor, ``forward(mode='tensor')``, softmax in numpy).

    Args:
        config: Config file.
        checkpoint: A checkpoint written by ``tools/train.py``.
        cfg_options: The ``--cfg-options`` strings given to the tools.

    Returns:
        ``dict(scores=(N, C) float64, gt=(N,) int, accuracy=float, img_paths=list)``
        with the samples in dataset order, ``accuracy`` in percent and the image
        files (``None`` for generated samples).
    """
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from ferlab.registry import DATASETS, MODELS
    from ferlab.utils import apply_cfg_options, safe_torch_load

    cfg = apply_cfg_options(Config.fromfile(str(config)), parse_cfg_options(list(cfg_options)))
    model = MODELS.build(cfg.model)
    state = safe_torch_load(str(checkpoint))['state_dict']
    model.load_state_dict(state, strict=True)
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    logits, gt, paths = [], [], []
    with torch.no_grad():
        for i in range(len(dataset)):
            paths.append(dataset.get_data_info(i).get('img_path'))
            item = dataset[i]
            batch = model.data_preprocessor(pseudo_collate([item]), False)
            out = model(batch['inputs'], mode='tensor')
            out = out[0] if isinstance(out, (tuple, list)) else out  # (expr_logits, au_logits) models
            logits.append(out[0].double().numpy())
            gt.append(int(item['data_samples'].gt_label))
    logits = np.stack(logits)
    scores = np.exp(logits - logits.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    gt = np.asarray(gt)
    accuracy = 100.0 * float(np.mean(scores.argmax(axis=1) == gt))
    return dict(scores=scores, gt=gt, accuracy=accuracy, img_paths=paths)


def read_prediction_dump(path: PathLike) -> dict:
    """The ``tools/test.py --out`` pickle as arrays sorted by ``sample_idx``.

    Returns:
        ``dict(idx=(N,), scores=(N, C) float64, labels=(N,), gt=(N,))``.
    """
    import pickle

    with open(path, 'rb') as f:
        preds = pickle.load(f)
    preds = sorted(preds, key=lambda p: int(p['sample_idx']))
    return dict(
        idx=np.array([int(p['sample_idx']) for p in preds]),
        scores=np.stack([np.asarray(p['pred_score'], dtype=np.float64) for p in preds]),
        labels=np.array([int(p['pred_label']) for p in preds]),
        gt=np.array([int(p['gt_label']) for p in preds]),
    )


def write_forced_class_checkpoint(src: PathLike, dst: PathLike, cls: int) -> str:
    """Copy a checkpoint whose model answers ``cls`` for every input.

    The last affine layer with one output per class (the head's ``Linear``, or
    DAN's ``BatchNorm1d`` after it) gets weight 0 and bias ``10 * onehot(cls)``,
    so its logits are that constant whatever the features: the accuracy of
    the copy is the share of test labels equal to ``cls``.

    Returns:
        ``str(dst)``.
    """
    import torch

    from ferlab.utils import atomic_save, safe_torch_load

    ckpt = safe_torch_load(str(src))
    state = ckpt['state_dict']
    num_classes = None
    for key in reversed(list(state)):
        if key.endswith('.bias') and state[key].dim() == 1 and key[: -len('bias')] + 'weight' in state:
            weight = state[key[: -len('bias')] + 'weight']
            if weight.shape[0] == state[key].shape[0]:
                num_classes = state[key].shape[0]
                break
    if num_classes is None or not 0 <= cls < num_classes:
        raise ValueError(f'{src}: no per-class output layer for class {cls}')
    state[key[: -len('bias')] + 'weight'] = torch.zeros_like(weight)
    state[key] = torch.nn.functional.one_hot(torch.tensor(cls), num_classes).to(state[key].dtype) * 10.0
    atomic_save(ckpt, str(dst))
    return str(dst)
