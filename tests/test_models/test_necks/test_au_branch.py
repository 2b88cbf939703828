"""AU-ViT's AUBranch: region slices, symmetric maxout and output order on constructed maps."""

import pytest
import torch
import torch.nn.functional as F

from ferlab.models.necks.au_branch import RAFAU_21
from ferlab.registry import MODELS
from ferlab.utils import register_all_modules

register_all_modules()


def _branch(**kw):
    cfg = dict(type='AUBranch', in_channels=1, au_names=[f'AU{a}' for a in RAFAU_21], regions='7')
    cfg.update(kw)
    return MODELS.build(cfg)


def _index_map(g=14):
    """``x[0, 0, i, j] = 14 i + j``: the mean over a block is 14 · mean(i) + mean(j)."""
    i = torch.arange(g, dtype=torch.float32)
    return (i[:, None] * 14 + i[None, :]).view(1, 1, g, g)


def test_seven_region_slices_hand_means():
    br = _branch()
    feats = [f.item() for f in br.region_features(_index_map())]
    # (mean row, mean col) of each slice of the paper's 7-region split, by hand.
    hand = {
        'l_eye': 3 * 14 + 3,  # rows 0-6, cols 0-6
        'brow': 3 * 14 + 6.5,  # rows 0-6, cols 4-9
        'r_eye': 3 * 14 + 10,  # rows 0-6, cols 7-13
        'l_cheek': 8 * 14 + 2.5,  # rows 5-11, cols 0-5
        'nose': 6.5 * 14 + 6.5,  # rows 4-9, cols 4-9
        'r_cheek': 8 * 14 + 10.5,  # rows 5-11, cols 8-13
        'mouth': 9.5 * 14 + 6.5,  # rows 6-13, all cols
    }
    assert br.region_names == list(hand)
    assert feats == pytest.approx(list(hand.values()))


def test_two_region_public_split_hand_means():
    br = _branch(regions='2')
    up, low = [f.item() for f in br.region_features(_index_map())]
    assert up == pytest.approx(3.5 * 14 + 6.5)  # rows 0-7 (overlapping the lower part)
    assert low == pytest.approx(9.5 * 14 + 6.5)  # rows 6-13
    assert [fc.out_features for fc in br.fcs] == [7, 14]


def _set_biases(br, biases):
    with torch.no_grad():
        for fc, b in zip(br.fcs, biases):
            fc.weight.zero_()
            fc.bias.copy_(torch.tensor(b, dtype=torch.float32))


SEVEN_BIASES = [
    [1.0, 5.0, 0.0, 3.0],  # l_eye: AU1, AU2, AU5, AU7
    [-4.0],  # brow: AU4
    [2.0, 4.0, 7.0, -1.0],  # r_eye
    [0.5],  # l_cheek: AU6
    [9.0],  # nose: AU9
    [1.5],  # r_cheek
    [float(10 + k) for k in range(14)],  # mouth: AU10, 12, 14, ..., 27
]


def test_maxout_and_output_order_by_hand():
    br = _branch().eval()
    _set_biases(br, SEVEN_BIASES)
    out = br(torch.randn(1, 1, 14, 14))
    # RAF-AU order 1, 2, 4, 5, 6, 7, 9, then the mouth AUs in their own order.
    expected = [2.0, 5.0, -4.0, 7.0, 1.5, 3.0, 9.0] + [float(10 + k) for k in range(14)]
    assert out.shape == (1, 21)
    assert out[0].tolist() == expected


def test_output_order_follows_au_names():
    br = _branch(au_names=['AU26', 1, 'AU6', 'au4', '09']).eval()
    # Regions keep only the listed AUs: eyes predict AU1, cheeks AU6, mouth AU26.
    assert [fc.out_features for fc in br.fcs] == [1, 1, 1, 1, 1, 1, 1]
    _set_biases(br, [[1.0], [-4.0], [2.0], [0.5], [9.0], [1.5], [36.0]])
    assert br(torch.zeros(2, 1, 14, 14))[1].tolist() == [36.0, 2.0, 1.5, -4.0, 9.0]
    assert br.au_names == ('AU26', 'AU1', 'AU6', 'AU4', 'AU9')


