"""A re-implementation of the public POSTER++ module (Talented-Q/POSTER_V2 @ 18de559) for tests.

Written from reading ``models/PosterV2_7cls.py``, ``ir50.py``, ``mobilefacenet.py`` and
``vit_model.py``: the same module names and nesting (so ``state_dict()`` has the public key
layout, including the modules its forward never uses) and the same forward order, with plain
explicit operations (window partition by reshapes, softmax attention, ``F.interpolate`` with
the default mode). No weight files are read. ``save_public_checkpoint`` writes the layout of the
public ``main.py`` (``module.`` prefix, CUDA-tagged ``best_acc``, SAM optimizer state and pickled
``__main__.RecorderMeter1`` / ``__main__.RecorderMeter`` objects holding numpy arrays).
"""

from __future__ import annotations

import math
import sys
from unittest import mock

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------- MobileFaceNet


class Conv_block(nn.Module):  # noqa: N801 - public name
    def __init__(self, i, o, k=1, s=1, p=0, g=1):
        super().__init__()
        self.conv = nn.Conv2d(i, o, k, s, p, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(o)
        self.prelu = nn.PReLU(o)

    def forward(self, x):
        return self.prelu(self.bn(self.conv(x)))


class Linear_block(nn.Module):  # noqa: N801
    def __init__(self, i, o, k=1, s=1, p=0, g=1):
        super().__init__()
        self.conv = nn.Conv2d(i, o, k, s, p, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(o)

    def forward(self, x):
        return self.bn(self.conv(x))


class Depth_Wise(nn.Module):  # noqa: N801
    def __init__(self, i, o, residual=False, s=2, groups=1):
        super().__init__()
        self.conv = Conv_block(i, groups)
        self.conv_dw = Conv_block(groups, groups, 3, s, 1, g=groups)
        self.project = Linear_block(groups, o)
        self.residual = residual

    def forward(self, x):
        y = self.project(self.conv_dw(self.conv(x)))
        return x + y if self.residual else y


class Residual(nn.Module):
    def __init__(self, c, num_block, groups):
        super().__init__()
        self.model = nn.Sequential(*[Depth_Wise(c, c, True, 1, groups) for _ in range(num_block)])

    def forward(self, x):
        return self.model(x)


class GDC(nn.Module):
    def __init__(self, e):
        super().__init__()
        self.conv_6_dw = Linear_block(512, 512, 7, 1, 0, g=512)
        self.conv_6_flatten = nn.Flatten()
        self.linear = nn.Linear(512, e, bias=False)
        self.bn = nn.BatchNorm1d(e)

    def forward(self, x):
        return self.bn(self.linear(self.conv_6_flatten(self.conv_6_dw(x))))


class MobileFaceNet(nn.Module):
    def __init__(self, input_size=(112, 112), embedding_size=136):
        super().__init__()
        self.conv1 = Conv_block(3, 64, 3, 2, 1)
        self.conv2_dw = Conv_block(64, 64, 3, 1, 1, g=64)
        self.conv_23 = Depth_Wise(64, 64, groups=128)
        self.conv_3 = Residual(64, 4, 128)
        self.conv_34 = Depth_Wise(64, 128, groups=256)
        self.conv_4 = Residual(128, 6, 256)
        self.conv_45 = Depth_Wise(128, 128, groups=512)
        self.conv_5 = Residual(128, 2, 256)
        self.conv_6_sep = Conv_block(128, 512)
        self.output_layer = GDC(embedding_size)

    def forward(self, x):
        out = self.conv_23(self.conv2_dw(self.conv1(x)))
        out3 = self.conv_3(out)
        out4 = self.conv_4(self.conv_34(out3))
        feat = self.conv_6_sep(self.conv_5(self.conv_45(out4)))
        self.output_layer(feat)  # computed and unused, as in the public forward
        return out3, out4, feat


# --------------------------------------------------------------------------- IR-50 (body1..3)


class bottleneck_IR(nn.Module):  # noqa: N801
    def __init__(self, i, o, s):
        super().__init__()
        if i == o:
            self.shortcut_layer = nn.MaxPool2d(1, s)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(i, o, 1, s, bias=False), nn.BatchNorm2d(o))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(i),
            nn.Conv2d(i, o, 3, 1, 1, bias=False),
            nn.PReLU(o),
            nn.Conv2d(o, o, 3, s, 1, bias=False),
            nn.BatchNorm2d(o),
        )

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


