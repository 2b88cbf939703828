"""EnsembleClassifier: sum of softmax by hand, weights, logit mean, per-member sizes, checkpoints via init_cfg."""

import pytest
import torch
import torch.nn.functional as F

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample


def member(num_classes=5):
    return dict(
        type='FERClassifier',
        backbone=dict(type='ResNet', depth=18, num_stages=1, out_indices=(0,)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=64),
    )


def ensemble(**kw):
    cfg = dict(type='EnsembleClassifier', members=[member(), member(), member()])
    cfg.update(kw)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def batch(n=4, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g) for _ in range(n)]
    return dict(inputs=inputs, data_samples=[FERDataSample().set_gt_label(i % 5) for i in range(n)])


def normalised(model, data):
    return model.data_preprocessor(data, False)['inputs']


def test_sum_of_softmax_by_hand():
    model = ensemble()
    x = normalised(model, batch())
    with torch.no_grad():
        # oracle: each member on its own, softmax, summed (paper Fig. 3), divided by M = 3
        probs = [F.softmax(m(x, mode='tensor'), dim=1) for m in model.members]
        expected = (probs[0] + probs[1] + probs[2]) / 3
        out = model(x, mode='tensor')
        samples = model(x, mode='predict')
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out.sum(1), torch.ones(4))
    pred = torch.stack([s.pred_score for s in samples])
    torch.testing.assert_close(pred, expected)
    assert [int(s.pred_label) for s in samples] == expected.argmax(1).tolist()
    # the members disagree, so the test can tell the sum from any single member
    assert not torch.allclose(probs[0], probs[1], atol=1e-3)


def test_weights_and_logit_mean():
    model = ensemble(weights=[1.0, 2.0, 0.5])
    x = normalised(model, batch())
    with torch.no_grad():
        z = [m(x, mode='tensor') for m in model.members]
        expected = (F.softmax(z[0], 1) + 2.0 * F.softmax(z[1], 1) + 0.5 * F.softmax(z[2], 1)) / 3.5
        torch.testing.assert_close(model(x, mode='tensor'), expected)
    model = ensemble(weights=[1.0, 2.0, 0.5], combine='logit_mean')
    with torch.no_grad():
        z = [m(x, mode='tensor') for m in model.members]
        expected = F.softmax((z[0] + 2.0 * z[1] + 0.5 * z[2]) / 3.5, dim=1)
        torch.testing.assert_close(model(x, mode='tensor'), expected)


def test_input_sizes_resize_per_member():
    model = ensemble(input_sizes=[None, 16, 48])
    x = normalised(model, batch(size=32))
    with torch.no_grad():
        z1 = model.members[1](F.interpolate(x, size=(16, 16), mode='bilinear', antialias=True), mode='tensor')
        z2 = model.members[2](F.interpolate(x, size=(48, 48), mode='bilinear'), mode='tensor')
        z0 = model.members[0](x, mode='tensor')
        expected = (F.softmax(z0, 1) + F.softmax(z1, 1) + F.softmax(z2, 1)) / 3
        torch.testing.assert_close(model(x, mode='tensor'), expected)


def test_loss_trains_every_member():
    model = ensemble().train()
    data = model.data_preprocessor(batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'m0.loss_cls', 'm1.loss_cls', 'm2.loss_cls'}
    x = data['inputs']
    target = torch.tensor([i % 5 for i in range(4)])
    for i, m in enumerate(model.members):  # each equals the member's CE on the batch
        torch.testing.assert_close(losses[f'm{i}.loss_cls'], F.cross_entropy(m(x, mode='tensor'), target))


def test_checkpoints_load_in_init_weights_not_in_constructor(tmp_path):
    torch.manual_seed(3)
    trained = MODELS.build(member())
    path = str(tmp_path / 'm.pth')
    torch.save(dict(state_dict=trained.state_dict(), meta=dict()), path)
    cfg = dict(type='EnsembleClassifier', members=[member(), member()], checkpoints=[path, None])
    model = MODELS.build(cfg)  # no file read here: a missing file would only fail in init_weights
    assert not torch.equal(model.members[0].head.fc.weight, trained.head.fc.weight)
    model.init_weights()
    torch.testing.assert_close(model.members[0].head.fc.weight, trained.head.fc.weight)
    missing = MODELS.build(dict(cfg, checkpoints=[str(tmp_path / 'nope.pth'), None]))
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        missing.init_weights()


def test_bad_configs():
    with pytest.raises(ValueError, match='weights has 2 entries for 3 members'):
        ensemble(weights=[1, 1])
    with pytest.raises(ValueError, match='combine must be one of'):
        ensemble(combine='vote')
    model = ensemble(members=[member(5), member(4)])
    with pytest.raises(ValueError, match='same classes'):
        model(normalised(model, batch()), mode='tensor')