def test_pair_reduce_mean_ablation():
    br = _branch(pair_reduce='mean').eval()
    _set_biases(br, SEVEN_BIASES)
    out = br(torch.zeros(1, 1, 14, 14))[0]
    assert out[:7].tolist() == [1.5, 4.5, -4.0, 3.5, 1.0, 1.0, 9.0]


def test_maxout_keeps_the_visible_half():
    """A half-face occluder: the left eye sees +v, the right eye -v; max keeps the left logit."""
    eyes = [
        dict(name='l_eye', rows=(None, 7), cols=(None, 7), aus=(1,)),
        dict(name='r_eye', rows=(None, 7), cols=(7, None), aus=(1,)),
    ]
    br = _branch(in_channels=2, au_names=['AU1'], regions=eyes, symmetric_pairs=[('l_eye', 'r_eye')]).eval()
    with torch.no_grad():
        for norm, fc in zip(br.norms, br.fcs):
            norm.weight.fill_(1.0)
            norm.bias.zero_()
            fc.weight.copy_(torch.tensor([[3.0, 0.0]]))
            fc.bias.zero_()
    x = torch.zeros(1, 2, 14, 14)
    x[:, 0, :, :7] = 1.0  # left half bright
    x[:, 0, :, 7:] = -1.0  # right half dark
    # LN over two channels (v, 0) gives (sign v, -sign v) up to eps: left logit 3, right -3.
    assert br(x).item() == pytest.approx(3.0, abs=1e-3)
    x = x.flip(-1)  # occluder on the other side: still the visible eye's logit
    assert br(x).item() == pytest.approx(3.0, abs=1e-3)


@pytest.mark.parametrize('preset,n_regions', [('1', 1), ('2', 2), ('3', 3), ('5', 5), ('7', 7), ('9', 9)])
def test_presets_cover_the_21_aus(preset, n_regions):
    br = _branch(in_channels=8, regions=preset).eval()
    assert len(br.fcs) == n_regions
    x = torch.randn(3, 8, 14, 14)
    out = br(x)
    assert out.shape == (3, 21)
    # Batch of one: no squeeze() of the batch dimension, same rows as in the batch.
    torch.testing.assert_close(br(x[1:2]), out[1:2])


def test_tokens_equal_maps():
    br = _branch(in_channels=8).eval()
    x = torch.randn(2, 8, 14, 14)
    tokens = x.flatten(2).transpose(1, 2)  # (B, N, C), row-major
    torch.testing.assert_close(br(tokens), br(x))


def test_slices_scale_to_other_grids():
    """At 28x28 every bound doubles: the means of a 2x nearest-upsampled map are unchanged."""
    br14, br28 = _branch(), _branch(grid_size=28)
    x14 = torch.randn(1, 1, 14, 14)
    x28 = F.interpolate(x14, scale_factor=2, mode='nearest')
    for a, b in zip(br14.region_features(x14), br28.region_features(x28)):
        torch.testing.assert_close(a, b)
    assert br28.slices[3] == (slice(10, 24), slice(0, 12))  # l_cheek [5:12, :6] doubled


def test_invalid_slices_are_one_clear_error():
    with pytest.raises(ValueError, match=r"region 'brow'.*empty or outside the 2x2 grid"):
        _branch(grid_size=2)
    bad = [dict(name='chin', rows=(10, 20), cols=(None, None), aus=(1,))]
    with pytest.raises(ValueError, match=r"region 'chin': rows slice \[10:20\].*14x14"):
        _branch(regions=bad, au_names=['AU1'])
    with pytest.raises(ValueError, match='wrong size|expects'):
        _branch()(torch.zeros(1, 1, 7, 7))


def test_vocabulary_errors():
    with pytest.raises(ValueError, match=r"\['AU43'\] are predicted by no region"):
        _branch(au_names=list(RAFAU_21) + ['AU43'])
    regs = [
        dict(name='a', rows=(None, 7), cols=(None, 7), aus=(1, 2)),
        dict(name='b', rows=(None, 7), cols=(7, None), aus=(1,)),
    ]
    with pytest.raises(ValueError, match='same AUs'):
        _branch(regions=regs, symmetric_pairs=[('a', 'b')], au_names=['AU1', 'AU2'])
    with pytest.raises(ValueError, match='more than one region'):
        _branch(regions=regs, au_names=['AU1', 'AU2'])
    with pytest.raises(KeyError, match='no region preset'):
        _branch(regions='4')
