"""IResNet (IR-50/100/152): face.evoLVe key layout, shapes at 112, pretrained round trip."""

import pytest
import torch

from ferlab.registry import MODELS

# Public face.evoLVe / POSTER ir50.pth names (ZhaoJ9014/face.evoLVe backbone/model_irse.py):
# the first unit of stage 1 is body.0 (64 -> 64: MaxPool2d shortcut, no parameters),
# of stage 2 body.3, stage 3 body.7, stage 4 body.21 (64->128, 128->256, 256->512: conv+BN shortcut).
BN = ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
RES_LAYER = (
    [f'res_layer.0.{n}' for n in BN]
    + ['res_layer.1.weight', 'res_layer.2.weight', 'res_layer.3.weight']
    + [f'res_layer.4.{n}' for n in BN]
)
CONV_SHORTCUT = ['shortcut_layer.0.weight'] + [f'shortcut_layer.1.{n}' for n in BN]
PUBLIC_STEM = ['input_layer.0.weight'] + [f'input_layer.1.{n}' for n in BN] + ['input_layer.2.weight']
PUBLIC_FIRST_UNITS = {
    0: [f'body.0.{k}' for k in RES_LAYER],
    3: [f'body.3.{k}' for k in CONV_SHORTCUT + RES_LAYER],
    7: [f'body.7.{k}' for k in CONV_SHORTCUT + RES_LAYER],
    21: [f'body.21.{k}' for k in CONV_SHORTCUT + RES_LAYER],
}
PUBLIC_OUTPUT_LAYER = (
    [f'output_layer.0.{n}' for n in BN]
    + ['output_layer.3.weight', 'output_layer.3.bias']
    + [f'output_layer.4.{n}' for n in BN]
)


@pytest.fixture(scope='module')
def ir50_3stages():
    model = MODELS.build(dict(type='IResNet', depth=50, num_stages=3, out_indices=(0, 1, 2)))
    model.init_weights()
    return model.eval()


def test_shapes_at_112_with_three_stages(ir50_3stages):
    # POSTER++ / AU-ViT read the first three stages: 64x56x56, 128x28x28, 256x14x14 at 112 px.
    with torch.no_grad():
        outs = ir50_3stages(torch.randn(2, 3, 112, 112))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 56, 56), (2, 128, 28, 28), (2, 256, 14, 14)]
    assert ir50_3stages.out_channels == [64, 128, 256]
    assert len(ir50_3stages.body) == 3 + 4 + 14


def test_key_names_match_public_layout(ir50_3stages):
    keys = list(ir50_3stages.state_dict())
    assert keys[: len(PUBLIC_STEM)] == PUBLIC_STEM
    for idx in (0, 3, 7):
        unit = [k for k in keys if k.startswith(f'body.{idx}.')]
        assert unit == PUBLIC_FIRST_UNITS[idx]
    assert not any(k.startswith('body.21.') for k in keys)
    assert not any(k.startswith('output_layer') for k in keys)
    # Unit types: the first unit of every stage has stride 2.
    assert isinstance(ir50_3stages.body[0].shortcut_layer, torch.nn.MaxPool2d)
    assert ir50_3stages.body[0].shortcut_layer.stride == 2
    assert ir50_3stages.body[3].res_layer[3].stride == (2, 2)
    assert ir50_3stages.body[4].res_layer[3].stride == (1, 1)


def test_full_ir50_with_output_layer():
    model = MODELS.build(dict(type='IResNet', depth=50, out_indices=(3,), with_output_layer=True))
    keys = list(model.state_dict())
    assert [k for k in keys if k.startswith('body.21.')] == PUBLIC_FIRST_UNITS[21]
    assert [k for k in keys if k.startswith('output_layer')] == PUBLIC_OUTPUT_LAYER
    assert len(model.body) == 24
    model.eval()
    with torch.no_grad():
        feat, emb = model(torch.randn(1, 3, 112, 112))
    assert feat.shape == (1, 512, 7, 7) and emb.shape == (1, 512)
    with pytest.raises(ValueError, match='112px'):
        model(torch.randn(1, 3, 96, 96))


# Units per stage: insightface's iresnet18/34 (layers [2,2,2,2], [3,4,6,3]) and face.evoLVe's IR-100/152.
@pytest.mark.parametrize(
    'depth, units', [(18, (2, 2, 2, 2)), (34, (3, 4, 6, 3)), (100, (3, 13, 30, 3)), (152, (3, 8, 36, 3))]
)
def test_depth_units(depth, units):
    model = MODELS.build(dict(type='IResNet', depth=depth, num_stages=4))
    assert model.units == units
    # The residual units actually built, counted per output width (64, 128, 256, 512).
    widths = [
        [m for m in unit.res_layer if isinstance(m, torch.nn.Conv2d)][-1].out_channels for unit in model.body
    ]
    assert tuple(widths.count(c) for c in (64, 128, 256, 512)) == units
    assert model.stage_ends == [sum(units[: i + 1]) for i in range(4)]


