"""The three ARBEx losses (Wasi et al., 2023, Sec. 3.5, Eq. 20-23).

* :class:`DistributionNLLLoss`: Eq. 20, negative log-likelihood of a
  *probability* distribution (the corrected ``L_final``), not of logits.
* :class:`AnchorLoss`: Eq. 21, keeps the anchors apart, normalised and bounded.
* :class:`AnchorCenterLoss`: Eq. 22, pulls each embedding to the closest
  anchor of its class (``K`` anchors per class; :class:`CenterLoss` has one
  center per class and owns it, so it does not fit).

Eq. 23 (``λ_cls L_cls + λ_a L_a + λ_c L_c``) is formed by
:class:`~ferlab.models.heads.ReliabilityBalancingHead`, which owns the anchors.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ferlab.registry import MODELS


def _check_hard_labels(labels: torch.Tensor, batch: int, num_classes: int, name: str) -> torch.Tensor:
    if labels.dim() != 1 or labels.numel() != batch:
        raise ValueError(f'{name}: need (B,) = ({batch},) labels, got {tuple(labels.shape)}')
    labels = labels.long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f'{name}: labels must lie in 0..{num_classes - 1}, got {labels.tolist()}')
    return labels


@MODELS.register_module()
class DistributionNLLLoss(nn.Module):
    """Eq. 20: ``L_cls = −Σ_i Σ_j q_ij log L_ij`` on probabilities ``L`` ``(B, N)``.

    ``q_i`` is the one-hot label (the paper's ``y``), a given soft target, or
    the label smoothed with ε: ``q_i = (1 − ε)·onehot(y_i) + ε/N``. Table 3 of
    the paper reports "smoothing terms" 0-50 without a definition; ferlab reads
    a term ``s`` as the percentage ``ε = s / 100`` of probability mass spread
    uniformly (the paper's choice 11 is ``label_smoothing=0.11``).

    ``reduction='mean'`` averages like :func:`torch.nn.functional.nll_loss`:
    ``Σ_i w_{y_i} ℓ_i / Σ_i w_{y_i}`` with class weights ``w`` (the public
    code's ``NLLLoss(weight=...)``; ``w = 1`` by default, the paper), and
    ``Σ_i ℓ_i / B`` for soft targets. Probabilities are clamped at ``eps``
    before the log so a zero entry gives a finite loss.

    Args:
        label_smoothing: ε in [0, 1).
        class_weight: Optional per-class weights ``(N,)``.
        reduction: ``'mean'`` or ``'sum'``.
        eps: Lower clamp of the probabilities.

    Shapes:
        probs: ``(B, N)``, rows summing to 1. target: ``(B,)`` long or ``(B, N)`` float.
        Returns a scalar.
    """

    def __init__(
        self,
        label_smoothing: float = 0.0,
        class_weight: Sequence[float] | None = None,
        reduction: str = 'mean',
        eps: float = 1e-12,
    ):
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f'label_smoothing must be in [0, 1), got {label_smoothing}')
        if reduction not in ('mean', 'sum'):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.label_smoothing = label_smoothing
        self.reduction = reduction
        self.eps = eps
        if class_weight is not None:
            self.register_buffer('class_weight', torch.tensor(list(class_weight), dtype=torch.float32))
        else:
            self.class_weight = None

    def forward(self, probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if probs.dim() != 2:
            raise ValueError(f'DistributionNLLLoss: need (B, N) probabilities, got {tuple(probs.shape)}')
        batch, num_classes = probs.shape
        if self.class_weight is not None and self.class_weight.numel() != num_classes:
            raise ValueError(
                f'DistributionNLLLoss: class_weight has {self.class_weight.numel()} entries, '
                f'the distribution {num_classes} classes'
            )
        hard = target.dim() == 1
        if hard:
            labels = _check_hard_labels(target.to(probs.device), batch, num_classes, 'DistributionNLLLoss')
            q = F.one_hot(labels, num_classes).to(probs.dtype)
        else:
            if target.shape != probs.shape:
                raise ValueError(
                    f'DistributionNLLLoss: soft targets {tuple(target.shape)} differ from {tuple(probs.shape)}'
                )
            q = target.to(probs)
        if self.label_smoothing > 0:
            q = q * (1 - self.label_smoothing) + self.label_smoothing / num_classes
        per_class = -q * probs.clamp_min(self.eps).log()
        if self.class_weight is not None:
            per_class = per_class * self.class_weight.to(probs)
        loss = per_class.sum(dim=1)
        if self.reduction == 'sum':
            return loss.sum()
        if hard and self.class_weight is not None:
            return loss.sum() / self.class_weight.to(probs)[labels].sum().clamp_min(self.eps)
        return loss.sum() / max(batch, 1)


@MODELS.register_module()
class AnchorLoss(nn.Module):
    """Eq. 21, normalised and bounded: keep the ``N·K`` anchors apart.

    As printed, ``L_a = −Σ_{ij} Σ_{kl} ||a^{ij} − a^{kl}||²`` is unbounded
    below (moving all anchors away from each other lowers it without limit,
    and the center loss then drags the embeddings along). The paper says only
    that the loss "is normalized". ferlab's default, ``normalize='bounded'``:

    ``L_a = −(1/P) Σ_{(ij) ≠ (kl)} (1 − exp(−||a^{ij} − a^{kl}||² / D))``

    over the ``P = NK(NK − 1)`` ordered pairs of distinct anchors (all pairs,
    as the four sums of Eq. 21; identical pairs contribute 0 to Eq. 21
    anyway), with ``D`` the embedding width: ``L_a ∈ (−1, 0]``, ``0`` when all
    anchors coincide, ``→ −1`` when every pair is far apart on the scale of
    ``D``. Its gradient is largest for close anchors and vanishes far apart.

    ``normalize='mean'``: ``−(1/P) Σ ||Δ||² / D`` (normalised, unbounded).
    ``normalize='public'``: the public code's form, ``−Σ_{i,k} Σ_j ||a^{ij} −
    a^{kj}||² / (√D · K²)``: only pairs of *different classes* with the *same
    slot* ``j`` (the anchors are flattened to ``(N, K·D)`` before the pairwise
    distance), scaled by ``√D K²``, unbounded.

    Args:
        normalize: ``'bounded'`` (default), ``'mean'`` or ``'public'``.

    Shapes:
        anchors: ``(N, K, D)``. Returns a scalar (``0`` for fewer than two anchors).
    """

    def __init__(self, normalize: str = 'bounded'):
        super().__init__()
        if normalize not in ('bounded', 'mean', 'public'):
            raise ValueError(f"normalize must be 'bounded', 'mean' or 'public', got {normalize!r}")
        self.normalize = normalize

    def forward(self, anchors: torch.Tensor) -> torch.Tensor:
        if anchors.dim() != 3:
            raise ValueError(f'AnchorLoss: need anchors of shape (N, K, D), got {tuple(anchors.shape)}')
        num_classes, k, dim = anchors.shape
        if self.normalize == 'public':
            flat = anchors.reshape(num_classes, k * dim)
            sq = (flat.unsqueeze(0) - flat.unsqueeze(1)).pow(2).sum()
            return -sq / (dim**0.5) / max(k * k, 1)
        flat = anchors.reshape(num_classes * k, dim)
        n = flat.size(0)
        if n < 2:
            return anchors.sum() * 0.0
        sq = (flat.unsqueeze(0) - flat.unsqueeze(1)).pow(2).sum(-1) / dim  # (NK, NK), diagonal 0
        pairs = n * (n - 1)
        if self.normalize == 'mean':
            return -sq.sum() / pairs
        return -(1.0 - torch.exp(-sq)).sum() / pairs


@MODELS.register_module()
class AnchorCenterLoss(nn.Module):
    """Eq. 22: ``L_c = min_k ||e_i − a^{y_i k}||²``, averaged over the batch.

    Only the closest of the ``K`` anchors of the sample's class receives the
    gradient (and the embedding, towards it). ``normalize`` scales the squared
    distance: ``'dim'`` (default) divides by the width ``D`` so that Eq. 23's
    default ``λ_c = 1`` keeps the term at the scale of the NLL whatever ``D``
    (the printed sum over a 768-d embedding is of order 10²-10³ at
    initialisation; Eq. 23's λ's are there "to keep the loss functions in
    same scale"); ``'none'`` is Eq. 22 as printed. ``'public'`` is the public
    code's form: the *unsquared* distance divided by ``√D`` and weighted per
    sample by the primary confidence ``C(l)`` (pass ``weight``).

    Args:
        normalize: ``'dim'`` (default), ``'none'`` or ``'public'``.

    Shapes:
        embeddings: ``(B, D)``. anchors: ``(N, K, D)``. labels: ``(B,)``.
        weight: optional per-sample weights ``(B,)``. Returns a scalar.
    """

    def __init__(self, normalize: str = 'dim', eps: float = 1e-12):
        super().__init__()
        if normalize not in ('dim', 'none', 'public'):
            raise ValueError(f"normalize must be 'dim', 'none' or 'public', got {normalize!r}")
        self.normalize = normalize
        self.eps = eps

    def forward(
        self,
        embeddings: torch.Tensor,
        anchors: torch.Tensor,
        labels: torch.Tensor,
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if anchors.dim() != 3 or embeddings.dim() != 2 or embeddings.size(1) != anchors.size(2):
            raise ValueError(
                'AnchorCenterLoss: need embeddings (B, D) and anchors (N, K, D), got '
                f'{tuple(embeddings.shape)} and {tuple(anchors.shape)}'
            )
        batch, dim = embeddings.shape
        labels = _check_hard_labels(labels.to(embeddings.device), batch, anchors.size(0), 'AnchorCenterLoss')
        own = anchors.to(embeddings.dtype)[labels]  # (B, K, D)
        sq = (embeddings.unsqueeze(1) - own).pow(2).sum(-1)  # (B, K)
        closest = sq.min(dim=1).values  # (B,)
        if self.normalize == 'dim':
            closest = closest / dim
        elif self.normalize == 'public':
            closest = (closest + self.eps).sqrt() / dim**0.5
        if weight is not None:
            closest = closest * weight.to(closest).reshape(-1)
        return closest.sum() / max(batch, 1)
