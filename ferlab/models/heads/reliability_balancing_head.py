"""ARBEx reliability balancing (Wasi et al., 2023, Sec. 3.3-3.5, Eq. 9-23) as a head on any embedding."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample

from .cls_head import ClsHead


def confidence(probs: torch.Tensor) -> torch.Tensor:
    """Eq. 10-11: ``C(p) = 1 − H(p)`` with the entropy normalised by ``log N``.

    ``H(p) = −Σ_i p_i log p_i / log N`` lies in ``[0, 1]``, so ``C(p) = 1`` for
    a one-hot ``p`` and ``0`` for the uniform one, as Sec. 3.3 states. The
    printed Eq. 11 divides by ``N`` instead, which gives ``H(uniform) = log N / N``
    (e.g. 0.26 for N = 8), not 1; the public code divides by ``log N``, as here.
    ``0 · log 0`` is taken as 0 (``torch.special.xlogy``). ``N = 1`` gives ``C = 1``.

    Args:
        probs: ``(..., N)`` distributions.

    Returns:
        ``(...)`` confidences in ``[0, 1]``.
    """
    n = probs.size(-1)
    if n < 2:
        return torch.ones(probs.shape[:-1], dtype=probs.dtype, device=probs.device)
    entropy = -torch.special.xlogy(probs, probs).sum(-1) / math.log(n)
    return (1.0 - entropy).clamp(0.0, 1.0)


def confidence_mix(
    p: torch.Tensor, q: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 18 / 19: ``(C(p) p + C(q) q) / (C(p) + C(q))`` per row.

    ``eps`` is added to both confidences so two uniform inputs (both ``C = 0``)
    give their plain mean instead of ``0/0``; otherwise its effect is below
    ``eps / (C(p) + C(q))``.

    Args:
        p, q: ``(B, N)`` distributions.

    Returns:
        The mixture ``(B, N)`` and the confidences ``C(p)``, ``C(q)``, each ``(B,)``.
    """
    cp, cq = confidence(p), confidence(q)
    wp, wq = cp + eps, cq + eps
    mix = (wp.unsqueeze(-1) * p + wq.unsqueeze(-1) * q) / (wp + wq).unsqueeze(-1)
    return mix, cp, cq


