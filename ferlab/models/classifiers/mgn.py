"""Stage 1 of MVT: adversarial training of the mask generation network (MGN).

Li et al., "MVT: Mask Vision Transformer for FER in the Wild", ICASSP 2022, Sec. 3.2, Eq. 1-4.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.optim import OptimWrapperDict

from ferlab.models.generators.mask_generator import apply_keep_mask, patch_values_to_image
from ferlab.registry import MODELS
from ferlab.structures import FERDataSample
from ferlab.utils.checkpoint import load_state_dict_file


def unwrap(module: nn.Module) -> nn.Module:
    """``module`` without its DDP wrapper (``MMSeparateDistributedDataParallel`` wraps each sub-module)."""
    return module.module if is_model_wrapper(module) else module


def _unwrapped_state_dict_keys(
    module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict
) -> None:
    """State-dict hook: ``generator.module.x`` -> ``generator.x`` for DDP-wrapped sub-modules (in place).

    ``MMSeparateDistributedDataParallel`` replaces ``generator``/``discriminator`` by DDP
    wrappers, and mmengine's Runner saves ``model.state_dict()``, so without this a
    distributed stage-1 checkpoint would hold ``generator.module.*`` keys, which
    mmengine's loader (it unwraps DDP itself), stage 2 and ``tools/test.py`` do not read.
    """
    wrapped = [f'{prefix}{name}.' for name, child in module._modules.items() if is_model_wrapper(child)]
    if not wrapped:
        return

    def rename(key: str) -> str:
        for head in wrapped:
            if key.startswith(head + 'module.') or key == head + 'module':
                return head + key[len(head) + len('module.') :]
        return key

    items = list(state_dict.items())
    state_dict.clear()
    state_dict.update((rename(k), v) for k, v in items)
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        entries = list(metadata.items())
        metadata.clear()
        metadata.update((rename(k + '.').rstrip('.') if k else k, v) for k, v in entries)


@MODELS.register_module()
class MGN(BaseModel):
    """Generator + discriminator trained alternately inside one ``train_step``.

    Each iteration (with an :class:`~mmengine.optim.OptimWrapperDict` holding
    ``'generator'`` and ``'discriminator'``):

    1. **D step** (generator fixed), Eq. 1:
       ``L_D = CE(D(I ⊙ M_f^gen)) + CE(D(I ⊙ M_f^rand))`` where ``M_f^gen = 1 - M_p``
       from the generator and ``M_f^rand`` masks ``round(m N)`` random patches.
    2. **G step** (discriminator frozen: no parameter gradients, eval mode), Eq. 2-4:
       ``L_G = var(softmax(D(I ⊙ M_f^gen))) + |mean(M_p) - m|``.

    Logged: ``loss_d`` (+ its two terms), ``loss_g``, ``loss_var``, ``loss_area``,
    ``mask_area`` (realised mean ``M_p``) and ``mask_area_hard`` (share of patches
    with ``M_p > 0.5``), and ``acc_d_gen`` / ``acc_d_rand`` (D's batch accuracy).

    Args:
        generator: :class:`MaskGenerator` config.
        discriminator: A classifier config (e.g. ``FERClassifier`` with a ViT
            backbone) with ``loss(inputs, samples)`` and ``forward(mode='tensor')``.
        mask_ratio: ``m`` (Eq. 2); also the random-mask area unless
            ``random_mask`` sets its own ratio.
        random_mask: :class:`RandomPatchMask` config.
        var_loss: Eq. 3 loss config (default ``ProbVarianceLoss(ddof=1)``).
        area_loss: Eq. 4 loss config (default ``MaskAreaLoss(ratio=mask_ratio)``).
        fill: How masked pixels look: ``'black'`` (paper Fig. 2) or ``'mean'``.
        predict_on: What ``predict`` classifies with D: ``'clean'`` images or
            ``'generated'``-masked ones (validation of stage 1).
        discriminator_checkpoint: Optional checkpoint that initialises D (the paper
            starts D from ImageNet DeiT-S): a classifier checkpoint (``backbone.*``,
            ``neck.*``, ``head.*`` keys, e.g. a ``FERClassifier`` run) or an MGN
            checkpoint (``discriminator.*``). Every D parameter must be present. It is
            read by :meth:`init_weights`, never by the constructor.
        data_preprocessor: Defaults to ``FERDataPreprocessor``.

    Distributed training: the two optimisers step different sub-modules, so each
    needs its own DDP: the MGN configs set ``model_wrapper_cfg=dict(type=
    'MMSeparateDistributedDataParallel')``, which wraps ``generator`` and
    ``discriminator`` separately and calls this ``train_step``.

    Shapes: inputs ``(B, 3, H, W)``; ``forward(mode='tensor')`` returns ``M_p`` ``(B, N)``.
    """

    def __init__(
        self,
        generator: dict,
        discriminator: dict,
        mask_ratio: float = 0.15,
        random_mask: dict | None = None,
        var_loss: dict | None = None,
        area_loss: dict | None = None,
        fill: str = 'black',
        predict_on: str = 'clean',
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
        discriminator_checkpoint: str | None = None,
    ):
        if data_preprocessor is None:
            data_preprocessor = dict(type='FERDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not 0.0 <= mask_ratio <= 1.0:
            raise ValueError(f'mask_ratio m must be in [0, 1], got {mask_ratio}')
        if fill not in ('black', 'mean'):
            raise ValueError(f"fill must be 'black' or 'mean', got {fill!r}")
        if predict_on not in ('clean', 'generated'):
            raise ValueError(f"predict_on must be 'clean' or 'generated', got {predict_on!r}")
        self.generator = MODELS.build(generator)
        self.discriminator = MODELS.build(discriminator)
        self.mask_ratio = mask_ratio
        self.random_mask = MODELS.build(random_mask or dict(type='RandomPatchMask'))
        self.var_loss = MODELS.build(var_loss or dict(type='ProbVarianceLoss', ddof=1))
        self.area_loss = MODELS.build(area_loss or dict(type='MaskAreaLoss', ratio=mask_ratio))
        self.fill = fill
        self.predict_on = predict_on
        self.discriminator_checkpoint = discriminator_checkpoint
        self._register_state_dict_hook(_unwrapped_state_dict_keys)

    def init_weights(self) -> None:
        """Initialise G and D (their own ``init_weights``), then D from ``discriminator_checkpoint``.

        The Runner calls this when training starts, never in ``tools/test.py`` or
        ``runner.val()/test()``, so evaluating a trained MGN checkpoint needs none of
        the files named in the config.

        Raises:
            FileNotFoundError: ``discriminator_checkpoint`` does not exist.
            RuntimeError: it does not hold every D parameter.
        """
        disc = unwrap(self.discriminator)
        if self.discriminator_checkpoint is not None:
            disc.is_init = True  # loaded below: do not read D's own pretrained files first
        super().init_weights()
        if self.discriminator_checkpoint is not None:
            self._load_discriminator(self.discriminator_checkpoint)

    def _load_discriminator(self, path: str) -> None:
        """Initialise D from a classifier or MGN checkpoint (see ``discriminator_checkpoint``)."""
        state = load_state_dict_file(path)
        if any(k.startswith('discriminator.') for k in state):
            state = {
                k[len('discriminator.') :]: v for k, v in state.items() if k.startswith('discriminator.')
            }
        parts = ('backbone.', 'neck.', 'head.')
        state = {k: v for k, v in state.items() if k.startswith(parts)}
        disc = unwrap(self.discriminator)
        try:
            missing, unexpected = disc.load_state_dict(state, strict=False)
        except RuntimeError as err:
            raise RuntimeError(f'{path} does not match the MGN discriminator config: {err}') from None
        if missing or unexpected:
            raise RuntimeError(
                f'{path} does not match the MGN discriminator config: missing {missing[:5]}, '
                f'unexpected {unexpected[:5]}'
            )

    # ------------------------------------------------------------------ masking
    def mask_images(self, inputs: torch.Tensor, mask_values: torch.Tensor) -> torch.Tensor:
        """``I ⊙ (1 - M_p)`` un-patchified; ``(B, C, H, W)``, ``(B, N)`` → ``(B, C, H, W)``."""
        gen = unwrap(self.generator)
        keep = patch_values_to_image(1.0 - mask_values, gen.grid_size, gen.patch_size)
        dp = self.data_preprocessor
        return apply_keep_mask(inputs, keep, getattr(dp, 'mean', None), getattr(dp, 'std', None), self.fill)

    def sample_random_mask(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.random_mask(
            inputs.shape[0], unwrap(self.generator).num_patches, ratio=self.mask_ratio, device=inputs.device
        )

    # ------------------------------------------------------------------ losses
    def d_loss(self, inputs: torch.Tensor, data_samples: list[FERDataSample]) -> dict:
        """Eq. 1 with the generator fixed."""
        with torch.no_grad():
            gen = self.generator(inputs)
        gm = self.mask_images(inputs, gen)
        rm = self.mask_images(inputs, self.sample_random_mask(inputs))
        both = torch.cat([gm, rm])
        logits = self.discriminator(both, mode='tensor')
        target = torch.cat([s.gt_label for s in data_samples]).to(logits.device)
        ce = unwrap(self.discriminator).head.loss_module
        b = inputs.shape[0]
        loss_gm, loss_rm = ce(logits[:b], target), ce(logits[b:], target)
        pred = logits.detach().argmax(1)
        return dict(
            loss_d=loss_gm + loss_rm,
            loss_d_gen=loss_gm.detach(),
            loss_d_rand=loss_rm.detach(),
            acc_d_gen=(pred[:b] == target).float().mean(),
            acc_d_rand=(pred[b:] == target).float().mean(),
        )

    def g_loss(self, inputs: torch.Tensor) -> dict:
        """Eq. 2-4 (the caller freezes the discriminator)."""
        gen = self.generator(inputs)
        logits = self.discriminator(self.mask_images(inputs, gen), mode='tensor')
        loss_var = self.var_loss(logits)
        loss_area = self.area_loss(gen)
        return dict(
            loss_g=loss_var + loss_area,
            loss_var=loss_var.detach(),
            loss_area=loss_area.detach(),
            mask_area=gen.detach().mean(),
            mask_area_hard=(gen.detach() > 0.5).float().mean(),
        )

    # --------------------------------------------------------------- train step
    def train_step(self, data, optim_wrapper: OptimWrapperDict) -> dict:
        if not isinstance(optim_wrapper, OptimWrapperDict) or not {'generator', 'discriminator'} <= set(
            optim_wrapper.keys()
        ):
            raise TypeError(
                'MGN needs an OptimWrapperDict with "generator" and "discriminator"; use '
                "optim_wrapper=dict(constructor='MGNOptimWrapperConstructor', generator=dict(...), "
                'discriminator=dict(...))'
            )
        data = self.data_preprocessor(data, True)
        inputs, samples = data['inputs'], data['data_samples']
        d_wrapper, g_wrapper = optim_wrapper['discriminator'], optim_wrapper['generator']

        # D step (Eq. 1)
        with d_wrapper.optim_context(self.discriminator):
            d_out = self.d_loss(inputs, samples)
        d_wrapper.update_params(d_out['loss_d'])

        # G step (Eq. 2-4) with D frozen
        d_params = [p for p in self.discriminator.parameters() if p.requires_grad]
        was_training = self.discriminator.training
        for p in d_params:
            p.requires_grad_(False)
        self.discriminator.eval()
        try:
            with g_wrapper.optim_context(self.generator):
                g_out = self.g_loss(inputs)
            g_wrapper.update_params(g_out['loss_g'])
        finally:
            for p in d_params:
                p.requires_grad_(True)
            self.discriminator.train(was_training)

        log = {k: v.detach() for k, v in {**d_out, **g_out}.items()}
        return log

    # ------------------------------------------------------------------ forward
    def forward(
        self, inputs: torch.Tensor, data_samples: list[FERDataSample] | None = None, mode: str = 'tensor'
    ):
        if mode == 'tensor':
            return self.generator(inputs)
        if mode == 'loss':
            out = self.d_loss(inputs, data_samples)
            out.update(self.g_loss(inputs))
            return out
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; expected "tensor", "loss" or "predict"')

    def predict(self, inputs: torch.Tensor, data_samples: list[FERDataSample] | None = None):
        """D's predictions on clean or generated-masked images (per sample, batch-independent)."""
        if self.predict_on == 'generated':
            inputs = self.mask_images(inputs, self.generator(inputs))
        return unwrap(self.discriminator).predict(inputs, data_samples)
