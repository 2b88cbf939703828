"""FERClassifier: tensor / loss / predict modes, extract_feat, bad mode."""

import pytest
import torch

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample


def tiny_cfg(**kwargs):
    cfg = dict(
        type='FERClassifier',
        backbone=dict(type='ResNet', depth=18, num_stages=2, out_indices=(1,)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=128),
    )
    cfg.update(kwargs)
    return cfg


def batch(n=2, size=32):
    torch.manual_seed(0)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8) for _ in range(n)]
    samples = [FERDataSample().set_gt_label(i % 3) for i in range(n)]
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture(scope='module')
def model():
    m = MODELS.build(tiny_cfg())
    m.init_weights()
    return m


def test_extract_feat_is_pooled_tuple(model):
    data = model.data_preprocessor(batch(), False)
    feats = model.extract_feat(data['inputs'])
    assert isinstance(feats, tuple) and len(feats) == 1 and feats[0].shape == (2, 128)


def test_tensor_mode_gives_logits(model):
    data = model.data_preprocessor(batch(), False)
    assert model(data['inputs'], mode='tensor').shape == (2, 3)


def test_loss_mode_and_train_step(model):
    data = model.data_preprocessor(batch(), True)
    losses = model(**data, mode='loss')
    assert (
        set(losses) == {'loss_cls', 'data_samples'}
        and losses['loss_cls'].ndim == 0
        and losses['loss_cls'] > 0
    )
    from mmengine.optim import OptimWrapper

    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.head.fc.weight.clone()
    log_vars = model.train_step(batch(), wrapper)
    assert 'loss' in log_vars
    assert not torch.equal(before, model.head.fc.weight)


def test_predict_mode_fills_samples(model):
    model.eval()
    out = model.val_step(batch(3))
    assert len(out) == 3
    for s in out:
        assert s.pred_score.shape == (3,) and torch.isclose(s.pred_score.sum(), torch.tensor(1.0))
        assert s.pred_label.item() == int(s.pred_score.argmax())
        assert 'gt_label' in s  # ground truth kept
    model.train()


def test_without_neck_and_head():
    m = MODELS.build(tiny_cfg(neck=None, head=None))
    assert not m.with_neck and not m.with_head
    feats = m(torch.randn(1, 3, 32, 32), mode='tensor')
    assert isinstance(feats, tuple) and feats[0].shape == (1, 128, 4, 4)


def test_invalid_mode(model):
    with pytest.raises(RuntimeError, match='Invalid mode'):
        model(torch.randn(1, 3, 32, 32), mode='train')


def test_default_data_preprocessor_is_fer():
    m = MODELS.build(tiny_cfg())
    assert type(m.data_preprocessor).__name__ == 'FERDataPreprocessor'
