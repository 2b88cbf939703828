"""Wing loss for landmark regression (Feng et al., "Wing Loss for Robust Facial Landmark
Localisation with Convolutional Neural Networks", CVPR 2018, Eq. 5) and its L1 special case."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ferlab.registry import MODELS

_REDUCTIONS = ('sum_coords', 'mean')


def _reduce(per_coord: torch.Tensor, reduction: str) -> torch.Tensor:
    """``(B, 2L)`` per-coordinate losses -> scalar."""
    if reduction == 'sum_coords':
        return per_coord.sum(dim=1).mean()
    return per_coord.mean()


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if pred.shape != target.shape:
        raise ValueError(f'landmark loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ')
    return pred.reshape(pred.shape[0], -1), target.reshape(target.shape[0], -1)


@MODELS.register_module()
class WingLoss(nn.Module):
    """Wing loss, Eq. 5 of Feng et al. (2018)::

        wing(x) = w ln(1 + |x| / eps)   if |x| < w
                  |x| - C               otherwise,   C = w - w ln(1 + w / eps)

    applied to every coordinate difference ``x = s_i - s'_i``. ``C`` joins the two pieces
    continuously at ``|x| = w``. Small and medium errors get a log-shaped loss whose gradient
    ``w / (eps + |x|)`` grows as the error shrinks (unlike L2 and L1); large errors are L1.
    With ``omega=0`` the loss is exactly L1 (:class:`LandmarkL1Loss`).

    Reduction: the paper's loss of a sample is the sum over its ``2L`` coordinates (Eq. 2,
    ``loss(s, s') = sum_i f(s_i - s'_i)``), averaged over the batch: ``'sum_coords'``
    (default, the paper). ``'mean'`` averages over batch and coordinates, as most public
    implementations do (``2L`` times smaller; same minimiser).

    The paper sets ``w = 10`` and ``eps = 2`` for coordinates in pixels of the network input;
    :class:`~ferlab.models.classifiers.LandmarkRegressor` computes the loss in those units.

    Args:
        omega: ``w``, the width of the non-linear part (>= 0).
        epsilon: ``eps``, the curvature of the non-linear part (> 0).
        reduction: ``'sum_coords'`` (paper) or ``'mean'``.
        loss_weight: Multiplier of the loss.

    Shapes:
        pred, target: ``(B, L, 2)`` or ``(B, 2L)``. Returns a scalar.
    """

    def __init__(self, omega: float = 10.0, epsilon: float = 2.0, reduction: str = 'sum_coords',
                 loss_weight: float = 1.0):  # fmt: skip
        super().__init__()
        if omega < 0 or epsilon <= 0:
            raise ValueError(
                f'WingLoss needs omega >= 0 and epsilon > 0, got omega={omega}, epsilon={epsilon}'
            )
        if reduction not in _REDUCTIONS:
            raise ValueError(f'WingLoss reduction must be one of {_REDUCTIONS}, got {reduction!r}')
        self.omega, self.epsilon = float(omega), float(epsilon)
        self.reduction, self.loss_weight = reduction, float(loss_weight)
        self.C = self.omega - self.omega * math.log1p(self.omega / self.epsilon)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = _check_pair(pred, target)
        x = (pred - target).abs()
        small = self.omega * torch.log1p(x / self.epsilon)
        per_coord = torch.where(x < self.omega, small, x - self.C)
        return self.loss_weight * _reduce(per_coord, self.reduction)

    def extra_repr(self) -> str:
        return f'omega={self.omega}, epsilon={self.epsilon}, reduction={self.reduction!r}'


@MODELS.register_module()
class LandmarkL1Loss(nn.Module):
    """L1 landmark loss ``|s_i - s'_i|`` with :class:`WingLoss`'s reductions (its ``omega = 0`` case).

    Args:
        reduction: ``'sum_coords'`` (sum over the ``2L`` coordinates, mean over the batch) or
            ``'mean'``.
        loss_weight: Multiplier of the loss.

    Shapes:
        pred, target: ``(B, L, 2)`` or ``(B, 2L)``. Returns a scalar.
    """

    def __init__(self, reduction: str = 'sum_coords', loss_weight: float = 1.0):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f'LandmarkL1Loss reduction must be one of {_REDUCTIONS}, got {reduction!r}')
        self.reduction, self.loss_weight = reduction, float(loss_weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred, target = _check_pair(pred, target)
        return self.loss_weight * _reduce((pred - target).abs(), self.reduction)
