"""POSTER++ trunk (Mao et al., 2023; ARBEx Sec. 3.2, Eq. 1-8): window cross-attention ViT.

The network of the public POSTER++ code (``Talented-Q/POSTER_V2``,
``models/PosterV2_7cls.py``), rebuilt from ferlab components:

1. Both streams see the input resized to ``input_size`` (112) with legacy
   ``nearest`` interpolation (``F.interpolate(x, size=112)`` keeps
   ``x[..., ::2, ::2]`` of a 224 input). The resize is part of ``forward``.
2. Image stream: :class:`~ferlab.models.backbones.IResNet` (IR-50, 3 stages)
   → 64×56², 128×28², 256×14², each followed by a stride-2 3×3 conv
   (``image_convs``) → 28², 14², 7².
3. Landmark stream: a frozen :class:`~ferlab.models.backbones.MobileFaceNet`
   → ``conv_3`` 64×28², ``conv_4`` 128×14², ``conv_6_sep`` 512×7²; the last
   goes through a trainable 3×3 conv 512→256 (``landmark_conv``).
4. Per level, :class:`WindowCrossAttention`: landmark tokens query the image
   tokens (Eq. 1-5).
5. :class:`PyramidTokenEmbed`: every level to 49 tokens of 768 (Eq. 6).
6. :class:`PosterFusionViT`: CLS + learned position embedding + 2 pre-norm
   ViT blocks + final LayerNorm (Eq. 7-8); the backbone returns the CLS token.

The SE gate (:class:`~ferlab.models.necks.SEGate`) and the linear classifier
(:class:`~ferlab.models.heads.LinearClsHead`) follow as neck and head, so the
768-d SE-gated CLS (ARBEx's embedding ``e``) is ``FERClassifier.extract_feat``
and ARBEx swaps only the head. ``configs/_base_/models/posterv2_ir50.py``
builds the public 7-class network exactly (docs/poster.md has the key map).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule, ModuleList
from timm.layers import DropPath, trunc_normal_

from ferlab.registry import MODELS


def relative_position_index(window_size: int) -> torch.Tensor:
    """Swin-style index of the relative-position bias table.

    Token ``i = (h_i, w_i)`` and ``j = (h_j, w_j)`` (row-major in the window)
    get entry ``(h_i - h_j + w - 1) * (2w - 1) + (w_i - w_j + w - 1)`` of the
    ``((2w - 1)², heads)`` table.

    Args:
        window_size: Window side ``w``.

    Returns:
        ``(w², w²)`` long tensor.
    """
    coords = torch.stack(torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing='ij'))
    coords = coords.flatten(1)  # (2, w²)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window_size - 1)
    return rel[..., 0] * (2 * window_size - 1) + rel[..., 1]


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` (timm naming)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


@MODELS.register_module()
class WindowCrossAttention(BaseModule):
    """One POSTER++ level: window multi-head cross-attention (W-MCSA) + MLP.

    Image tokens are LayerNorm'd and split into ``w × w`` windows; in every
    window the landmark tokens (one window, ``w²`` of them) are the queries and
    the image tokens give keys and values (ARBEx Eq. 1-3)::

        q = z_lm W_q,  k = LN(z_img) W_k,  v = LN(z_img) W_v
        o = [softmax(q_i k_iᵀ / √d + b) v_i]_i W_o
        X' = S + DropPath(γ₁ o)                                    (Eq. 4)
        X_o = X' + DropPath(γ₂ MLP(LN(X')))                        (Eq. 5)

    with ``b`` a relative-position bias (table ``((2w-1)², heads)``, Swin
    index) and ``γ`` layer scales.

    Paper vs public code (both are options; defaults = paper):

    * ``query_proj``: Eq. 1 projects the landmark tokens with ``W_q``
      (``True``); the public code uses the raw landmark map as ``q``
      (``False``).
    * ``residual``: Eq. 4 adds the block input ``S = X_img`` (``'input'``);
      the public code adds the LayerNorm'd tokens ``S = LN(X_img)``
      (``'norm'``).

    ``configs/_base_/models/posterv2_ir50.py`` sets the public choices, which
    the POSTER++ checkpoints were trained with.

    Args:
        dim: Token dimension ``d`` (channels of both streams at this level).
        num_heads: Attention heads.
        window_size: Window side ``w``; the image map side must be a multiple
            of it and the landmark map must have ``w²`` tokens.
        mlp_ratio: MLP hidden size / ``dim``.
        drop_path: Stochastic-depth rate of both residual branches.
        layer_scale: Initial ``γ₁``, ``γ₂`` (``None``: no layer scale).
        query_proj: Project the queries (paper) or use them raw (public).
        residual: ``'input'`` (paper) or ``'norm'`` (public).
        attn_drop: Dropout on the attention weights.
        fused: Use ``F.scaled_dot_product_attention`` with the bias as
            ``attn_mask`` (same result as the explicit softmax, faster).
        init_cfg: mmengine init config.

    Shapes:
        ``x``: ``(B, d, H, W)`` image map, ``query``: ``(B, w², d)`` or
        ``(w², d)`` landmark tokens (row-major) → ``(B, d, H, W)``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        layer_scale: float | None = 1e-5,
        query_proj: bool = True,
        residual: str = 'input',
        attn_drop: float = 0.0,
        fused: bool = True,
        init_cfg: dict | list | None = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if dim % num_heads != 0:
            raise ValueError(f'WindowCrossAttention: dim {dim} is not divisible by num_heads {num_heads}')
        if residual not in ('input', 'norm'):
            raise ValueError(f"WindowCrossAttention residual must be 'input' or 'norm', got {residual!r}")
        self.dim, self.num_heads, self.window_size = dim, num_heads, window_size
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.residual, self.fused, self.attn_drop = residual, fused, attn_drop
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.q = nn.Linear(dim, dim) if query_proj else None
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer('relative_position_index', relative_position_index(window_size))
        if layer_scale is not None:
            self.gamma1 = nn.Parameter(torch.full((dim,), float(layer_scale)))
            self.gamma2 = nn.Parameter(torch.full((dim,), float(layer_scale)))
        else:
            self.gamma1 = self.gamma2 = None
        self.layer_scale = layer_scale
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def init_weights(self) -> None:
        """Bias table ~ trunc-normal(0.02) (public code); Linear layers keep PyTorch's default init."""
        super().init_weights()
        trunc_normal_(self.relative_position_bias_table, std=0.02)
        if self.gamma1 is not None:
            nn.init.constant_(self.gamma1, self.layer_scale)
            nn.init.constant_(self.gamma2, self.layer_scale)

    def relative_position_bias(self) -> torch.Tensor:
        """The bias ``b`` of Eq. 2, ``(heads, w², w²)``."""
        n = self.window_size**2
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(n, n, self.num_heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Cross-attend the landmark ``query`` tokens to the windows of ``x``; see the class docstring."""
        B, C, H, W = x.shape
        w, n = self.window_size, self.window_size**2
        if C != self.dim or H % w or W % w:
            raise ValueError(
                f'WindowCrossAttention(dim={self.dim}, window={w}) got a {tuple(x.shape)} map: '
                f'needs {self.dim} channels and sides divisible by {w}'
            )
        if query.dim() == 2:
            query = query.unsqueeze(0)
        if query.shape[-2:] != (n, C) or query.shape[0] not in (1, B):
            raise ValueError(
                f'WindowCrossAttention: query must be (B, {n}, {C}) or ({n}, {C}), got {tuple(query.shape)}'
            )
        tokens = self.norm(x.permute(0, 2, 3, 1))  # (B, H, W, C)
        nh, nw = H // w, W // w
        windows = tokens.view(B, nh, w, nw, w, C).permute(0, 1, 3, 2, 4, 5).reshape(B * nh * nw, n, C)
        kv = self.kv(windows).view(-1, n, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]  # (B·nW, heads, n, hd)
        q = self.q(query) if self.q is not None else query
        q = q.view(-1, 1, n, self.num_heads, self.head_dim).expand(
            B, nh * nw, n, self.num_heads, self.head_dim
        )
        q = q.reshape(B * nh * nw, n, self.num_heads, self.head_dim).transpose(1, 2)
        bias = self.relative_position_bias().unsqueeze(0).to(q.dtype)
        drop = self.attn_drop if self.training else 0.0
        if self.fused:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=drop, scale=self.scale)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1) + bias
            o = F.dropout(attn.softmax(-1), drop, self.training) @ v
        o = self.proj(o.transpose(1, 2).reshape(-1, n, C))
        o = o.view(B, nh, nw, w, w, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)
        shortcut = tokens if self.residual == 'norm' else x.permute(0, 2, 3, 1)
        g1 = self.gamma1 if self.gamma1 is not None else 1.0
        g2 = self.gamma2 if self.gamma2 is not None else 1.0
        out = shortcut + self.drop_path(g1 * o)
        out = out + self.drop_path(g2 * self.mlp(self.norm2(out)))
        return out.permute(0, 3, 1, 2)


def _conv_out(size: int, n_stride2: int) -> int:
    for _ in range(n_stride2):
        size = (size - 1) // 2 + 1
    return size


@MODELS.register_module()
class PyramidTokenEmbed(BaseModule):
    """Turn the level maps into one token sequence (ARBEx Eq. 6, POSTER++ ``embed_q/k/v``).

    Level ``l`` goes through ``num_downsamples[l]`` stride-2 3×3 convs
    (``in_l → D``, then ``D → D``), or one 1×1 conv when that number is 0,
    and is flattened to tokens; the levels are concatenated.

    Args:
        in_channels: Channels per level (POSTER++: 64, 128, 256).
        embed_dim: Token dimension ``D`` (768).
        num_downsamples: Stride-2 convs per level (POSTER++: 2, 1, 0 → 28², 14²,
            7² maps all become 7×7 = 49 tokens).
        init_cfg: mmengine init config (default: Kaiming fan-out, zero bias).

    Shapes:
        tuple of ``(B, in_l, H_l, W_l)`` → ``(B, Σ_l H'_l W'_l, D)``.
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (64, 128, 256),
        embed_dim: int = 768,
        num_downsamples: Sequence[int] = (2, 1, 0),
        init_cfg: dict | list | None = None,
    ):
        if init_cfg is None:
            init_cfg = dict(type='Kaiming', layer='Conv2d', mode='fan_out', bias=0)
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != len(num_downsamples):
            raise ValueError(
                f'PyramidTokenEmbed: {len(in_channels)} in_channels vs {len(num_downsamples)} levels'
            )
        self.num_downsamples = tuple(num_downsamples)
        levels = []
        for c, k in zip(in_channels, num_downsamples):
            if k == 0:
                levels.append(nn.Sequential(nn.Conv2d(c, embed_dim, 1)))
            else:
                convs = [nn.Conv2d(c if j == 0 else embed_dim, embed_dim, 3, 2, 1) for j in range(k)]
                levels.append(nn.Sequential(*convs))
        self.levels = nn.ModuleList(levels)

    def num_tokens(self, sizes: Sequence[int]) -> int:
        """Tokens produced for square level maps of the given sides."""
        return sum(_conv_out(s, k) ** 2 for s, k in zip(sizes, self.num_downsamples))

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(feats) != len(self.levels):
            raise ValueError(f'PyramidTokenEmbed expects {len(self.levels)} maps, got {len(feats)}')
        return torch.cat([lvl(f).flatten(2).transpose(1, 2) for lvl, f in zip(self.levels, feats)], dim=1)


