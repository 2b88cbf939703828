"""MobileFaceNet: taps by name/index, shapes, the 136-d output layer, public/ferlab weight layouts."""

import pytest
import torch

from ferlab.registry import MODELS
from ferlab.utils import atomic_save
from tests.test_tools.poster_public import MobileFaceNet as PublicMobileFaceNet
from tests.test_tools.poster_public import randomise


def build(**kw):
    return MODELS.build(dict(type='MobileFaceNet', **kw))


def test_shapes_of_every_tap_at_112():
    names = ['conv1', 'conv2_dw', 'conv_23', 'conv_3', 'conv_34', 'conv_4', 'conv_45', 'conv_5', 'conv_6_sep']
    m = build(out_indices=[*names, 'output_layer']).eval()
    outs = m(torch.randn(2, 3, 112, 112))
    expected = [(64, 56), (64, 56), (64, 28), (64, 28), (128, 14), (128, 14), (128, 7), (128, 7), (512, 7)]
    assert [tuple(o.shape) for o in outs[:-1]] == [(2, c, s, s) for c, s in expected]
    assert outs[-1].shape == (2, 136)
    assert m.out_channels == [c for c, _ in expected] + [136]


def test_taps_by_index_equal_taps_by_name():
    torch.manual_seed(0)
    a = build(out_indices=('conv_3', 'conv_4', 'conv_6_sep')).eval()
    b = build(out_indices=(3, 5, -2)).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 112, 112)
    for u, v in zip(a(x), b(x)):
        torch.testing.assert_close(u, v, rtol=0, atol=0)


def test_matches_public_structure_and_output():
    """Same key layout as the public MobileFaceNet; same taps and 136-d output from the same weights."""
    pub = randomise(PublicMobileFaceNet([112, 112], 136)).eval()
    m = build(out_indices=('conv_3', 'conv_4', 'conv_6_sep', 'output_layer')).eval()
    assert list(m.state_dict()) == list(pub.state_dict())
    m.load_state_dict(pub.state_dict(), strict=True)
    x = torch.randn(2, 3, 112, 112)
    ref3, ref4, ref6 = pub(x)
    ref_out = pub.output_layer(ref6)
    for got, ref in zip(m(x), (ref3, ref4, ref6, ref_out)):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('layout', ['public', 'ferlab'])
def test_pretrained_file_loads_in_init_weights(tmp_path, layout):
    pub = randomise(PublicMobileFaceNet([112, 112], 136), seed=3)
    path = str(tmp_path / 'lm.pth')
    if layout == 'public':  # mobilefacenet_model_best.pth.tar: {'state_dict': ...}
        atomic_save({'state_dict': pub.state_dict()}, path)
    else:  # a ferlab landmark model: the network under backbone., plus a head
        state = {f'backbone.{k}': v for k, v in pub.state_dict().items()}
        state['head.fc.weight'] = torch.zeros(136, 512)
        state['loss_module.scale'] = torch.ones(1)  # any other non-backbone entry is ignored
        atomic_save({'state_dict': state, 'meta': {}}, path)
    m = build(pretrained=path, with_output_layer=False)
    before = m.conv1.conv.weight.clone()
    m.init_weights()
    assert not torch.equal(before, m.conv1.conv.weight)
    torch.testing.assert_close(m.conv_6_sep.bn.running_var, pub.conv_6_sep.bn.running_var)
    torch.testing.assert_close(m.conv_4.model[5].project.conv.weight, pub.conv_4.model[5].project.conv.weight)


def test_constructor_reads_no_file(tmp_path):
    build(pretrained=str(tmp_path / 'missing.pth'))  # no I/O until init_weights
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        build(pretrained=str(tmp_path / 'missing.pth')).init_weights()


def test_bad_arguments_are_one_clear_error():
    with pytest.raises(ValueError, match="unknown layer 'conv_7'"):
        build(out_indices=('conv_7',))
    with pytest.raises(ValueError, match='with_output_layer=False'):
        build(out_indices=('output_layer',), with_output_layer=False)
    with pytest.raises(ValueError, match=r'7x7 conv_6_sep maps'):
        build(out_indices=('output_layer',))(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        build()(torch.randn(3, 112, 112))


def test_layers_after_the_last_tap_do_not_run():
    m = build(out_indices=('conv_3',))
    calls = []
    m.conv_34.register_forward_hook(lambda *a: calls.append(1))
    m(torch.randn(1, 3, 56, 56))
    assert calls == []
