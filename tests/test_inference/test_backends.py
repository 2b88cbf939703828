"""TorchBackend metadata: input size and class names from the config / checkpoint, clear errors otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from mmengine.config import Config

from ferlab.inference import TorchBackend, model_input_size
from ferlab.utils.errors import FerlabInputError
from tests.test_inference.infer_utils import CLASSES7, write_tiny_model
from tests.utils import REPO_ROOT


def _cfg(dataset: dict, **top) -> Config:
    return Config(dict(test_dataloader=dict(dataset=dataset), **top))


def test_input_size_from_resize_then_img_size():
    resize = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 48)), dict(type='PackFERInputs')]
    assert model_input_size(_cfg(dict(pipeline=resize))) == (48, 64)  # mmcv scale is (w, h)
    assert model_input_size(_cfg(dict(pipeline=[], img_size=112))) == (112, 112)
    assert model_input_size(_cfg(dict(pipeline=[]), img_size=(40, 50))) == (40, 50)
    with pytest.raises(FerlabInputError, match='cannot tell the model input size .no fixed-size Resize'):
        model_input_size(_cfg(dict(pipeline=[])))
    assert model_input_size(Config.fromfile(f'{REPO_ROOT}/configs/quickstart/resnet18_synthfer.py')) == (
        112,
        112,
    )


def test_classes_from_the_checkpoint_else_the_config(tmp_path):
    cfg, ckpt = write_tiny_model(tmp_path)
    assert TorchBackend(cfg, ckpt).meta == dict(
        classes=CLASSES7, input_size=(32, 32), au_names=None, decision='argmax'
    )
    backend = TorchBackend(cfg)  # no checkpoint: RAFDB's METAINFO (same order)
    assert backend.meta['classes'] == CLASSES7
    scores = backend([np.zeros((10, 20, 3), np.uint8), np.full((50, 50, 3), 200, np.uint8)])
    assert (
        scores['scores'].shape == (2, 7)
        and scores['scores'].dtype == np.float32
        and scores['au_scores'] is None
    )
    np.testing.assert_allclose(scores['scores'].sum(1), 1.0, atol=1e-6)
    assert backend([])['scores'].shape == (0, 7)


def test_class_count_mismatch_is_one_clear_error(tmp_path):
    cfg, _ = write_tiny_model(tmp_path)
    c = Config.fromfile(cfg)
    c.model.head.num_classes = 5
    with pytest.raises(FerlabInputError, match=r'7 class names .* for a model with 5 outputs'):
        TorchBackend(c)
