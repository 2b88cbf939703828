"""One forward over a mixed FER + AU batch; CE where an expression label exists, BCE where AUs are known."""

from __future__ import annotations

import torch

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample
from ferlab.utils.errors import FerlabInputError

from .fer_classifier import FERClassifier


class JointFERAUError(FerlabInputError, ValueError):
    """The batch's AU targets do not match the model's AU output."""


@MODELS.register_module()
class JointFERAUClassifier(FERClassifier):
    """AU-ViT's joint classifier: a trunk with an AU output, an expression head, Eq. 3.

    The backbone (e.g. ``IRViTAU``, ``ViTAU``) returns ``(expr_feat (B, D),
    au_logits (B, A))``; the head (e.g. ``LinearClsHead``) maps ``expr_feat``
    to ``expr_logits (B, C)``. A training batch mixes samples of several sources
    (:class:`~ferlab.datasets.MultiSourceDataset`), each with the labels it
    has: ``gt_label`` (``-1`` = none) and ``gt_aus`` / ``gt_au_mask`` ``(A,)``
    in the order of the model's AU output. The loss (Mao et al., Sec. III
    "Loss Function", Eq. 3) is

    ``L = α · CE(expr_logits[E], y[E]) + β · BCE_masked(au_logits, gt_aus, gt_au_mask)``

    with ``E`` the samples with an expression label (the head's loss module,
    its mean over ``E``) and the BCE over known AU entries only
    (:class:`~ferlab.models.losses.MaskedBCEWithLogitsLoss`); the expression
    outputs of AU-only images and the AU outputs of samples without AU labels
    get no loss, as in the public code. A batch without any expression label
    (or without any known AU) gives that term an exact 0 with zero gradient.

    With ``with_au=False`` the backbone is an ordinary FER backbone and only the
    masked CE is trained: the Table I baseline, two FER sets jointly through
    their expression labels.

    Args:
        backbone: Trunk config; returns ``(expr_feat, au_logits)`` when ``with_au``.
        head: Expression head config (its ``loss_module`` is the CE).
        au_loss: AU loss config (default ``MaskedBCEWithLogitsLoss``; set
            ``pos_weight`` there).
        w_fer: α, the weight of the expression loss (paper default 1).
        w_au: β, the weight of the AU loss (paper default 1).
        with_au: Whether the backbone has an AU output.
        neck, data_preprocessor, init_cfg, train_cfg: As :class:`FERClassifier`.

    ``forward(inputs, data_samples, mode)``:
        * ``'tensor'``: ``(expr_logits (B, C), au_logits (B, A))``
          (``expr_logits`` only without ``with_au``).
        * ``'loss'``: ``dict(loss_fer, loss_au, data_samples)`` (``loss_au`` with ``with_au``).
        * ``'predict'``: samples with ``pred_score`` ``(C,)``, ``pred_label``
          ``(1,)`` and, with ``with_au``, ``pred_au_score`` ``(A,)`` = sigmoid of
          the AU logits (also as ``pred_au``, the field the inferencer reads).
    """

    def __init__(
        self,
        backbone: dict,
        head: dict,
        au_loss: dict | None = None,
        w_fer: float = 1.0,
        w_au: float = 1.0,
        with_au: bool = True,
        neck: dict | None = None,
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
        train_cfg: dict | None = None,
    ):
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
            train_cfg=train_cfg,
        )
        self.with_au = bool(with_au)
        self.au_loss = MODELS.build(au_loss or dict(type='MaskedBCEWithLogitsLoss')) if with_au else None
        self.w_fer = float(w_fer)
        self.w_au = float(w_au)

    # ----------------------------------------------------------------- forward
    def extract_feat(self, inputs: torch.Tensor):
        """``((expr_feat,), au_logits)``; ``au_logits`` is ``None`` without ``with_au``."""
        out = self.backbone(inputs)
        if self.with_au:
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise TypeError(
                    f'{type(self.backbone).__name__} must return (expr_feat, au_logits) for '
                    f'JointFERAUClassifier (with_au=True); got {type(out).__name__}'
                    + (f' of {len(out)}' if isinstance(out, (tuple, list)) else '')
                )
            feats, au_logits = (out[0],), out[1]
        else:
            feats, au_logits = (tuple(out) if isinstance(out, (tuple, list)) else (out,)), None
        if self.with_neck:
            feats = self.neck(feats)
            feats = tuple(feats) if isinstance(feats, (tuple, list)) else (feats,)
        return feats, au_logits

    def forward(
        self, inputs: torch.Tensor, data_samples: list[FERDataSample] | None = None, mode: str = 'tensor'
    ):
        if mode == 'tensor':
            feats, au_logits = self.extract_feat(inputs)
            expr_logits = self.head(feats)
            return (expr_logits, au_logits) if self.with_au else expr_logits
        return super().forward(inputs, data_samples, mode)

    # -------------------------------------------------------------------- loss
    @staticmethod
    def expression_targets(data_samples: list[FERDataSample], device) -> torch.Tensor:
        """``(B,)`` long expression labels, -1 where a sample has none."""
        labels = [s.gt_label.reshape(-1)[:1] if 'gt_label' in s else torch.tensor([-1]) for s in data_samples]
        return torch.cat(labels).long().to(device)

    @staticmethod
    def au_targets(
        data_samples: list[FERDataSample], num_aus: int, device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, A)`` AU targets and masks; a sample without ``gt_aus`` has mask 0."""
        targets = torch.zeros(len(data_samples), num_aus)
        masks = torch.zeros(len(data_samples), num_aus)
        for i, s in enumerate(data_samples):
            if 'gt_aus' not in s:
                continue
            au = s.gt_aus.reshape(-1).float()
            if au.numel() != num_aus:
                raise JointFERAUError(
                    f'data sample {i} ({s.metainfo.get("img_path", "")}) has {au.numel()} AU targets, '
                    f"the model outputs {num_aus} AUs; build the dataset with the model's au_names"
                )
            targets[i] = au
            masks[i] = s.gt_au_mask.reshape(-1).float() if 'gt_au_mask' in s else 1.0
        return targets.to(device), masks.to(device)

    def loss(self, inputs: torch.Tensor, data_samples: list[FERDataSample]) -> dict:
        feats, au_logits = self.extract_feat(inputs)
        expr_logits = self.head(feats)
        labels = self.expression_targets(data_samples, expr_logits.device)
        valid = labels >= 0
        if valid.any():
            loss_fer = self.head.loss_module(expr_logits[valid], labels[valid])
        else:  # no expression label in the batch: an exact 0 that keeps the graph
            loss_fer = expr_logits.sum() * 0.0
        losses = dict(loss_fer=self.w_fer * loss_fer)
        self.head.set_train_scores(expr_logits, data_samples)
        if self.with_au:
            targets, masks = self.au_targets(data_samples, au_logits.shape[1], au_logits.device)
            losses['loss_au'] = self.w_au * self.au_loss(au_logits, targets, masks)
        losses[self.SAMPLES_KEY] = data_samples
        return losses

    # ----------------------------------------------------------------- predict
    def predict(
        self, inputs: torch.Tensor, data_samples: list[FERDataSample] | None = None
    ) -> list[FERDataSample]:
        feats, au_logits = self.extract_feat(inputs)
        samples = self.head.scores_to_samples(self.head(feats), data_samples)
        if self.with_au:
            au_scores = torch.sigmoid(au_logits.float()).detach()
            for sample, score in zip(samples, au_scores):
                sample.set_field(score, 'pred_au_score', dtype=torch.Tensor)
                sample.set_field(score, 'pred_au', dtype=torch.Tensor)
        return samples