class PrimaryMLP(nn.Sequential):
    """``f`` of Eq. 9: embedding ``(B, D)`` → logits ``(B, N)``.

    ``'paper'`` (Sec. 4.3 and Fig. 2): a linear reduction ``D → 128``, then two
    hidden layers of 64, each ``Linear → ReLU → Dropout → BatchNorm``, and the
    last ``Linear 64 → N`` with nothing after it. ``'public'`` (takihasan/ARBEx
    ``ClassificationHead``): hidden layers ``D/2, D/4, D/8`` (768 → 384 → 192 →
    96), each ``Linear → ReLU → BatchNorm → Dropout``, then ``Linear → N``.
    ``hidden_channels`` overrides the hidden widths of either form. The
    BatchNorms use running statistics in eval mode (batch-invariant).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        reduction: str = 'paper',
        hidden_channels: Sequence[int] | None = None,
        dropout: float = 0.5,
    ):
        if reduction not in ('paper', 'public'):
            raise ValueError(f"reduction must be 'paper' or 'public', got {reduction!r}")
        layers: list[nn.Module] = []
        width = in_channels
        if reduction == 'paper':
            layers.append(nn.Linear(in_channels, 128))
            width = 128
            hidden = list(hidden_channels) if hidden_channels is not None else [64, 64]
        else:
            hidden = (
                list(hidden_channels)
                if hidden_channels is not None
                else [max(in_channels // 2, 1), max(in_channels // 4, 1), max(in_channels // 8, 1)]
            )
        for h in hidden:
            if reduction == 'paper':
                layers += [nn.Linear(width, h), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.BatchNorm1d(h)]
            else:
                layers += [nn.Linear(width, h), nn.ReLU(inplace=True), nn.BatchNorm1d(h), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)


class ChunkSelfAttention(BaseModule):
    """Eq. 15-17 within one sample: ``e`` ``(B, D)`` → ``t_a`` ``(B, N)``.

    The embedding is cut into ``T`` tokens of ``D/T`` channels (plus a learned
    position embedding), multi-head self-attention (q = k = v, Eq. 15-16,
    ``nn.MultiheadAttention`` with ``batch_first=True``) mixes the tokens of
    the *same* sample, and ``W_out`` (``Linear(D, N)`` on the flattened
    tokens) followed by a softmax gives ``t_a`` (Eq. 17). Attention never
    crosses samples, so a prediction does not depend on its batch-mates.

    Args:
        in_channels: ``D``; must be divisible by ``num_tokens``.
        num_classes: ``N``.
        num_tokens: ``T``.
        num_heads: Heads; must divide ``D/T``.
    """

    def __init__(self, in_channels: int, num_classes: int, num_tokens: int = 8, num_heads: int = 4):
        super().__init__()
        if num_tokens < 1 or in_channels % num_tokens:
            raise ValueError(f'attn_tokens={num_tokens} must divide the embedding width {in_channels}')
        token_dim = in_channels // num_tokens
        if num_heads < 1 or token_dim % num_heads:
            raise ValueError(
                f'attn_heads={num_heads} must divide the token width {token_dim} (= D / attn_tokens)'
            )
        self.num_tokens = num_tokens
        self.token_dim = token_dim
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, token_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.attn = nn.MultiheadAttention(token_dim, num_heads, batch_first=True)
        self.out = nn.Linear(in_channels, num_classes)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        tokens = e.reshape(e.size(0), self.num_tokens, self.token_dim) + self.pos_embed
        mixed, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return torch.softmax(self.out(mixed.reshape(e.size(0), -1)), dim=-1)


@MODELS.register_module()
class ReliabilityBalancingHead(ClsHead):
    """ARBEx reliability balancing on an embedding ``e`` ``(B, D)`` of any trunk.

    Forward (per sample, never across the batch):

    * primary distribution ``l = softmax(f(e))`` (Eq. 9, :class:`PrimaryMLP`);
    * anchor correction: ``K`` learnable anchors per class ``a^{ij}``
      ``(N, K, D)`` in embedding space, initialised ``N(0, anchor_std²)``
      (the public code's zeros make the anchor loss' gradient exactly zero),
      distance ``d = sqrt(Σ (a − e)² + ε)`` (Eq. 12), similarity
      ``s = softmax(−d/δ)`` over all ``N·K`` anchors (Eq. 13; δ is its own
      hyper-parameter, the public code silently uses the temperature) and
      ``t_g = Σ_j s^{ij}`` per class (Eq. 14). ``K = 0`` disables anchors:
      ``t_g`` is the uniform distribution (``C(t_g) = 0``, so Eq. 18 gives
      ``t = t_a``) and the anchor and center losses are not computed;
    * attentive correction ``t_a`` (Eq. 15-17, :class:`ChunkSelfAttention`);
    * ``t = (c_g t_g + c_a t_a)/(c_g + c_a)`` (Eq. 18) and
      ``L_final = (c_l l + c_t t)/(c_l + c_t)`` (Eq. 19), with the confidences
      ``C = 1 − H/log N`` (:func:`confidence`).

    ``correction_ramp_iters`` (public-code option, default ``None`` = off,
    the paper): ``L ← (1 − τ) l + τ L_final`` and the anchor/center losses
    times τ, with ``τ = min(step / correction_ramp_iters, 1)`` and ``step``
    the number of training forwards so far (a buffer, saved in checkpoints;
    the public code uses ``τ = iter / total iters``, also at evaluation).

    Loss (Eq. 23): ``λ_cls L_cls + λ_a L_a + λ_c L_c`` logged as ``loss_cls``,
    ``loss_anchor``, ``loss_center``: NLL of ``L_final`` (Eq. 20,
    :class:`DistributionNLLLoss`: label smoothing, class weights), the
    anchor-separation loss (Eq. 21, :class:`AnchorLoss`) and the closest-anchor
    center loss (Eq. 22, :class:`AnchorCenterLoss`); λ = 1 by default.

    :meth:`forward` returns ``log L_final`` ``(B, N)``, so a softmax of it (what
    export and inference apply to logits) gives ``L_final`` back. :meth:`predict`
    sets ``pred_score = L_final``, ``pred_label`` and, for analysis,
    ``primary_score`` (``l``), ``anchor_score`` (``t_g``), ``attn_score``
    (``t_a``), each ``(N,)``, and ``confidences`` ``(4,)``:
    ``C(l), C(t_g), C(t_a), C(L_final)``.

    Args:
        num_classes: ``N``.
        in_channels: ``D``, the embedding width (the neck's output).
        num_anchors: ``K`` per class (paper's best 8-10; ``0`` = no anchors).
        delta: δ of Eq. 13.
        anchor_std: Standard deviation of the random anchor initialisation.
        reduction: Primary MLP form, ``'paper'`` or ``'public'``.
        hidden_channels: Hidden widths of the primary MLP (overrides the form's).
        dropout: Dropout of the primary MLP (paper 0.5).
        attn_tokens: ``T``, tokens the embedding is cut into for self-attention.
        attn_heads: Heads of the self-attention.
        lambda_cls, lambda_anchor, lambda_center: λ's of Eq. 23.
        loss: Config of the Eq. 20 loss (default :class:`DistributionNLLLoss`).
        anchor_loss: Config of the Eq. 21 loss (default :class:`AnchorLoss`).
        center_loss: Config of the Eq. 22 loss (default :class:`AnchorCenterLoss`).
        correction_ramp_iters: Public-code linear ramp-in of the correction, or ``None``.
        use_soft_labels: Train on ``gt_score`` when every sample has one.

    Shapes:
        feats: tuple whose last entry is ``(B, D)``. Output ``(B, N)``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 768,
        num_anchors: int = 10,
        delta: float = 1.0,
        anchor_std: float = 1.0,
        reduction: str = 'paper',
        hidden_channels: Sequence[int] | None = None,
        dropout: float = 0.5,
        attn_tokens: int = 8,
        attn_heads: int = 4,
        lambda_cls: float = 1.0,
        lambda_anchor: float = 1.0,
        lambda_center: float = 1.0,
        loss: dict | None = None,
        anchor_loss: dict | None = None,
        center_loss: dict | None = None,
        correction_ramp_iters: int | None = None,
        use_soft_labels: bool = True,
        init_cfg: dict | None = None,
    ):
        super().__init__(
            loss=loss or dict(type='DistributionNLLLoss'), use_soft_labels=use_soft_labels, init_cfg=init_cfg
        )
        if num_classes < 2:
            raise ValueError(f'num_classes={num_classes} must be at least 2')
        if in_channels < 1:
            raise ValueError(f'in_channels={in_channels} must be positive')
        if num_anchors < 0:
            raise ValueError(f'num_anchors={num_anchors} must be >= 0 (0 = no anchors)')
        if delta <= 0:
            raise ValueError(f'delta={delta} must be positive')
        if correction_ramp_iters is not None and correction_ramp_iters < 1:
            raise ValueError(f'correction_ramp_iters={correction_ramp_iters} must be >= 1 or None')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.num_anchors = num_anchors
        self.delta = float(delta)
        self.lambda_cls = lambda_cls
        self.lambda_anchor = lambda_anchor
        self.lambda_center = lambda_center
        self.correction_ramp_iters = correction_ramp_iters
        self.primary = PrimaryMLP(in_channels, num_classes, reduction, hidden_channels, dropout)
        self.attention = ChunkSelfAttention(in_channels, num_classes, attn_tokens, attn_heads)
        if num_anchors > 0:
            self.anchors = nn.Parameter(torch.randn(num_classes, num_anchors, in_channels) * anchor_std)
            self.anchor_loss = MODELS.build(anchor_loss or dict(type='AnchorLoss'))
            self.center_loss = MODELS.build(center_loss or dict(type='AnchorCenterLoss'))
        else:
            self.anchors = None
            self.anchor_loss = self.center_loss = None
        self.register_buffer('ramp_step', torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------ forward pieces
    def pre_logits(self, feats) -> torch.Tensor:
        """The embedding ``e`` ``(B, D)``: the last entry of the neck's tuple."""
        e = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if e.dim() != 2 or e.size(1) != self.in_channels:
            raise ValueError(
                f'ReliabilityBalancingHead expects a (B, {self.in_channels}) embedding (a pooling neck before '
                f'it; in_channels must equal its width), got {tuple(e.shape)}'
            )
        return e

    def anchor_distances(self, e: torch.Tensor) -> torch.Tensor:
        """Eq. 12: ``(B, D)`` → ``(B, N, K)`` Euclidean distances to every anchor."""
        diff = e[:, None, None, :] - self.anchors.to(e.dtype)[None]
        return (diff.pow(2).sum(-1) + 1e-12).sqrt()

    def anchor_correction(self, e: torch.Tensor) -> torch.Tensor:
        """Eq. 13-14: ``t_g`` ``(B, N)``; uniform when ``K = 0``."""
        if self.anchors is None:
            return e.new_full((e.size(0), self.num_classes), 1.0 / self.num_classes)
        d = self.anchor_distances(e)
        s = torch.softmax(-d.flatten(1) / self.delta, dim=1).view_as(d)
        return s.sum(-1)

    @property
    def ramp(self) -> float:
        """τ of the public-code ramp (1.0 when the ramp is off)."""
        if self.correction_ramp_iters is None:
            return 1.0
        return min(float(self.ramp_step.item()) / self.correction_ramp_iters, 1.0)

    def distributions(self, feats) -> dict[str, torch.Tensor]:
        """All distributions of Eq. 9-19 for one batch.

        Returns:
            dict with ``embedding`` ``(B, D)``; ``primary`` (``l``), ``anchor`` (``t_g``),
            ``attn`` (``t_a``), ``correction`` (``t``), ``final`` (``L_final``, with the
            ramp applied), each ``(B, N)``; ``confidences`` ``(B, 4)``:
            ``C(l), C(t_g), C(t_a), C(L_final)``.
        """
        e = self.pre_logits(feats)
        e32 = e.float()
        primary = torch.softmax(self.primary(e32), dim=-1)
        t_g = self.anchor_correction(e32)
        t_a = self.attention(e32)
        t, c_g, c_a = confidence_mix(t_g, t_a)
        final, c_l, _ = confidence_mix(primary, t)
        tau = self.ramp
        if tau < 1.0:
            final = (1.0 - tau) * primary + tau * final
        conf = torch.stack([c_l, c_g, c_a, confidence(final)], dim=1)
        return dict(
            embedding=e32, primary=primary, anchor=t_g, attn=t_a, correction=t, final=final, confidences=conf
        )

    def forward(self, feats) -> torch.Tensor:
        """``log L_final`` ``(B, N)`` (a softmax of it is ``L_final``)."""
        return self.distributions(feats)['final'].clamp_min(1e-12).log()

    # ------------------------------------------------------------------ training / inference
    def _hard_labels(self, data_samples: list[FERDataSample], device) -> torch.Tensor:
        if all('gt_label' in s for s in data_samples):
            labels = torch.cat([s.gt_label for s in data_samples]).to(device)
        elif all('gt_score' in s for s in data_samples):
            labels = torch.stack([s.gt_score for s in data_samples]).argmax(dim=1).to(device)
        else:
            raise ValueError(
                'ReliabilityBalancingHead needs gt_label (or gt_score) on every sample of the batch'
            )
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f'labels must lie in 0..{self.num_classes - 1} (head num_classes={self.num_classes} must equal '
                f"the dataset's number of classes); got {labels.tolist()}"
            )
        return labels

    def loss(self, feats, data_samples: list[FERDataSample]) -> dict:
        """Eq. 20-23: ``loss_cls``, ``loss_anchor``, ``loss_center`` (the last two only with anchors).

        Also sets ``train_score`` (``L_final``, detached) on every sample and
        advances the ramp counter.
        """
        out = self.distributions(feats)
        final = out['final']
        labels = self._hard_labels(data_samples, final.device)
        target = self.get_targets(data_samples).to(final.device)
        self.set_train_scores(final.detach().clamp_min(1e-12).log(), data_samples)
        tau = self.ramp
        losses = dict(loss_cls=self.lambda_cls * self.loss_module(final, target))
        if self.anchors is not None:
            weight = (
                out['confidences'][:, 0].detach()
                if getattr(self.center_loss, 'normalize', None) == 'public'
                else None
            )
            losses['loss_anchor'] = self.lambda_anchor * tau * self.anchor_loss(self.anchors)
            losses['loss_center'] = (
                self.lambda_center * tau * self.center_loss(out['embedding'], self.anchors, labels, weight)
            )
        if self.training:
            self.ramp_step += 1
        return losses

    def predict(self, feats, data_samples: list[FERDataSample] | None = None) -> list[FERDataSample]:
        """Samples with ``pred_score`` = ``L_final``, ``pred_label`` and the analysis fields."""
        out = {k: v.detach() for k, v in self.distributions(feats).items()}
        final = out['final']
        if data_samples is None:
            data_samples = [FERDataSample() for _ in range(final.size(0))]
        labels = final.argmax(dim=1, keepdim=True)
        for i, sample in enumerate(data_samples):
            sample.set_pred_score(final[i]).set_pred_label(labels[i])
            sample.set_field(out['primary'][i], 'primary_score', dtype=torch.Tensor)
            sample.set_field(out['anchor'][i], 'anchor_score', dtype=torch.Tensor)
            sample.set_field(out['attn'][i], 'attn_score', dtype=torch.Tensor)
            sample.set_field(out['confidences'][i], 'confidences', dtype=torch.Tensor)
        return data_samples