def _stage(i, o, n):
    return nn.Sequential(bottleneck_IR(i, o, 2), *[bottleneck_IR(o, o, 1) for _ in range(n - 1)])


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layer = nn.Sequential(
            nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64)
        )
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512),
            nn.Dropout(0.0),
            nn.Flatten(),
            nn.Linear(512 * 7 * 7, 512),
            nn.BatchNorm1d(512),
        )
        self.body1 = _stage(64, 64, 3)
        self.body2 = _stage(64, 128, 4)
        self.body3 = _stage(128, 256, 14)

    def forward(self, x):
        x = F.interpolate(x, size=112)
        x1 = self.body1(self.input_layer(x))
        x2 = self.body2(x1)
        return x1, x2, self.body3(x2)


# --------------------------------------------------------------------------- window attention


class window(nn.Module):  # noqa: N801
    def __init__(self, window_size, dim):
        super().__init__()
        self.window_size = window_size
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.norm(x.permute(0, 2, 3, 1))
        B, H, W, C = x.shape
        w = self.window_size
        win = x.view(B, H // w, w, W // w, w, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, C)
        return win, x


class WindowAttentionGlobal(nn.Module):
    def __init__(self, dim, num_heads, window_size):
        super().__init__()
        self.num_heads, self.window_size = num_heads, window_size
        self.scale = (dim / num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        idx = torch.zeros(window_size**2, window_size**2, dtype=torch.long)
        for a in range(window_size**2):
            for b in range(window_size**2):
                dh = a // window_size - b // window_size + window_size - 1
                dw = a % window_size - b % window_size + window_size - 1
                idx[a, b] = dh * (2 * window_size - 1) + dw
        self.register_buffer('relative_position_index', idx)
        self.qkv = nn.Linear(dim, dim * 2)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x, q_global):
        Bw, N, C = x.shape
        B = q_global.shape[0]
        hd = C // self.num_heads
        kv = self.qkv(x).reshape(Bw, N, 2, self.num_heads, hd).permute(2, 0, 3, 1, 4)
        q = q_global.repeat(1, Bw // B, 1, 1, 1).reshape(Bw, self.num_heads, N, hd) * self.scale
        attn = q @ kv[0].transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(N, N, -1)
        attn = (attn + bias.permute(2, 0, 1).unsqueeze(0)).softmax(-1)
        return self.proj((attn @ kv[1]).transpose(1, 2).reshape(Bw, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(0.0)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class feedforward(nn.Module):  # noqa: N801
    def __init__(self, dim, window_size):
        super().__init__()
        self.gamma1 = nn.Parameter(1e-5 * torch.ones(dim))
        self.gamma2 = nn.Parameter(1e-5 * torch.ones(dim))
        self.window_size = window_size
        self.mlp = Mlp(dim, 4 * dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, attn_windows, shortcut):
        B, H, W, C = shortcut.shape
        w = self.window_size
        x = attn_windows.view(B, H // w, W // w, w, w, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)
        x = shortcut + self.gamma1 * x
        return x + self.gamma2 * self.mlp(self.norm(x))


# --------------------------------------------------------------------------- fusion ViT


class PatchEmbed(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(256, 768, kernel_size=1)
        self.norm = nn.Identity()

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.num_heads = 8
        self.scale = (dim // 8) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, 8, C // 8).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim=768, in_chans=147):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.conv = nn.Conv1d(in_chans + 1, in_chans + 1, 1)  # never used in forward
        self.attn = Attention(dim)
        self.drop_path = nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class eca_block(nn.Module):  # noqa: N801
    def __init__(self, channel=128):
        super().__init__()
        k = int(abs((math.log(channel, 2) + 1) / 2))
        k = k if k % 2 else k + 1
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()


class SE_block(nn.Module):  # noqa: N801
    def __init__(self, d):
        super().__init__()
        self.linear1 = nn.Linear(d, d)
        self.relu = nn.ReLU()
        self.linear2 = nn.Linear(d, d)
        self.sigmod = nn.Sigmoid()

    def forward(self, x):
        return x * self.sigmod(self.linear2(self.relu(self.linear1(x))))


class ClassificationHead(nn.Module):
    def __init__(self, d, c):
        super().__init__()
        self.linear = nn.Linear(d, c)

    def forward(self, x):
        return self.linear(x.view(x.size(0), -1))


class VisionTransformer(nn.Module):
    def __init__(self, num_classes=7, embed_dim=768, depth=2):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 148, embed_dim))
        self.pos_drop = nn.Dropout(0.0)
        self.se_block = SE_block(embed_dim)
        self.patch_embed = PatchEmbed()  # never used
        self.head = ClassificationHead(embed_dim, num_classes)
        self.eca_block = eca_block()  # never used
        self.CON1 = nn.Conv2d(256, 768, kernel_size=1, stride=1, bias=False)  # never used
        self.IRLinear1 = nn.Linear(1024, 768)  # never used
        self.IRLinear2 = nn.Linear(768, 512)  # never used
        self.blocks = nn.Sequential(*[Block(embed_dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.pre_logits = nn.Identity()

    def forward(self, x):
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))[:, 0]
        return self.head(self.se_block(x))


class pyramid_trans_expr2(nn.Module):  # noqa: N801
    """The public POSTER++ (``num_classes`` 7 = PosterV2_7cls, 8 = PosterV2_8cls)."""

    def __init__(self, num_classes=7):
        super().__init__()
        dims, heads, wins = [64, 128, 256], [2, 4, 8], [28, 14, 7]
        self.num_heads, self.window_size = heads, wins
        self.N = [w * w for w in wins]
        self.dim_head = [d // h for d, h in zip(dims, heads)]
        self.face_landback = MobileFaceNet([112, 112], 136)
        self.face_landback.requires_grad_(False)
        self.VIT = VisionTransformer(num_classes=num_classes, depth=2)
        self.ir_back = Backbone()
        for i in range(3):
            setattr(self, f'attn{i + 1}', WindowAttentionGlobal(dims[i], heads[i], wins[i]))
            setattr(self, f'window{i + 1}', window(wins[i], dims[i]))
            setattr(self, f'conv{i + 1}', nn.Conv2d(dims[i], dims[i], 3, 2, 1))
        for i in range(3):
            setattr(self, f'ffn{i + 1}', feedforward(dims[i], wins[i]))
        self.last_face_conv = nn.Conv2d(512, 256, 3, padding=1)
        self.embed_q = nn.Sequential(nn.Conv2d(64, 768, 3, 2, 1), nn.Conv2d(768, 768, 3, 2, 1))
        self.embed_k = nn.Sequential(nn.Conv2d(128, 768, 3, 2, 1))
        self.embed_v = PatchEmbed()

    def forward(self, x):
        x_face = F.interpolate(x, size=112)
        f1, f2, f3 = self.face_landback(x_face)
        f3 = self.last_face_conv(f3)
        qs = []
        for f, n, h, d in zip((f1, f2, f3), self.N, self.num_heads, self.dim_head):
            f = f.permute(0, 2, 3, 1)
            qs.append(f.reshape(f.shape[0], 1, n, h, d).permute(0, 1, 3, 2, 4))
        irs = self.ir_back(x)
        outs = []
        for i, (ir, q) in enumerate(zip(irs, qs)):
            ir = getattr(self, f'conv{i + 1}')(ir)
            win, shortcut = getattr(self, f'window{i + 1}')(ir)
            o = getattr(self, f'attn{i + 1}')(win, q)
            outs.append(getattr(self, f'ffn{i + 1}')(o, shortcut).permute(0, 3, 1, 2))
        o1 = self.embed_q(outs[0]).flatten(2).transpose(1, 2)
        o2 = self.embed_k(outs[1]).flatten(2).transpose(1, 2)
        o3 = self.embed_v(outs[2])
        return self.VIT(torch.cat([o1, o2, o3], dim=1))


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random values for every parameter and BN statistic (unit-scale, so no layer is trivial)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'gamma' in name:
                p.copy_(0.5 + torch.rand(p.shape, generator=g))  # layer scale far from 1e-5
            elif p.dim() == 1:
                p.copy_(
                    1.0 + 0.1 * torch.randn(p.shape, generator=g)
                    if 'weight' in name
                    else 0.1 * torch.randn(p.shape, generator=g)
                )
            else:
                fan_in = p[0].numel() if p.dim() > 1 else 1
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
        for name, b in model.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith('running_var'):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif name.endswith('num_batches_tracked'):
                b.fill_(7)
    return model


# --------------------------------------------------------------------------- main.py checkpoint


class RecorderMeter1:
    def __init__(self, total_epoch):
        self.total_epoch = total_epoch
        self.current_epoch = 0
        self.epoch_losses = np.zeros((total_epoch, 2), dtype=np.float32)
        self.epoch_accuracy = np.zeros((total_epoch, 2), dtype=np.float32)
        self.y_pred = np.array([0, 3, 1], dtype=np.int64)
        self.y_true = np.array([0, 3, 2], dtype=np.int64)


class RecorderMeter:
    def __init__(self, total_epoch):
        self.total_epoch = total_epoch
        self.current_epoch = 1
        self.epoch_losses = np.ones((total_epoch, 2), dtype=np.float32)
        self.epoch_accuracy = np.full((total_epoch, 2), 50.0, dtype=np.float32)


# Pickle records the classes under the name of the public script's module.
RecorderMeter1.__module__ = '__main__'
RecorderMeter.__module__ = '__main__'


def _sam_state(model: nn.Module, lr: float = 3.5e-5) -> dict:
    """The shape of ``SAM(params, Adam, rho=0.05).state_dict()`` after a step."""
    params = [p for p in model.parameters() if p.requires_grad]
    state = {
        i: {
            'old_p': p.detach().clone(),
            'step': torch.tensor(3.0),
            'exp_avg': torch.zeros_like(p),
            'exp_avg_sq': torch.zeros_like(p),
        }
        for i, p in enumerate(params[:3])
    }
    group = dict(
        rho=0.05,
        adaptive=False,
        lr=lr,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        initial_lr=lr,
        params=list(range(len(params))),
    )
    return {'state': state, 'param_groups': [group]}


def save_public_checkpoint(model: nn.Module, path, epoch: int = 5, best: bool = False, extra=None) -> dict:
    """Write ``model`` as the public ``main.py`` does (``model.pth``; ``best=True``: ``model_best.pth``).

    ``best_acc`` is tagged as a CUDA tensor in the file (as the public GPU runs write it), so
    loading it needs ``map_location``. Returns the state that was saved.
    """
    state = {
        'epoch': epoch,
        'state_dict': {f'module.{k}': v for k, v in model.state_dict().items()},
        'best_acc': torch.tensor(88.5),
        'optimizer': _sam_state(model),
        'recorder1': RecorderMeter1(200),
        'recorder': RecorderMeter(200),
    }
    if extra:
        state.update(extra)
    obj = state['optimizer'] if best else state  # main.py's model_best.pth: state.pop('optimizer')
    real_tag = torch.serialization.location_tag
    best_ptr = state['best_acc'].untyped_storage().data_ptr()

    def cuda_tag(storage):
        return 'cuda:0' if storage.data_ptr() == best_ptr else real_tag(storage)

    main = sys.modules['__main__']
    with (
        mock.patch('torch.serialization.location_tag', cuda_tag),
        mock.patch.object(main, 'RecorderMeter1', RecorderMeter1, create=True),
        mock.patch.object(main, 'RecorderMeter', RecorderMeter, create=True),
    ):
        torch.save(obj, str(path))
    return state
