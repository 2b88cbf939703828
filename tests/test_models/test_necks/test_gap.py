"""GlobalAveragePooling on 4-D maps, 3-D tokens and 2-D vectors."""

import pytest
import torch

from ferlab.registry import NECKS


def test_pools_4d_3d_2d():
    gap = NECKS.build(dict(type='GlobalAveragePooling'))
    x4 = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    x3 = torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])  # (B=1, N=2, C=2)
    x2 = torch.randn(2, 7)
    out4, out3, out2 = gap((x4, x3, x2))
    assert out4.shape == (2, 3)
    assert out4[0].tolist() == [1.5, 5.5, 9.5]  # means of [0..3], [4..7], [8..11]
    assert out3.tolist() == [[2.0, 4.0]]
    assert out2 is x2


def test_returns_tuple_of_same_length():
    gap = NECKS.build(dict(type='GlobalAveragePooling'))
    out = gap((torch.randn(1, 4, 3, 3),))
    assert isinstance(out, tuple) and len(out) == 1


def test_bad_rank():
    gap = NECKS.build(dict(type='GlobalAveragePooling'))
    with pytest.raises(ValueError, match='2-, 3- or 4-D'):
        gap((torch.randn(1, 2, 3, 4, 5),))
