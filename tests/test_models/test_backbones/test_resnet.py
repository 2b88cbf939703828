"""ResNet: torchvision key layout, local pretrained loading, frozen stages, out_indices."""

import pytest
import torch
import torchvision

from ferlab.registry import MODELS


def build(**kwargs):
    cfg = dict(type='ResNet', depth=18)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_key_layout_equals_torchvision_minus_fc():
    ours = list(build().state_dict())
    theirs = [k for k in torchvision.models.resnet18(weights=None).state_dict() if not k.startswith('fc.')]
    assert ours == theirs


def test_resnet50_key_layout_equals_torchvision():
    ours = set(build(depth=50).state_dict())
    theirs = {k for k in torchvision.models.resnet50(weights=None).state_dict() if not k.startswith('fc.')}
    assert ours == theirs


def test_torchvision_state_dict_file_loads_unchanged(tmp_path):
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(weights=None)
    # Non-trivial BN statistics so a missed buffer would change the output.
    for m in tv.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / 'resnet18_tv.pth'
    torch.save(tv.state_dict(), path)

    model = build(pretrained=str(path))
    from ferlab.models.utils import load_pretrained_file

    missing, unexpected = load_pretrained_file(
        model,
        str(path),
        what='tv',
        key_map=lambda sd: {k: v for k, v in sd.items() if not k.startswith('fc.')},
    )
    assert missing == [] and unexpected == []
    model.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(value, tv.state_dict()[key]), key

    tv.eval()
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours = model(x)[0]
        tv_body = torch.nn.Sequential(*list(tv.children())[:-2])
        theirs = tv_body(x)
    assert ours.shape == (2, 512, 2, 2)
    torch.testing.assert_close(ours, theirs)


def test_missing_pretrained_file_names_path(tmp_path):
    path = tmp_path / 'nope.pth'
    model = build(pretrained=str(path))
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        model.init_weights()


def test_out_indices_shapes():
    model = build(out_indices=(0, 1, 2, 3))
    outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4), (1, 512, 2, 2)]
    assert model.out_channels == [64, 128, 256, 512]


def test_num_stages_truncates():
    model = build(num_stages=2, out_indices=(1,))
    assert not hasattr(model, 'layer3')
    assert model(torch.randn(1, 3, 32, 32))[0].shape == (1, 128, 4, 4)


@pytest.mark.parametrize(
    'kwargs, err',
    [
        (dict(depth=19), KeyError),
        (dict(num_stages=5), ValueError),
        (dict(num_stages=2, out_indices=(2,)), ValueError),
    ],
)
def test_bad_arguments(kwargs, err):
    with pytest.raises(err):
        build(**kwargs)


def test_frozen_stages():
    model = build(frozen_stages=1)
    model.init_weights()
    model.train()
    for p in list(model.conv1.parameters()) + list(model.bn1.parameters()) + list(model.layer1.parameters()):
        assert not p.requires_grad
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.bn1.training and not model.layer1[0].bn1.training
    assert model.layer2[0].bn1.training
    # Frozen BN statistics do not move in training mode.
    before = model.layer1[0].bn1.running_mean.clone()
    model(torch.randn(2, 3, 32, 32) * 5 + 3)
    assert torch.equal(before, model.layer1[0].bn1.running_mean)
    assert not torch.equal(model.layer2[0].bn1.running_mean, torch.zeros(128))


def test_zero_init_residual():
    model = build(zero_init_residual=True)
    model.init_weights()
    assert torch.count_nonzero(model.layer1[0].bn2.weight) == 0
    assert torch.all(model.layer1[0].bn1.weight == 1)
