"""Stage 2 of MVT: a classifier (DeiT-S in the paper, any ferlab backbone here) on MGN-masked images.

Li et al., "MVT: Mask Vision Transformer for FER in the Wild", ICASSP 2022, Sec. 3.1, Fig. 3.
"""

from __future__ import annotations

import os.path as osp

import torch

from ferlab.models.generators.mask_generator import (
    STAGE2_MASKS,
    apply_keep_mask,
    generator_state_dict,
    stage2_keep_mask,
)
from ferlab.registry import MODELS
from ferlab.utils.checkpoint import load_state_dict_file
from ferlab.utils.errors import InputFileNotFoundError

from .fer_classifier import FERClassifier


@MODELS.register_module()
class MVT(FERClassifier):
    """Masked image → backbone → (neck) → head; the mask comes from a frozen stage-1 MGN.

    ``stage2_mask`` chooses how the generator's patch mask ``M_p`` is applied here
    (stage 1 is unaffected: there G and D always see ``I ⊙ (1 - M_p)``):

    * ``'complement'`` (default, the paper): ``I_M = I_in ⊙ M_p``. In stage 1 G is
      trained to make D's softmax uniform (Eq. 2-3) by hiding ``I ⊙ (1 - M_p)``, so
      a high ``M_p`` marks a patch D needs: the mask "covers the crucial regions
      for each face". Sec. 3.2 then says that at inference "we only need to exploit
      the complement of the generated masks to effectively filter out the
      backgrounds and interference, so as to preserve the crucial areas needed for
      classification", i.e. stage 2 keeps the patches stage 1 hid and drops the rest.
      With ``mean(M_p) ≈ m`` this keeps about ``m`` of the image.
    * ``'same'``: ``I_M = I_in ⊙ (1 - M_p)``, the stage-1 masking reused (Sec. 3.1's
      ``M_f = 1 - M_p`` read literally).
      It hides exactly the regions G found crucial, so the classifier never sees the
      most expressive patches (docs/mvt.md#results: the eye/brow row).

    The paper's classifier is DeiT-S (``ViTBackbone``, CLS token → linear head).
    The masking only depends on the frozen generator, so ``backbone``/``neck``
    may be any ferlab backbone, exactly as in :class:`FERClassifier` (e.g.
    ``dict(type='ResNet', depth=18, num_stages=3, out_indices=(2,))`` with
    ``neck=dict(type='GlobalAveragePooling')``, used by the CPU evidence config
    ``configs/mvt/mvt_r18-48px-cpu_synthfer.py``). The generator's ``img_size``
    must equal the input size.

    The MGN generator is built from ``mgn`` and frozen (``requires_grad=False``,
    always in eval mode), so only the backbone/neck/head train. Its weights come
    from the stage-1 checkpoint ``mgn_checkpoint`` (keys ``generator.*`` of an
    :class:`MGN` checkpoint, ``mgn.*`` of an MVT checkpoint, or a bare generator
    state dict), read by :meth:`init_weights` when training starts, never by the
    constructor: a finished stage-2 checkpoint already holds ``mgn.*`` and tests
    on its own. ``mgn=None`` gives the paper's baseline (Table 3, first row) in
    the same class.

    Relabeling is not part of this class: the loss forward publishes its training
    probabilities like every :class:`FERClassifier` (``outputs.data_samples``), so
    ``RelabelHook`` works with any classifier; the baseline + relabel runs use a plain
    ``FERClassifier`` (``configs/relabel/``).

    Args:
        backbone, neck, head, data_preprocessor, init_cfg, train_cfg: As
            :class:`FERClassifier`.
        mgn: :class:`MaskGenerator` config (same architecture as in stage 1) or ``None``.
        mgn_checkpoint: Stage-1 checkpoint path, needed with ``mgn`` to train (read by
            :meth:`init_weights`); not read to evaluate a stage-2 checkpoint.
        fill: ``'black'`` (paper Fig. 2) or ``'mean'``; see :func:`apply_keep_mask`.
        stage2_mask: ``'complement'`` (keep ``M_p``, paper Sec. 3.2) or ``'same'``
            (keep ``1 - M_p`` as in stage 1); see above. Ignored with ``mgn=None``.

    Shapes: inputs ``(B, 3, H, W)`` → masked inputs ``(B, 3, H, W)`` → logits ``(B, C)``.
    """

    def __init__(
        self,
        backbone: dict,
        head: dict,
        mgn: dict | None = None,
        mgn_checkpoint: str | None = None,
        fill: str = 'black',
        stage2_mask: str = 'complement',
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
        if fill not in ('black', 'mean'):
            raise ValueError(f"fill must be 'black' or 'mean', got {fill!r}")
        self.fill = fill
        if stage2_mask not in STAGE2_MASKS:
            raise ValueError(f'stage2_mask must be one of {STAGE2_MASKS}, got {stage2_mask!r}')
        self.stage2_mask = stage2_mask
        self.mgn_checkpoint = mgn_checkpoint
        if mgn is None:
            self.mgn = None
            return
        mgn = dict(mgn)
        mgn['pretrained'] = None  # the stage-1 checkpoint replaces the ImageNet initialisation
        self.mgn = MODELS.build(mgn)
        # Frozen whatever fills its weights (init_weights or a stage-2 checkpoint).
        self.mgn.requires_grad_(False)
        self.mgn.eval()
        self.mgn.is_init = True  # BaseModule.init_weights must not randomly re-initialise it

    def init_weights(self) -> None:
        """Initialise backbone/neck/head, then load the frozen generator from ``mgn_checkpoint``.

        The Runner calls this when training starts; ``tools/test.py`` and
        ``runner.val()/test()`` do not, and load a stage-2 checkpoint (which holds
        ``mgn.*``) instead, so evaluating a trained MVT never reads the stage-1 file.

        Raises:
            ValueError: ``mgn`` is set but ``mgn_checkpoint`` is not.
            FileNotFoundError: ``mgn_checkpoint`` does not exist ("Run stage 1 first").
            RuntimeError: the file does not hold a generator of the ``mgn`` architecture.
        """
        super().init_weights()
        if self.mgn is None:
            return
        path = self.mgn_checkpoint
        if path is None:
            raise ValueError(
                'MVT got an mgn config but no mgn_checkpoint: train the mask generation network first '
                '(python tools/train.py configs/mvt/mgn_deit-s_<dataset>.py) and set '
                'model.mgn_checkpoint to its checkpoint, or set model.mgn=None for the plain ViT baseline'
            )
        if not osp.isfile(path):
            raise InputFileNotFoundError(
                f'stage-1 MGN checkpoint not found at {path!r}. Run stage 1 first: '
                'python tools/train.py configs/mvt/mgn_deit-s_<dataset>.py --work-dir work_dirs/mgn_deit-s_<dataset> '
                'and point model.mgn_checkpoint (or --cfg-options model.mgn_checkpoint=...) at its epoch_N.pth'
            )
        self._load_mgn(path)

    def _load_mgn(self, path: str) -> None:
        state = generator_state_dict(load_state_dict_file(path))
        try:
            missing, unexpected = self.mgn.load_state_dict(state, strict=False)
        except RuntimeError as err:
            raise RuntimeError(
                f'{path} does not hold a matching MGN generator (the stage-2 model.mgn config must match '
                f'the stage-1 generator): {err}'
            ) from None
        if missing:
            raise RuntimeError(
                f'{path} does not hold a matching MGN generator: {len(missing)} missing keys '
                f'(e.g. {missing[:5]}); the stage-2 model.mgn config must match the stage-1 generator'
            )
        if unexpected:
            raise RuntimeError(f'{path}: unexpected generator keys {unexpected[:5]}')

    def train(self, mode: bool = True):
        super().train(mode)
        if self.mgn is not None:
            self.mgn.eval()  # frozen: never in training mode
        return self

    def mask_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """``I_in`` → ``I_in ⊙ M_p`` (``'complement'``) or ``I_in ⊙ (1 - M_p)`` (``'same'``); identity without MGN."""
        if self.mgn is None:
            return inputs
        with torch.no_grad():
            keep = stage2_keep_mask(self.mgn, self.mgn(inputs), self.stage2_mask)
        dp = self.data_preprocessor
        return apply_keep_mask(inputs, keep, getattr(dp, 'mean', None), getattr(dp, 'std', None), self.fill)

    def extract_feat(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return super().extract_feat(self.mask_inputs(inputs))
