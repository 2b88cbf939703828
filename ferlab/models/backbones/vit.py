"""A thin wrapper around timm's VisionTransformer (ViT / DeiT) with local weights."""

from __future__ import annotations

import torch
from mmengine.model import BaseModule

from ferlab.models.utils.pretrained import load_pretrained_file
from ferlab.registry import MODELS

DEIT_HOW_TO_GET = (
    'export it once on a machine with hub access: python -c "import timm, torch; '
    "torch.save(timm.create_model('deit_small_patch16_224', pretrained=True).state_dict(), "
    "'deit_small_patch16_224.pth')\" (see docs/mvt.md#pretrained-weights)"
)


def build_timm_vit(arch: str, **overrides):
    """``timm.create_model(arch, pretrained=False, num_classes=0, **overrides)``.

    ``None`` values in ``overrides`` are dropped so that configs can leave an
    architecture field at timm's default. Unknown ``arch`` raises ``ValueError``.
    """
    import timm
    from timm.models.vision_transformer import VisionTransformer

    if arch not in timm.list_models():
        import difflib

        close = difflib.get_close_matches(arch, timm.list_models(), n=5)
        raise ValueError(f'timm has no model {arch!r}; closest: {close}')
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    kwargs.setdefault('num_classes', 0)
    model = timm.create_model(arch, pretrained=False, **kwargs)
    if not isinstance(model, VisionTransformer):
        raise TypeError(f'{arch!r} is a {type(model).__name__}, expected a timm VisionTransformer')
    return model


def load_timm_vit_weights(model, path: str, what: str) -> tuple[list[str], list[str]]:
    """Load a timm-layout ViT/DeiT state dict from a local file into ``model``.

    The position embedding is resampled to ``model``'s patch grid and the
    patch-embedding kernel to its patch size (timm's ``checkpoint_filter_fn``),
    so an ImageNet 224-px checkpoint initialises a 112-px or 64-px variant.
    Blocks absent from ``model`` (e.g. the last 6 of 12 for the MGN generator)
    and the ImageNet head are ignored.
    """
    from timm.models.vision_transformer import checkpoint_filter_fn

    def key_map(state: dict) -> dict:
        own = model.state_dict()
        state = {k: v for k, v in state.items() if not k.startswith('head')}
        # checkpoint_filter_fn only resamples when the embedding widths agree.
        if 'pos_embed' in state and state['pos_embed'].shape[-1] != own['pos_embed'].shape[-1]:
            return state
        return checkpoint_filter_fn(state, model)

    return load_pretrained_file(model, path, what=what, how_to_get=DEIT_HOW_TO_GET, key_map=key_map)


@MODELS.register_module()
class ViTBackbone(BaseModule):
    """ViT / DeiT backbone from timm, returning the CLS feature.

    MVT (Li et al., ICASSP 2022, Sec. 3.1) feeds the masked image to a DeiT-S
    (``deit_small_patch16_224``: P=16, D=384, 12 blocks, 6 heads) and classifies
    its class token. Architecture fields left ``None`` keep timm's values, so
    the same class builds DeiT-S and the tiny CPU variants.

    Args:
        arch: timm ViT name (``'deit_small_patch16_224'``, ``'vit_tiny_patch16_224'``...).
        pretrained: Local timm-layout weight file or ``None`` (train from scratch).
            A missing file raises ``FileNotFoundError`` naming the path and how to
            export it. Position embeddings are resampled to ``img_size``.
        img_size: Input side ``H = W``.
        patch_size, embed_dim, depth, num_heads: Optional architecture overrides.
        drop_path_rate: Stochastic depth.
        out_type: ``'cls'`` (class token after the final norm, ``(B, D)``),
            ``'avg'`` (mean of patch tokens, ``(B, D)``) or ``'tokens'``
            (``(B, 1 + N, D)``).

    Shapes:
        inputs ``(B, 3, H, W)`` → a 1-tuple of ``(B, D)`` (or ``(B, 1 + N, D)``).
    """

    OUT_TYPES = ('cls', 'avg', 'tokens')

    def __init__(
        self,
        arch: str = 'deit_small_patch16_224',
        pretrained: str | None = None,
        img_size: int = 224,
        patch_size: int | None = None,
        embed_dim: int | None = None,
        depth: int | None = None,
        num_heads: int | None = None,
        drop_path_rate: float = 0.0,
        out_type: str = 'cls',
        init_cfg: dict | None = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'out_type must be one of {self.OUT_TYPES}, got {out_type!r}')
        self.vit = build_timm_vit(
            arch,
            img_size=img_size,
            patch_size=patch_size,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            drop_path_rate=drop_path_rate,
        )
        self.arch = arch
        self.pretrained = pretrained
        self.out_type = out_type
        self.embed_dim = self.vit.embed_dim

    def init_weights(self) -> None:
        """Apply ``init_cfg`` if any, then the local pretrained file if any."""
        if self.init_cfg is not None:
            super().init_weights()
        if self.pretrained is not None:
            load_timm_vit_weights(self.vit, self.pretrained, what=f'{self.arch} ImageNet weights')

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor]:
        if inputs.dim() != 4:
            raise ValueError(f'ViTBackbone expects (B, C, H, W) inputs, got shape {tuple(inputs.shape)}')
        tokens = self.vit.forward_features(inputs)
        if self.out_type == 'tokens':
            return (tokens,)
        if self.out_type == 'cls':
            return (tokens[:, 0],)
        return (tokens[:, self.vit.num_prefix_tokens :].mean(dim=1),)