def test_widths_set_the_channels_of_every_unit():
    model = MODELS.build(dict(type='IResNet', depth=18, num_stages=3, input_size=32, widths=(16, 24, 40)))
    convs = [[m for m in unit.res_layer if isinstance(m, torch.nn.Conv2d)] for unit in model.body]
    assert [c[-1].out_channels for c in convs] == [16, 16, 24, 24, 40, 40]
    assert model.input_layer[0].out_channels == 16 and convs[0][0].in_channels == 16
    assert model.out_channels == [16, 24, 40]
    out = model(torch.randn(2, 3, 32, 32))[-1]
    assert out.shape == (2, 40, 4, 4)
    with pytest.raises(ValueError, match='positive width for each of 3 stages'):
        MODELS.build(dict(type='IResNet', depth=18, num_stages=3, widths=(16, 24)))


def test_pretrained_round_trip(tmp_path, ir50_3stages):
    # A full public-layout IR-50 (4 stages + output layer) saved to a file; the
    # 3-stage model takes the matching subset and ignores the rest.
    torch.manual_seed(1)
    src = MODELS.build(dict(type='IResNet', depth=50, with_output_layer=True))
    src.init_weights()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    path = tmp_path / 'ir50.pth'
    torch.save(src.state_dict(), path)

    model = MODELS.build(dict(type='IResNet', depth=50, num_stages=3, out_indices=(2,), pretrained=str(path)))
    model.init_weights()
    src_sd = src.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, src_sd[key]), key
    model.eval()
    src.eval()
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        expected = src.input_layer(x)
        for unit in src.body[:21]:
            expected = unit(expected)
        torch.testing.assert_close(model(x)[0], expected)


def test_poster_v2_body123_layout_is_converted(tmp_path):
    src = MODELS.build(dict(type='IResNet', depth=50, num_stages=3))
    src.init_weights()
    sd = {}
    for key, value in src.state_dict().items():
        if key.startswith('body.'):
            idx, tail = key[len('body.') :].split('.', 1)
            idx = int(idx)
            stage, offset = (1, 0) if idx < 3 else (2, 3) if idx < 7 else (3, 7)
            key = f'body{stage}.{idx - offset}.{tail}'
        sd[key] = value + 1 if value.is_floating_point() else value
    path = tmp_path / 'new_ir50.pth'
    torch.save(sd, path)
    model = MODELS.build(dict(type='IResNet', depth=50, num_stages=3, pretrained=str(path), out_indices=(2,)))
    model.init_weights()
    torch.testing.assert_close(model.body[7].res_layer[1].weight, sd['body3.0.res_layer.1.weight'])
    torch.testing.assert_close(model.body[4].res_layer[2].weight, sd['body2.1.res_layer.2.weight'])


def test_missing_pretrained_names_path(tmp_path):
    model = MODELS.build(
        dict(type='IResNet', num_stages=1, out_indices=(0,), pretrained=str(tmp_path / 'ir50.pth'))
    )
    with pytest.raises(FileNotFoundError, match='ir50.pth'):
        model.init_weights()


def test_frozen_stages_and_resize_input():
    model = MODELS.build(
        dict(type='IResNet', num_stages=2, out_indices=(0, 1), frozen_stages=1, resize_input=True)
    )
    model.train()
    assert not any(p.requires_grad for p in model.input_layer.parameters())
    assert not any(p.requires_grad for p in model.body[:3].parameters())
    assert all(p.requires_grad for p in model.body[3:].parameters())
    assert not model.body[0].res_layer[0].training and model.body[3].res_layer[0].training
    outs = model(torch.randn(2, 3, 64, 64))  # resized to 112
    assert [tuple(o.shape) for o in outs] == [(2, 64, 56, 56), (2, 128, 28, 28)]


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(depth=35), 'depth'),
        (dict(num_stages=0), 'num_stages'),
        (dict(num_stages=3, out_indices=(3,)), 'out_indices'),
        (dict(num_stages=3, with_output_layer=True), 'num_stages=4'),
        (dict(input_size=100), 'multiple of 16'),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises((KeyError, ValueError), match=match):
        MODELS.build(dict(type='IResNet', **kwargs))


def test_bad_input_shape():
    model = MODELS.build(dict(type='IResNet', num_stages=1, out_indices=(0,)))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        model(torch.randn(3, 112, 112))
