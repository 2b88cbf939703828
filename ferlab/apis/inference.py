"""High-level inference API: build a model from a config and run it on images."""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.runner import load_checkpoint

from ferlab.registry import MODELS, TRANSFORMS
from ferlab.structures import FERDataSample
from ferlab.utils import register_all_modules

ImageLike = Union[str, np.ndarray]


def init_model(config: str | Config, checkpoint: str | None = None, device: str = 'cpu') -> torch.nn.Module:
    """Build the model of ``config``, load ``checkpoint`` (safely), set eval mode.

    The test pipeline of the config is attached as ``model.cfg``; class names
    come from the checkpoint's ``dataset_meta`` when present.
    """
    register_all_modules()
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
        meta = ckpt.get('meta', {}).get('dataset_meta')
        if meta:
            model.dataset_meta = meta
    model.cfg = cfg
    return model.to(device).eval()


@torch.no_grad()
def inference_model(model: torch.nn.Module, images: ImageLike | Sequence[ImageLike]) -> list[FERDataSample]:
    """Predict expressions of image paths or BGR arrays with the config's test pipeline."""
    single = isinstance(images, (str, np.ndarray))
    images = [images] if single else list(images)
    pipeline_cfg = model.cfg.test_dataloader.dataset.pipeline
    pipeline = Compose([TRANSFORMS.build(t) for t in pipeline_cfg])
    batch = []
    for img in images:
        info = dict(img_path=img) if isinstance(img, str) else dict(img=img, img_path='<array>')
        batch.append(pipeline(info))
    out = model.test_step(pseudo_collate(batch))
    return out
