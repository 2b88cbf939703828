"""LandmarkRegressor: loss / predictions against hand values, batch invariance, landmark-stream hand-off."""

import math

import numpy as np
import pytest
import torch

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample

SIZE = 56


def _model(**head):
    cfg = dict(
        type='LandmarkRegressor',
        backbone=dict(type='MobileFaceNet', out_indices=('conv_6_sep',), with_output_layer=False),
        head=dict(type='LandmarkRegHead', in_channels=512, **head),
    )
    return MODELS.build(cfg)


def _samples(value: float, n: int):
    out = []
    for _ in range(n):
        s = FERDataSample()
        s.set_field(torch.full((68, 2), value), 'gt_landmarks', dtype=torch.Tensor)
        out.append(s)
    return out


def _constant_head(model, value: float):
    """Zero weights, bias ``value``: every normalised coordinate predicts ``value``."""
    with torch.no_grad():
        model.head.fc.weight.zero_()
        model.head.fc.bias.fill_(value)


def test_loss_is_wing_of_pixel_errors_hand_value():
    model = _model(loss=dict(type='WingLoss', omega=10.0, epsilon=2.0))
    _constant_head(model, 0.5)  # every prediction: 0.5 * 56 = 28 px
    x = torch.randn(2, 3, SIZE, SIZE)
    loss = model(x, _samples(29.0, 2), mode='loss')['loss']  # |error| = 1 px on 136 coordinates
    assert loss.item() == pytest.approx(136 * 10 * math.log(1.5), rel=1e-5)
    l1 = _model(loss=dict(type='LandmarkL1Loss', reduction='mean'))
    _constant_head(l1, 0.5)
    assert l1(x, _samples(40.0, 2), mode='loss')['loss'].item() == pytest.approx(12.0, rel=1e-6)


def test_predict_returns_pixels_and_feeds_nme():
    model = _model().eval()
    _constant_head(model, 0.25)
    out = model(torch.randn(3, 3, SIZE, SIZE), _samples(0.0, 3), mode='predict')
    assert len(out) == 3
    np.testing.assert_allclose(out[0].pred_landmarks.numpy(), np.full((68, 2), 14.0), atol=1e-6)
    from ferlab.registry import METRICS

    nme = METRICS.build(dict(type='NME'))
    gt = np.full((68, 2), 14.0)
    gt[45, 0] = 14.0 + 28.0  # inter-ocular distance 28; the prediction misses point 45 by 28
    s = out[0]
    s.gt_landmarks = torch.tensor(gt, dtype=torch.float32)
    nme.process(None, [s.to_dict()])
    assert nme.compute_metrics(nme.results)['nme'] == pytest.approx(100 / 68, rel=1e-5)


def test_eval_predictions_are_batch_invariant():
    torch.manual_seed(0)
    model = _model().eval()
    x = torch.randn(5, 3, SIZE, SIZE)
    with torch.no_grad():
        full = model(x)
        one = torch.cat([model(x[i : i + 1]) for i in range(5)])
    assert full.shape == (5, 136)
    torch.testing.assert_close(full, one, atol=1e-5, rtol=1e-5)


def test_missing_or_malformed_targets_name_the_sample():
    model = _model()
    s = FERDataSample(metainfo=dict(img_path='face.jpg'))
    with pytest.raises(KeyError, match='face.jpg has no gt_landmarks'):
        model(torch.randn(1, 3, SIZE, SIZE), [s], mode='loss')
    s.set_field(torch.zeros(5, 2), 'gt_landmarks', dtype=torch.Tensor)
    with pytest.raises(ValueError, match=r'expected \(68, 2\)'):
        model(torch.randn(1, 3, SIZE, SIZE), [s], mode='loss')


def test_head_without_linear_takes_the_output_layer():
    """At 112 px MobileFaceNet's own GDC output layer (136 outputs) is the prediction (public layout)."""
    model = MODELS.build(
        dict(
            type='LandmarkRegressor',
            backbone=dict(type='MobileFaceNet', out_indices=('output_layer',)),
            head=dict(type='LandmarkRegHead', in_channels=None),
        )  # fmt: skip
    ).eval()
    assert not list(model.head.parameters())
    assert model(torch.randn(2, 3, 112, 112)).shape == (2, 136)


def test_checkpoint_loads_as_posterv2_landmark_weights(tmp_path):
    """A saved regressor is the landmark stream's weights: MobileFaceNet(pretrained=ckpt) gets equal tensors."""
    torch.manual_seed(1)
    reg = _model()
    path = tmp_path / 'lmk.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=reg.state_dict()), path)
    stream = MODELS.build(
        dict(type='MobileFaceNet', out_indices=('conv_3', 'conv_4', 'conv_6_sep'), pretrained=str(path))
    )
    stream.init_weights()
    got = stream.state_dict()
    for k, v in reg.backbone.state_dict().items():
        torch.testing.assert_close(got[k], v, atol=0, rtol=0)
    x = torch.randn(2, 3, SIZE, SIZE)
    reg.eval(), stream.eval()
    with torch.no_grad():
        torch.testing.assert_close(stream(x)[-1], reg.backbone(x)[0], atol=0, rtol=0)
