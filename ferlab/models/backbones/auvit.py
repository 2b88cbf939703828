"""AU-ViT trunks (Mao et al., "AU-Aware Vision Transformers for Biased Facial Expression Recognition").

Three backbones, each returning ``(expr_feat, au_logits)``: the pooled
expression feature ``(B, D)`` (the expression Linear is a head, e.g.
``LinearClsHead``) and the AU branch's logits ``(B, A)`` in the order of its
``au_names``.

* :class:`IRViTAU` — the CNN-ViT base branch (Sec. III-B, Fig. 4/5): IR-50
  stages 1-3 → 3×3 conv embedding + learned position embedding (Eq. 1, no
  class token) → transformer blocks with the AU branch tapped after block
  ``au_tap`` → pooled expression feature. The paper's options: multi-stage
  blocks with 2×2 patch merging, Conv-FFN (depth-wise 3×3 inside the MLP),
  patch-flatten head vs GAP. The defaults follow the paper's final model
  (Table III); ``configs/_base_/models/auvit_ir50-public.py`` is the public
  code's ``IR50_ViT`` (one stage of 4 + 2 blocks, plain MLP, GAP + LN).
* :class:`ViTAU` — the vanilla-ViT base branch: a timm ViT/DeiT with the AU
  branch on the patch tokens after block ``au_tap`` (paper default 10 of 12)
  and the CLS token as the expression feature.
* :class:`ViTAUToken` — Table VIII's "AU token" baseline: one extra learned
  token concatenated with the class and patch tokens after the patch
  projection; an MLP on it predicts the AUs.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from timm.layers import DropPath, trunc_normal_

from ferlab.models.necks.au_branch import RAFAU_21, au_number
from ferlab.registry import MODELS

from .posterv2 import Attention
from .vit import build_timm_vit, load_timm_vit_weights

IR50_HOW_TO_GET = (
    "face.evoLVe's backbone_ir50_ms1m_epoch63.pth (IR-50 trained on MS1M; output_layer and the "
    'units of stage 4 are ignored) or the ir50.pth distributed with POSTER'
)
VIT_HOW_TO_GET = (
    'a timm-layout ViT state dict, e.g. a ViT-B/16 trained on VGGFace2 saved with '
    'torch.save(model.state_dict(), PATH); ferlab never downloads weights'
)


class Mlp(nn.Module):
    """Transformer FFN ``fc2(GELU(fc1(x)))`` (timm naming).

    Shapes:
        ``(B, N, C)`` → ``(B, N, C)``; ``hw`` is ignored.
    """

    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class ConvFFN(nn.Module):
    """Conv-FFN (Sec. III-B, "Multi-stage Transformer"): expand, depth-wise 3×3, restore.

    The tokens are rearranged into their ``H × W`` lattice; ``fc1`` raises the
    channels, a depth-wise 3×3 convolution mixes each token with its 8
    neighbours, ``fc2`` restores the width: ``fc2(GELU(DW(GELU(fc1(x)))))``.
    The public code's variant (its ``Mlp`` for widths other than 512, never
    used by its released models) has a BatchNorm after each of the three
    layers: ``with_bn=True``. The paper names no normalisation: default off.

    Tokens without a lattice position (a class or AU token placed before the
    ``H·W`` patch tokens) take the same ``fc1``/``fc2`` but skip the depth-wise
    convolution: ``fc2(GELU(fc1(t)))``.

    Shapes:
        ``(B, P + H·W, C)`` → ``(B, P + H·W, C)`` (``P >= 0`` leading tokens).
    """

    def __init__(self, dim: int, hidden: int, drop: float = 0.0, with_bn: bool = False):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.act = nn.GELU()
        self.drop = nn.Dropout(drop)
        self.with_bn = with_bn
        if with_bn:
            self.bn1, self.bn2, self.bn3 = nn.BatchNorm2d(hidden), nn.BatchNorm2d(hidden), nn.BatchNorm2d(dim)

    def _bn(self, x: torch.Tensor, bn: nn.Module | None) -> torch.Tensor:
        """BatchNorm over the channels of tokens ``(B, N, C)``."""
        return x if bn is None else bn(x.transpose(1, 2).unsqueeze(-1)).squeeze(-1).transpose(1, 2)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        B, N, _ = x.shape
        H, W = hw
        prefix = N - H * W
        if prefix < 0:
            raise ValueError(f'ConvFFN got {N} tokens for a {H}x{W} lattice')
        if prefix:
            if self.with_bn:
                raise ValueError('ConvFFN with_bn=True takes patch tokens only (no leading tokens)')
            extra = self.drop(self.fc2(self.drop(self.act(self.fc1(x[:, :prefix])))))
            return torch.cat([extra, self.forward(x[:, prefix:], hw)], dim=1)
        bn1, bn2, bn3 = (self.bn1, self.bn2, self.bn3) if self.with_bn else (None, None, None)
        x = self.drop(self.act(self._bn(self.fc1(x), bn1)))
        x = x.transpose(1, 2).reshape(B, -1, H, W)
        x = self.dwconv(x).flatten(2).transpose(1, 2)
        x = self.act(self._bn(x, bn2))
        return self.drop(self._bn(self.fc2(x), bn3))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + MHSA(LN(x))``, then ``x + FFN(LN(x))``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop: float,
        attn_drop: float,
        drop_path: float,
        eps: float,
        conv_ffn: bool,
        conv_ffn_bn: bool,
        fused: bool,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'AU-ViT block width {dim} is not divisible by {num_heads} heads')
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop=attn_drop, fused=fused)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        hidden = int(dim * mlp_ratio)
        self.mlp = ConvFFN(dim, hidden, drop, conv_ffn_bn) if conv_ffn else Mlp(dim, hidden, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x), hw))


class PatchMerging(nn.Module):
    """2×2 patch merging (Sec. III-B, Fig. 5): concatenate each 2×2 neighbourhood, LN, project.

    ``mode='concat'`` (the paper: "concatenates the tokens of each 2×2
    neighbor patch and doubles their dimensions"): ``Linear(LN([x00, x10, x01,
    x11]))`` from ``4C`` to ``C_out`` without bias (Swin's layout).
    ``mode='conv'`` is the public code's (unused) ``conv_head_pooling``: a
    grouped 3×3 convolution with stride 2 and padding 1 (PiT).

    Shapes:
        ``(B, H·W, C)`` → ``(B, ⌈H/2⌉·⌈W/2⌉, C_out)``; ``H`` and ``W`` even for ``'concat'``.
    """

    def __init__(self, dim: int, out_dim: int, mode: str = 'concat', eps: float = 1e-6):
        super().__init__()
        self.mode = mode
        if mode == 'concat':
            self.norm = nn.LayerNorm(4 * dim, eps=eps)
            self.reduction = nn.Linear(4 * dim, out_dim, bias=False)
        elif mode == 'conv':
            if out_dim % dim:
                raise ValueError(
                    f"PatchMerging mode='conv' needs out_dim a multiple of dim, got {dim}->{out_dim}"
                )
            self.conv = nn.Conv2d(dim, out_dim, 3, stride=2, padding=1, groups=dim)
        else:
            raise ValueError(f"PatchMerging mode must be 'concat' or 'conv', got {mode!r}")

    @staticmethod
    def out_size(hw: tuple[int, int]) -> tuple[int, int]:
        return (hw[0] + 1) // 2, (hw[1] + 1) // 2

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        B, _, C = x.shape
        H, W = hw
        if self.mode == 'conv':
            return self.conv(x.transpose(1, 2).reshape(B, C, H, W)).flatten(2).transpose(1, 2)
        x = x.view(B, H, W, C)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(B, -1, 4 * C)))


def _build_au_branch(au_branch: dict | None, in_channels: int, grid: int, au_names: Sequence) -> nn.Module:
    cfg = dict(type='AUBranch', regions='7')
    cfg.update(au_branch or {})
    cfg.setdefault('au_names', tuple(au_names))
    cfg['in_channels'] = in_channels
    cfg['grid_size'] = grid
    return MODELS.build(cfg)


@MODELS.register_module()
class IRViTAU(BaseModule):
    """CNN-ViT AU-ViT trunk (Sec. III-B; Table III; Fig. 9 tap position).

    ``IResNet`` stages 1-3 give ``(B, 256, S/8, S/8)`` (14×14 at 112 px); a 3×3
    conv (padding 1) embeds it to ``embed_dims[0]`` and a learned position
    embedding ``(1, N, C)`` is added (Eq. 1; no class token). Stage ``s`` runs
    ``depths[s]`` pre-norm blocks of width ``embed_dims[s]``; with
    ``multi_stage=True`` a patch merging halves the grid between stages
    (Fig. 5: the map after stage ``k`` is ``H/2^k × W/2^k``). The AU branch reads
    the tokens after block ``au_tap`` (1-based over all blocks), reshaped to
    their grid. The expression feature is ``LN(mean of tokens)`` (``head='gap'``,
    the public code) or the patch-flatten layer ``LN(ReLU(W · flatten(tokens)))``
    (``head='flatten'``, the paper: "flatten all the patch embeddings ... and
    implement a Multi-Layer Perception"; its ``Linear`` has ``flatten_dim``
    outputs and the expression Linear is the head).

    Args:
        depth: IResNet depth (50 for the paper and the public code).
        pretrained: Local IR-50 MS1M file in face.evoLVe layout, read in
            ``init_weights`` (units of stage 4 and ``output_layer`` ignored);
            a missing file is one error naming the path and where to get it.
        frozen_stages: IResNet stages frozen (-1: none).
        input_size: Input side (112); sets the token grid ``input_size / 8``.
        embed_dims: Width of each stage.
        depths: Blocks of each stage.
        num_heads: Heads of each stage.
        mlp_ratio: FFN expansion.
        qkv_bias: Bias in the qkv projection.
        multi_stage: Patch merging between stages (paper default ``True``);
            ``False`` needs equal ``embed_dims`` (the public one-width stack).
        merge_mode: ``'concat'`` (the paper's 2×2 concatenation) or ``'conv'``.
        conv_ffn: Conv-FFN in every block (paper default ``True``).
        conv_ffn_bn: BatchNorm inside the Conv-FFN (public variant).
        head: ``'flatten'`` (paper) or ``'gap'`` (public).
        flatten_dim: Output width of the patch-flatten layer.
        flatten_dropout: Dropout before it (0.5 in the public, unused, layer).
        au_tap: Block after which the AU branch taps (default: the end of the
            first stage, 4 of 6 as in the public code).
        au_branch: ``AUBranch`` config overrides (``regions``,
            ``symmetric_pairs``, ``pair_reduce``, ``au_names``...); the
            channels and grid are filled in.
        au_names: AU output order (default the 21 RAF-AU AUs).
        drop_rate, attn_drop_rate, drop_path_rate: Regularisation.
        eps: LayerNorm epsilon (1e-6).
        fused: Fused ``scaled_dot_product_attention``.
        cnn_widths: IResNet stage widths (default ``(64, 128, 256)``;
            narrower ones for CPU-scale runs from scratch).
        init_cfg: mmengine init config.

    Shapes:
        ``(B, 3, S, S)`` → ``((B, D), (B, A))`` with ``D = embed_dims[-1]``
        (``'gap'``) or ``flatten_dim``.
    """

    def __init__(
        self,
        depth: int = 50,
        pretrained: str | None = None,
        frozen_stages: int = -1,
        input_size: int = 112,
        embed_dims: Sequence[int] = (512, 1024),
        depths: Sequence[int] = (4, 2),
        num_heads: Sequence[int] = (16, 16),
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        multi_stage: bool = True,
        merge_mode: str = 'concat',
        conv_ffn: bool = True,
        conv_ffn_bn: bool = False,
        head: str = 'flatten',
        flatten_dim: int = 512,
        flatten_dropout: float = 0.5,
        au_tap: int | None = None,
        au_branch: dict | None = None,
        au_names: Sequence = tuple(f'AU{a}' for a in RAFAU_21),
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        eps: float = 1e-6,
        fused: bool = True,
        cnn_widths: Sequence[int] | None = None,
        init_cfg: dict | list | None = None,
    ):
        if init_cfg is None:
            init_cfg = [
                dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0),
                dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0),
            ]
        super().__init__(init_cfg=init_cfg)
        embed_dims, depths, num_heads = list(embed_dims), list(depths), list(num_heads)
        if not (len(embed_dims) == len(depths) == len(num_heads)) or not depths or min(depths) < 1:
            raise ValueError(
                f'IRViTAU embed_dims {embed_dims}, depths {depths}, num_heads {num_heads} must have one '
                'entry per stage and every stage at least one block'
            )
        if not multi_stage and len(set(embed_dims)) != 1:
            raise ValueError(f'IRViTAU multi_stage=False keeps one width; got embed_dims {embed_dims}')
        if head not in ('flatten', 'gap'):
            raise ValueError(f"IRViTAU head must be 'flatten' or 'gap', got {head!r}")
        if input_size % 16:
            raise ValueError(f'IRViTAU input_size must be a multiple of 16, got {input_size}')
        total = sum(depths)
        au_tap = depths[0] if au_tap is None else au_tap
        if not 1 <= au_tap <= total:
            raise ValueError(f'IRViTAU au_tap must be a block index in 1..{total}, got {au_tap}')
        self.head_type, self.au_tap, self.multi_stage = head, au_tap, multi_stage
        self.depths = tuple(depths)
        self.cnn = MODELS.build(
            dict(
                type='IResNet',
                depth=depth,
                num_stages=3,
                input_size=input_size,
                frozen_stages=frozen_stages,
                widths=cnn_widths,
            )
        )
        self.pretrained = pretrained
        grid = input_size // 8
        self.grid = grid
        self.patch_embed = nn.Conv2d(self.cnn.out_channels[-1], embed_dims[0], 3, padding=1)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid, embed_dims[0]))
        self.pos_drop = nn.Dropout(drop_rate)

        dpr = torch.linspace(0, drop_path_rate, total).tolist() if total > 1 else [drop_path_rate]
        self.blocks = nn.ModuleList()
        self.merges = nn.ModuleDict()  # key: index of the block after which tokens are merged
        self.block_hw: list[tuple[int, int]] = []
        hw, b = (grid, grid), 0
        for s, (dim, n, heads) in enumerate(zip(embed_dims, depths, num_heads)):
            for _ in range(n):
                self.blocks.append(
                    Block(dim, heads, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate, dpr[b], eps, conv_ffn,
                          conv_ffn_bn, fused)
                )  # fmt: skip
                self.block_hw.append(hw)
                b += 1
            if s < len(depths) - 1 and multi_stage:
                if merge_mode == 'concat' and (hw[0] % 2 or hw[1] % 2):
                    raise ValueError(
                        f'IRViTAU: the {hw[0]}x{hw[1]} grid after stage {s} cannot be 2x2-merged '
                        f'(input_size {input_size}); use fewer stages or another input size'
                    )
                self.merges[str(b - 1)] = PatchMerging(dim, embed_dims[s + 1], merge_mode, eps)
                hw = PatchMerging.out_size(hw)
        self.out_hw = hw
        tap_dim = embed_dims[[i for i, d in enumerate(depths) if sum(depths[: i + 1]) >= au_tap][0]]
        if self.block_hw[au_tap - 1][0] != self.block_hw[au_tap - 1][1]:
            raise ValueError('IRViTAU: the AU branch needs a square grid')
        self._build_au_output(au_branch, tap_dim, self.block_hw[au_tap - 1][0], au_names, eps)
        if head == 'gap':
            self.norm = nn.LayerNorm(embed_dims[-1], eps=eps)
            self.out_channels = embed_dims[-1]
        else:
            self.flatten = nn.Sequential(
                nn.Dropout(flatten_dropout),
                nn.Flatten(),
                nn.Linear(hw[0] * hw[1] * embed_dims[-1], flatten_dim),
                nn.ReLU(),
            )
            self.norm = nn.LayerNorm(flatten_dim, eps=eps)
            self.out_channels = flatten_dim

    def _build_au_output(self, au_branch: dict | None, dim: int, grid: int, au_names: Sequence, eps: float):
        """The AU output read after block ``au_tap``: an :class:`AUBranch` on the ``grid × grid`` map."""
        self.au_branch = _build_au_branch(au_branch, dim, grid, au_names)

    def init_weights(self) -> None:
        """``init_cfg`` (children keep their own), position embedding ~ N(0, 0.02²), then IR-50 weights."""
        super().init_weights()
        trunc_normal_(self.pos_embed, std=0.02)
        if self.pretrained is not None:
            from ferlab.models.backbones.iresnet import poster_v2_key_map
            from ferlab.models.utils.pretrained import load_pretrained_file

            load_pretrained_file(
                self.cnn,
                self.pretrained,
                what='IR-50 MS1M weights (face.evoLVe layout) for the AU-ViT CNN embedding',
                how_to_get=IR50_HOW_TO_GET,
                key_map=poster_v2_key_map(self.cnn.arch_settings[self.cnn.depth]),
            )

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Expression feature and AU logits.

        Args:
            inputs: ``(B, 3, S, S)`` images, ``S = input_size``.

        Returns:
            ``(expr_feat (B, D), au_logits (B, A))``.
        """
        x = self._tokens(inputs)
        au_logits = None
        for i, blk in enumerate(self.blocks):
            x = blk(x, self.block_hw[i])
            if i + 1 == self.au_tap:
                au_logits = self.au_branch(x)
            if str(i) in self.merges:
                x = self.merges[str(i)](x, self.block_hw[i])
        return self._pool(x), au_logits

    def _tokens(self, inputs: torch.Tensor) -> torch.Tensor:
        """CNN embedding + position embedding: ``(B, 3, S, S)`` → ``(B, N, C)`` patch tokens."""
        x = self.patch_embed(self.cnn(inputs)[-1])
        B, C, H, W = x.shape
        if (H, W) != (self.grid, self.grid):
            raise ValueError(
                f'{type(self).__name__} was built for {self.grid * 8}px inputs ({self.grid}x{self.grid} '
                f'tokens), got {tuple(inputs.shape[-2:])} images'
            )
        return self.pos_drop(x.flatten(2).transpose(1, 2) + self.pos_embed)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """Expression feature of the last tokens ``(B, N, C)`` → ``(B, D)`` (GAP + LN or patch-flatten)."""
        if self.head_type == 'gap':
            return self.norm(x.mean(dim=1))
        return self.norm(self.flatten(x))


@MODELS.register_module()
class IRViTAUToken(IRViTAU):
    """Table VIII's "AU token" baseline on the CNN-ViT trunk of :class:`IRViTAU`.

    The paper adds the AU token to its vanilla ViT (:class:`ViTAUToken`): a
    learned token concatenated with the patch embeddings, an MLP on it
    estimating the AUs. Here the same token joins the CNN-ViT's patch tokens
    (placed before them; it has no lattice position, so the Conv-FFN passes it
    through its linear layers only, and no position embedding) and takes part
    in the attention of blocks ``1..au_tap``; after block ``au_tap`` it is read
    (``LN`` → ``fc2(GELU(fc1(t)))``, ``au_mlp_hidden=0``: one Linear) and
    dropped, so the blocks after the tap, the merging and the expression
    feature see the patch tokens only — the same tap as the AU branch it
    replaces, which makes the two a like-for-like comparison. The token must be
    read in the first stage (patch merging changes the width).

    Args:
        au_mlp_hidden: Hidden width of the AU MLP (``None``: the token width).
        **kwargs: :class:`IRViTAU` arguments (``au_branch`` is not used).

    Shapes:
        ``(B, 3, S, S)`` → ``((B, D), (B, A))``.
    """

    def __init__(self, au_mlp_hidden: int | None = None, **kwargs):
        self._au_mlp_hidden = au_mlp_hidden
        super().__init__(**kwargs)
        if len(self.depths) > 1 and self.au_tap > self.depths[0]:
            raise ValueError(
                f'IRViTAUToken reads the AU token in the first stage (au_tap <= {self.depths[0]}); '
                f'got {self.au_tap}'
            )

    def _build_au_output(self, au_branch: dict | None, dim: int, grid: int, au_names: Sequence, eps: float):
        """The AU token and its LN + MLP (``au_branch`` is not used)."""
        self.au_names = tuple(f'AU{au_number(a)}' for a in au_names)
        if not self.au_names or len(set(self.au_names)) != len(self.au_names):
            raise ValueError(
                f'IRViTAUToken au_names must be non-empty without duplicates, got {list(au_names)}'
            )
        d = int(self.patch_embed.out_channels)
        hidden = d if self._au_mlp_hidden is None else int(self._au_mlp_hidden)
        self.au_token = nn.Parameter(torch.zeros(1, 1, d))
        self.au_norm = nn.LayerNorm(d, eps=eps)
        layers = (
            [nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, len(self.au_names))]
            if hidden
            else [nn.Linear(d, len(self.au_names))]
        )
        self.au_head = nn.Sequential(*layers)

    def init_weights(self) -> None:
        """:class:`IRViTAU` initialisation; the AU token ~ N(0, 0.02²)."""
        super().init_weights()
        trunc_normal_(self.au_token, std=0.02)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Expression feature and AU logits (``(B, D)``, ``(B, A)``)."""
        x = self._tokens(inputs)
        x = torch.cat([self.au_token.expand(x.shape[0], -1, -1), x], dim=1)
        au_logits = None
        for i, blk in enumerate(self.blocks):
            x = blk(x, self.block_hw[i])
            if i + 1 == self.au_tap:
                au_logits = self.au_head(self.au_norm(x[:, 0]))
                x = x[:, 1:]
            if str(i) in self.merges:
                x = self.merges[str(i)](x, self.block_hw[i])
        return self._pool(x), au_logits


class _TimmViTBase(BaseModule):
    """timm ViT/DeiT by name with local pretrained weights (shared by the two pure-ViT trunks)."""

    def __init__(self, arch, pretrained, img_size, patch_size, embed_dim, depth, num_heads, drop_path_rate,
                 init_cfg):  # fmt: skip
        super().__init__(init_cfg=init_cfg)
        self.vit = build_timm_vit(
            arch,
            img_size=img_size,
            patch_size=patch_size,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            drop_path_rate=drop_path_rate,
            global_pool='token',
        )
        if self.vit.cls_token is None:
            raise ValueError(f'{arch!r} has no class token; AU-ViT classifies the CLS token')
        self.arch, self.pretrained = arch, pretrained
        self.embed_dim = self.out_channels = self.vit.embed_dim
        gh, gw = self.vit.patch_embed.grid_size
        if gh != gw:
            raise ValueError(f'AU-ViT needs a square patch grid, got {gh}x{gw}')
        self.grid = gh

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            super().init_weights()
        if self.pretrained is not None:
            load_timm_vit_weights(self.vit, self.pretrained, what=f'{self.arch} weights (timm layout)')

    def _embed(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() != 4:
            raise ValueError(f'{type(self).__name__} expects (B, 3, H, W) inputs, got {tuple(inputs.shape)}')
        v = self.vit
        return v.norm_pre(v.patch_drop(v._pos_embed(v.patch_embed(inputs))))


@MODELS.register_module()
class ViTAU(_TimmViTBase):
    """Vanilla-ViT AU-ViT trunk: AU branch on the patch tokens after block ``au_tap`` (Fig. 9).

    The class token (after the final LN) is the expression feature; the patch
    tokens after block ``au_tap`` (class/register tokens removed) are reshaped
    to the ``H/P × W/P`` grid for the AU branch (Seq2Img).

    Args:
        arch: timm ViT/DeiT name (``'vit_base_patch16_224'``...).
        pretrained: Local timm-layout file (e.g. a VGGFace2 ViT-B/16) or ``None``.
        img_size: Input side.
        patch_size, embed_dim, depth, num_heads: Optional timm overrides.
        drop_path_rate: Stochastic depth.
        au_tap: Block after which the AU branch taps (1-based; paper 10 of 12).
        au_branch: ``AUBranch`` overrides; channels and grid are filled in.
        au_names: AU output order.

    Shapes:
        ``(B, 3, H, W)`` → ``((B, D), (B, A))``.
    """

    def __init__(
        self,
        arch: str = 'vit_base_patch16_224',
        pretrained: str | None = None,
        img_size: int = 224,
        patch_size: int | None = None,
        embed_dim: int | None = None,
        depth: int | None = None,
        num_heads: int | None = None,
        drop_path_rate: float = 0.0,
        au_tap: int = 10,
        au_branch: dict | None = None,
        au_names: Sequence = tuple(f'AU{a}' for a in RAFAU_21),
        init_cfg: dict | None = None,
    ):
        super().__init__(arch, pretrained, img_size, patch_size, embed_dim, depth, num_heads, drop_path_rate,
                         init_cfg)  # fmt: skip
        n = len(self.vit.blocks)
        if not 1 <= au_tap <= n:
            raise ValueError(f'ViTAU au_tap must be a block index in 1..{n}, got {au_tap}')
        self.au_tap = au_tap
        self.au_branch = _build_au_branch(au_branch, self.embed_dim, self.grid, au_names)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._embed(inputs)
        au_logits = None
        for i, blk in enumerate(self.vit.blocks):
            x = blk(x)
            if i + 1 == self.au_tap:
                au_logits = self.au_branch(x[:, self.vit.num_prefix_tokens :])
        return self.vit.norm(x)[:, 0], au_logits


@MODELS.register_module()
class ViTAUToken(_TimmViTBase):
    """Table VIII's AU-token baseline: a timm ViT with one extra learned AU token.

    After the patch projection and position embedding the AU token is placed
    right after the class token (it has no position of its own: the token is
    itself learned). After the final LN, the class token is the expression
    feature and an MLP on the AU token predicts the AUs:
    ``fc2(GELU(fc1(t_AU)))`` (``au_mlp_hidden=0``: one Linear).

    Args:
        arch, pretrained, img_size, patch_size, embed_dim, depth, num_heads,
            drop_path_rate: as :class:`ViTAU`.
        au_names: AU output order.
        au_mlp_hidden: Hidden width of the AU MLP (``None``: ``embed_dim``).

    Shapes:
        ``(B, 3, H, W)`` → ``((B, D), (B, A))``.
    """

    def __init__(
        self,
        arch: str = 'vit_base_patch16_224',
        pretrained: str | None = None,
        img_size: int = 224,
        patch_size: int | None = None,
        embed_dim: int | None = None,
        depth: int | None = None,
        num_heads: int | None = None,
        drop_path_rate: float = 0.0,
        au_names: Sequence = tuple(f'AU{a}' for a in RAFAU_21),
        au_mlp_hidden: int | None = None,
        init_cfg: dict | None = None,
    ):
        super().__init__(arch, pretrained, img_size, patch_size, embed_dim, depth, num_heads, drop_path_rate,
                         init_cfg)  # fmt: skip
        self.au_names = tuple(f'AU{au_number(a)}' for a in au_names)
        if not self.au_names or len(set(self.au_names)) != len(self.au_names):
            raise ValueError(
                f'ViTAUToken au_names must be non-empty without duplicates, got {list(au_names)}'
            )
        d, a = self.embed_dim, len(self.au_names)
        hidden = d if au_mlp_hidden is None else au_mlp_hidden
        self.au_token = nn.Parameter(torch.zeros(1, 1, d))
        if hidden:
            self.au_head = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, a))
        else:
            self.au_head = nn.Sequential(nn.Linear(d, a))

    def init_weights(self) -> None:
        super().init_weights()
        trunc_normal_(self.au_token, std=0.02)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._embed(inputs)
        x = torch.cat([x[:, :1], self.au_token.expand(x.shape[0], -1, -1), x[:, 1:]], dim=1)
        x = self.vit.norm(self.vit.blocks(x))
        return x[:, 0], self.au_head(x[:, 1])


__all__ = ['IRViTAU', 'IRViTAUToken', 'ViTAU', 'ViTAUToken', 'ConvFFN', 'PatchMerging']