class Attention(nn.Module):
    """Multi-head self-attention, fused (timm naming: ``qkv``, ``proj``)."""

    def __init__(
        self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0, fused: bool = True
    ):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop, self.fused = attn_drop, fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        drop = self.attn_drop if self.training else 0.0
        if self.fused:
            o = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)
        else:
            o = F.dropout(((q * self.scale) @ k.transpose(-2, -1)).softmax(-1), drop, self.training) @ v
        return self.proj(o.transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    """Pre-norm ViT block: ``x + MHSA(LN(x))``, then ``x + MLP(LN(x))`` (ARBEx Eq. 7-8)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop_path: float,
        eps: float,
        fused: bool,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias, fused=fused)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


@MODELS.register_module()
class PosterFusionViT(BaseModule):
    """The POSTER++ fusion ViT over the pyramid tokens (ARBEx Eq. 7-8).

    Prepends a CLS token, adds a learned position embedding, runs ``depth``
    pre-norm blocks and a final LayerNorm.

    Args:
        num_tokens: Input tokens ``N`` (POSTER++: 147).
        embed_dim: ``D`` (768).
        depth: Blocks (2).
        num_heads: Heads (8).
        mlp_ratio: MLP hidden / ``D`` (4).
        qkv_bias: Bias in ``qkv`` (True).
        drop_path: Stochastic-depth rate of the last block (linear ramp from 0;
            POSTER++: 0).
        norm_eps: LayerNorm epsilon (1e-6).
        fused: Fused ``scaled_dot_product_attention``.
        init_cfg: mmengine init config (default: the public ViT init,
            trunc-normal(0.01) Linear, zero bias; CLS/position trunc-normal(0.02)).

    Shapes:
        ``(B, N, D)`` → ``(B, N + 1, D)`` (index 0 = CLS).
    """

    def __init__(
        self,
        num_tokens: int = 147,
        embed_dim: int = 768,
        depth: int = 2,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        norm_eps: float = 1e-6,
        fused: bool = True,
        init_cfg: dict | list | None = None,
    ):
        if init_cfg is None:
            init_cfg = [
                dict(type='TruncNormal', layer='Linear', std=0.01, bias=0),
                dict(type='Constant', layer='LayerNorm', val=1, bias=0),
            ]
        super().__init__(init_cfg=init_cfg)
        self.num_tokens = num_tokens
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens + 1, embed_dim))
        dpr = torch.linspace(0, drop_path, depth).tolist() if depth > 1 else [drop_path]
        self.blocks = nn.Sequential(
            *[Block(embed_dim, num_heads, mlp_ratio, qkv_bias, dpr[i], norm_eps, fused) for i in range(depth)]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)

    def init_weights(self) -> None:
        super().init_weights()
        trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 3 or tokens.shape[1] != self.num_tokens:
            raise ValueError(
                f'PosterFusionViT expects (B, {self.num_tokens}, D) tokens, got {tuple(tokens.shape)}'
            )
        x = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))


@MODELS.register_module()
class PosterV2(BaseModule):
    """POSTER++ trunk: IR-50 image stream × frozen MobileFaceNet landmark queries → fusion ViT.

    See the module docstring for the data flow. Landmark-stream options:

    * ``landmark_bn='eval'`` (default): the paper's "frozen" stream, BN in eval
      mode whatever ``train()`` says. ``'train'``: the public behaviour, where
      ``model.train()`` also puts the frozen stream in train mode and its BN
      running statistics drift with the training data (its weights stay fixed).
    * ``landmark_queries='landmark'`` (default) uses the landmark maps as
      queries; ``'constant'`` replaces them by one learned ``(w², d)`` query per
      level (image stream only: no landmark network is built).
    * The landmark weights arrive in ``init_weights``: set
      ``landmark=dict(..., pretrained='file')`` (public
      ``mobilefacenet_model_best.pth.tar`` or a ferlab landmark checkpoint);
      without a file the frozen stream keeps its random initialisation.

    Args:
        image: Config of the image backbone (IR-50, 3 stages, all 3 taps).
        landmark: Config of the landmark backbone (MobileFaceNet, taps
            ``conv_3``, ``conv_4``, ``conv_6_sep``).
        input_size: Side both streams run at; inputs of another size are
            resized with legacy ``nearest`` (POSTER++: 224 → 112).
        dims: Image-stream channels per level (64, 128, 256).
        num_heads: Cross-attention heads per level (2, 4, 8).
        landmark_channels: Landmark tap channels (64, 128, 512); a tap whose
            channels differ from ``dims`` goes through a 3×3 conv
            (``landmark_conv``, POSTER++: level 3, 512 → 256).
        drop_path: Cross-attention stochastic depth per level (0, 0.125, 0.25).
        mlp_ratio: Cross-attention MLP ratio (4).
        layer_scale: Cross-attention layer-scale init (1e-5).
        query_proj: Cross-attention query projection (paper ``True``, public
            ``False``; see :class:`WindowCrossAttention`).
        residual: Cross-attention residual (paper ``'input'``, public ``'norm'``).
        embed_dim: Fusion token dimension (768).
        num_downsamples: Stride-2 convs per level in the token embedding (2, 1, 0).
        depth: Fusion ViT blocks (2).
        vit_heads: Fusion ViT heads (8).
        landmark_bn: ``'eval'`` or ``'train'`` (see above).
        landmark_queries: ``'landmark'`` or ``'constant'`` (see above).
        fused: Fused attention kernels everywhere.
        init_cfg: mmengine init config of the trunk's own convs.

    Shapes:
        ``(B, 3, H, W)`` → ``((B, D),)``: the CLS token after the final LayerNorm.
        :meth:`forward_levels` gives the three cross-attention outputs, at
        112×112 ``(B, 64, 28, 28)``, ``(B, 128, 14, 14)``, ``(B, 256, 7, 7)``;
        :meth:`forward_features` all ``(B, 148, D)`` fusion tokens.
    """

    def __init__(
        self,
        image: dict | None = None,
        landmark: dict | None = None,
        input_size: int = 112,
        dims: Sequence[int] = (64, 128, 256),
        num_heads: Sequence[int] = (2, 4, 8),
        landmark_channels: Sequence[int] = (64, 128, 512),
        drop_path: Sequence[float] = (0.0, 0.125, 0.25),
        mlp_ratio: float = 4.0,
        layer_scale: float | None = 1e-5,
        query_proj: bool = True,
        residual: str = 'input',
        embed_dim: int = 768,
        num_downsamples: Sequence[int] = (2, 1, 0),
        depth: int = 2,
        vit_heads: int = 8,
        landmark_bn: str = 'eval',
        landmark_queries: str = 'landmark',
        fused: bool = True,
        init_cfg: dict | list | None = None,
    ):
        if init_cfg is None:
            init_cfg = dict(type='Kaiming', layer='Conv2d', mode='fan_out', bias=0)
        super().__init__(init_cfg=init_cfg)
        if landmark_bn not in ('eval', 'train'):
            raise ValueError(f"PosterV2 landmark_bn must be 'eval' or 'train', got {landmark_bn!r}")
        if landmark_queries not in ('landmark', 'constant'):
            raise ValueError(
                f"PosterV2 landmark_queries must be 'landmark' or 'constant', got {landmark_queries!r}"
            )
        if (
            not len(dims)
            == len(num_heads)
            == len(landmark_channels)
            == len(drop_path)
            == len(num_downsamples)
        ):
            raise ValueError(
                'PosterV2: dims, num_heads, landmark_channels, drop_path, num_downsamples need one entry per level'
            )
        image = image or dict(type='IResNet', depth=50, num_stages=3, out_indices=(0, 1, 2))
        self.input_size = input_size
        self.landmark_bn, self.landmark_queries = landmark_bn, landmark_queries
        self.image = MODELS.build(image)
        # Image stage i is input/2^(i+1); the stride-2 conv halves it again; one window per map.
        windows = [_conv_out(_conv_out(input_size, i + 1), 1) for i in range(len(dims))]
        self.window_sizes = windows
        self.image_convs = nn.ModuleList([nn.Conv2d(d, d, 3, 2, 1) for d in dims])
        if landmark_queries == 'landmark':
            landmark = landmark or dict(
                type='MobileFaceNet', out_indices=('conv_3', 'conv_4', 'conv_6_sep'), with_output_layer=False
            )
            self.landmark = MODELS.build(landmark)
            self.landmark.requires_grad_(False)
            self.landmark_conv = nn.ModuleList(
                [
                    nn.Conv2d(c, d, 3, 1, 1) if c != d else nn.Identity()
                    for c, d in zip(landmark_channels, dims)
                ]
            )
            self.query_tokens = None
        else:
            self.landmark = None
            self.landmark_conv = None
            self.query_tokens = nn.ParameterList(
                [nn.Parameter(torch.zeros(w * w, d)) for w, d in zip(windows, dims)]
            )
        self.cross_attn = ModuleList(  # mmengine's: init_weights reaches every level
            [
                WindowCrossAttention(
                    d, h, w, mlp_ratio, dp, layer_scale, query_proj=query_proj, residual=residual, fused=fused
                )
                for d, h, w, dp in zip(dims, num_heads, windows, drop_path)
            ]
        )
        self.token_embed = PyramidTokenEmbed(dims, embed_dim, num_downsamples)
        self.fusion = PosterFusionViT(
            self.token_embed.num_tokens(windows), embed_dim, depth, vit_heads, fused=fused
        )
        self.out_channels = [embed_dim]
        self.train()

    def init_weights(self) -> None:
        """Children first (IR-50 / MobileFaceNet load their ``pretrained`` files), then the learned queries."""
        super().init_weights()
        if self.query_tokens is not None:
            for q in self.query_tokens:
                trunc_normal_(q, std=0.02)

    def train(self, mode: bool = True) -> 'PosterV2':
        super().train(mode)
        if self.landmark is not None and self.landmark_bn == 'eval':
            self.landmark.eval()
        return self

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f'PosterV2 expects (B, 3, H, W) inputs, got {tuple(x.shape)}')
        if x.shape[-2:] != (self.input_size, self.input_size):
            # Legacy 'nearest' (POSTER++: F.interpolate(x, size=112)); 224 -> 112 keeps x[..., ::2, ::2].
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode='nearest')
        return x

    def landmark_queries_of(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-level queries ``(B, w², d)`` (or ``(w², d)`` learned constants) for resized inputs."""
        if self.query_tokens is not None:
            return list(self.query_tokens)
        with torch.no_grad():
            maps = self.landmark(x)
        return [conv(m).flatten(2).transpose(1, 2) for conv, m in zip(self.landmark_conv, maps)]

    def forward_levels(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Cross-attention outputs per level, ``(B, d_l, w_l, w_l)``."""
        x = self._resize(inputs)
        queries = self.landmark_queries_of(x)
        feats = self.image(x)
        return tuple(
            attn(conv(f), q) for attn, conv, f, q in zip(self.cross_attn, self.image_convs, feats, queries)
        )

    def forward_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """All fusion tokens after the final LayerNorm, ``(B, N + 1, D)``."""
        return self.fusion(self.token_embed(self.forward_levels(inputs)))

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor]:
        """``((B, D),)``: the CLS token after the final LayerNorm."""
        return (self.forward_features(inputs)[:, 0],)
