"""MVT's mask generation network (MGN) generator, mask geometry and the random-mask sampler.

Li et al., "MVT: Mask Vision Transformer for Facial Expression Recognition in
the Wild", ICASSP 2022, Sec. 3.1-3.2.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ferlab.models.backbones.vit import build_timm_vit, load_timm_vit_weights
from ferlab.registry import MODELS


def patch_values_to_image(values: torch.Tensor, grid_size: tuple[int, int], patch_size: int) -> torch.Tensor:
    """Un-patchify per-patch values to a pixel map (MVT Sec. 3.1).

    Patch ``k = i * grid_w + j`` (timm's row-major patch order) covers pixels
    ``[i*P:(i+1)*P, j*P:(j+1)*P]``; its value is copied to all ``P x P`` pixels.

    Args:
        values: ``(B, N)`` with ``N = grid_h * grid_w``.
        grid_size: ``(grid_h, grid_w)``.
        patch_size: ``P``.

    Returns:
        ``(B, 1, grid_h * P, grid_w * P)``; broadcasts over channels.
    """
    if values.dim() != 2:
        raise ValueError(f'expected per-patch values of shape (B, N), got {tuple(values.shape)}')
    gh, gw = grid_size
    if values.shape[1] != gh * gw:
        raise ValueError(f'{values.shape[1]} patch values do not fill a {gh}x{gw} grid')
    grid = values.reshape(values.shape[0], 1, gh, gw)
    return grid.repeat_interleave(patch_size, dim=2).repeat_interleave(patch_size, dim=3)


def apply_keep_mask(
    inputs: torch.Tensor,
    keep: torch.Tensor,
    mean: torch.Tensor | None = None,
    std: torch.Tensor | None = None,
    fill: str = 'black',
) -> torch.Tensor:
    """``I_M = I_in * M_f`` on normalised inputs (MVT Sec. 3.1).

    ``fill='black'`` multiplies the *pixels* (0-255 scale) by the mask, so a
    masked pixel is black as in the paper's Fig. 2: with ``x = (I - mean) / std``
    this is ``x * keep + (keep - 1) * mean / std``. ``fill='mean'`` multiplies
    the normalised tensor, so a masked pixel becomes the dataset mean.

    Args:
        inputs: ``(B, C, H, W)`` normalised images.
        keep: ``(B, 1, H, W)`` or ``(B, C, H, W)`` in ``[0, 1]``, 1 = keep.
        mean, std: ``(C,)`` normalisation of the data preprocessor (needed for 'black').
        fill: ``'black'`` or ``'mean'``.
    """
    if keep.shape[-2:] != inputs.shape[-2:]:
        raise ValueError(
            f'mask of size {tuple(keep.shape[-2:])} does not match images of size {tuple(inputs.shape[-2:])}; '
            'the MGN img_size must equal the pipeline image size'
        )
    if fill == 'mean':
        return inputs * keep
    if fill != 'black':
        raise ValueError(f"fill must be 'black' or 'mean', got {fill!r}")
    if mean is None or std is None:
        return inputs * keep
    c = inputs.shape[1]
    mean = mean.to(inputs).reshape(1, -1, 1, 1)
    std = std.to(inputs).reshape(1, -1, 1, 1)
    if mean.shape[1] != c:
        mean, std = mean.mean().reshape(1, 1, 1, 1), std.mean().reshape(1, 1, 1, 1)
    return inputs * keep + (keep - 1.0) * mean / std


STAGE2_MASKS = ('complement', 'same')


def stage2_keep_mask(generator: MaskGenerator, mask_values: torch.Tensor, stage2_mask: str) -> torch.Tensor:
    """The stage-2 keep-mask from the frozen generator's ``M_p`` ``(B, N)`` → ``(B, 1, H, W)``.

    * ``'complement'`` (paper Sec. 3.2, inference): keep ``M_p`` itself, i.e. the
      complement of the stage-1 mask ``M_f = 1 - M_p``. Stage 1 trains G to hide the
      patches D needs (high ``M_p`` = crucial region), so stage 2 keeps exactly those
      and drops background and interference: ``I ⊙ M_p``.
    * ``'same'``: the stage-1 keep-mask ``1 - M_p`` (:meth:`MaskGenerator.keep_mask`),
      i.e. ``I ⊙ (1 - M_p)``; hides the crucial regions from the classifier.
    """
    if stage2_mask == 'complement':
        return patch_values_to_image(mask_values, generator.grid_size, generator.patch_size)
    if stage2_mask == 'same':
        return generator.keep_mask(mask_values)
    raise ValueError(f'stage2_mask must be one of {STAGE2_MASKS}, got {stage2_mask!r}')


def generator_state_dict(state: dict) -> dict:
    """The MGN generator's weights from a stage-1 (``generator.*``) or stage-2 (``mgn.*``) state dict.

    A state dict with neither prefix is returned unchanged (a bare generator).
    """
    for prefix in ('generator.', 'mgn.'):
        if any(k.startswith(prefix) for k in state):
            return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


@MODELS.register_module()
class MaskGenerator(BaseModule):
    """MGN generator: per-patch mask values ``M_p`` (MVT Sec. 3.1, Fig. 4).

    ``I_in`` ``(B, C, H, W)`` → patch embedding (``P``, ``D``) + position
    embedding → the first ``num_blocks`` ViT blocks → LayerNorm → Linear
    ``D → 1`` → sigmoid = ``M_p`` ``(B, N)``, ``N = HW / P^2``. A high ``M_p``
    marks a patch that is masked; the image mask is ``M_f = 1 - M_p``
    broadcast to ``P x P x C`` and un-patchified (:meth:`keep_mask`).

    The paper uses DeiT-S (P=16, D=384) with its first 6 of 12 blocks
    initialised from the ImageNet DeiT-S weights; the class token is not used
    (its position embedding is dropped) and is frozen (``requires_grad=False``):
    it never receives a gradient, which DDP would report as an unused parameter.

    Args:
        arch: timm ViT name providing the architecture (and weight layout).
        num_blocks: Blocks kept (paper: 6).
        img_size: Input side.
        patch_size, embed_dim, num_heads: Optional overrides of ``arch``.
        pretrained: Local timm-layout weights (``None``: random init).
        init_mask_area: Initial ``sigmoid(bias)`` of the output layer, i.e. the
            mask area before training (0.5 = zero bias).
    """

    def __init__(
        self,
        arch: str = 'deit_small_patch16_224',
        num_blocks: int = 6,
        img_size: int = 224,
        patch_size: int | None = None,
        embed_dim: int | None = None,
        num_heads: int | None = None,
        pretrained: str | None = None,
        init_mask_area: float = 0.5,
        init_cfg: dict | None = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if num_blocks < 1:
            raise ValueError(f'num_blocks must be >= 1, got {num_blocks}')
        if not 0.0 < init_mask_area < 1.0:
            raise ValueError(f'init_mask_area must be in (0, 1), got {init_mask_area}')
        self.vit = build_timm_vit(
            arch,
            img_size=img_size,
            patch_size=patch_size,
            embed_dim=embed_dim,
            depth=num_blocks,
            num_heads=num_heads,
        )
        self.arch = arch
        self.pretrained = pretrained
        self.init_mask_area = init_mask_area
        self.img_size = img_size
        self.patch_size = self.vit.patch_embed.patch_size[0]
        self.grid_size = tuple(self.vit.patch_embed.grid_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.mask_head = nn.Linear(self.vit.embed_dim, 1)
        if getattr(self.vit, 'cls_token', None) is not None:
            self.vit.cls_token.requires_grad_(False)
        self._reset_head()

    def _reset_head(self) -> None:
        nn.init.normal_(self.mask_head.weight, std=0.01)
        nn.init.constant_(self.mask_head.bias, math.log(self.init_mask_area / (1 - self.init_mask_area)))

    def init_weights(self) -> None:
        """``init_cfg`` (if any), then the local DeiT weights for the patch embedding and blocks."""
        if self.init_cfg is not None:
            super().init_weights()
        self._reset_head()
        if self.pretrained is not None:
            load_timm_vit_weights(
                self.vit, self.pretrained, what=f'{self.arch} weights for the MGN generator'
            )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` → ``M_p`` ``(B, N)`` in ``(0, 1)``."""
        if inputs.dim() != 4:
            raise ValueError(f'MaskGenerator expects (B, C, H, W), got {tuple(inputs.shape)}')
        if tuple(inputs.shape[-2:]) != (self.img_size, self.img_size):
            raise ValueError(
                f'MaskGenerator was built for {self.img_size}x{self.img_size} images, got '
                f'{tuple(inputs.shape[-2:])}; set img_size to the pipeline size'
            )
        vit = self.vit
        x = vit.patch_embed(inputs)  # (B, N, D)
        x = x + vit.pos_embed[:, vit.num_prefix_tokens :] if not vit.no_embed_class else x + vit.pos_embed
        x = vit.norm_pre(x)
        x = vit.blocks(x)
        x = vit.norm(x)
        return torch.sigmoid(self.mask_head(x)).squeeze(-1)

    def keep_mask(self, mask_values: torch.Tensor) -> torch.Tensor:
        """``M_f = 1 - M_p`` un-patchified: ``(B, N)`` → ``(B, 1, H, W)``."""
        return patch_values_to_image(1.0 - mask_values, self.grid_size, self.patch_size)


@MODELS.register_module()
class RandomPatchMask:
    """Random patch masks with a target area ratio (MVT Sec. 3.2, "random masked images").

    Each sample gets exactly ``round(ratio * N)`` masked patches drawn uniformly
    without replacement, so the realised area is ``ratio`` up to rounding.

    Args:
        ratio: Fraction of patches to mask, in ``[0, 1]``. ``None``: use the
            ratio passed at call time (the MGN's ``m``).
    """

    def __init__(self, ratio: float | None = None):
        if ratio is not None and not 0.0 <= ratio <= 1.0:
            raise ValueError(f'ratio must be in [0, 1], got {ratio}')
        self.ratio = ratio

    def __call__(
        self,
        batch_size: int,
        num_patches: int,
        ratio: float | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Return ``M_p`` ``(B, N)`` with 1 on masked patches and 0 elsewhere."""
        r = self.ratio if self.ratio is not None else ratio
        if r is None:
            raise ValueError('RandomPatchMask needs a ratio (in the constructor or the call)')
        k = int(round(r * num_patches))
        noise = torch.rand(batch_size, num_patches, generator=generator, device=device)
        order = noise.argsort(dim=1)
        out = torch.zeros(batch_size, num_patches, device=device)
        if k > 0:
            out.scatter_(1, order[:, :k], 1.0)
        return out
