"""MVT's generator losses: Eq. 3 probability variance, Eq. 4 mask area."""

import pytest
import torch

from ferlab.registry import MODELS


def test_variance_loss_uses_k_minus_1():
    logits = torch.log(torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]]))
    p = torch.tensor([0.7, 0.1, 0.1, 0.1])
    expected_first = ((p - 0.25) ** 2).sum() / 3  # K - 1 = 3
    loss = MODELS.build(dict(type='ProbVarianceLoss'))(logits)
    torch.testing.assert_close(loss, expected_first / 2)
    pop = MODELS.build(dict(type='ProbVarianceLoss', ddof=0))(logits)
    torch.testing.assert_close(pop, ((p - 0.25) ** 2).sum() / 4 / 2)
    with pytest.raises(ValueError):
        MODELS.build(dict(type='ProbVarianceLoss'))(torch.zeros(3))


def test_mask_area_loss():
    mp = torch.tensor([[0.1, 0.3], [0.0, 0.0]])
    loss = MODELS.build(dict(type='MaskAreaLoss', ratio=0.15))(mp)
    torch.testing.assert_close(loss, torch.tensor((0.05 + 0.15) / 2))
    with pytest.raises(ValueError, match='mask ratio'):
        MODELS.build(dict(type='MaskAreaLoss', ratio=-0.1))
