"""A re-implementation of the public AU-ViT CNN-ViT (msy1412/AU-ViT @ f2bccd8) for tests.

Written from the facts measured on ``models/IR_RVT_AU_plus_patch.py`` (``IR50_ViT``) and the
training scripts: the same module names and nesting, so ``state_dict()`` has the public key
layout including the modules its forward never uses (the top-level ``norm`` LayerNorm([196,
256]), ``vit.pools``, ``vit.pos_block``, ``vit.output_layer``), and the same forward with plain
explicit operations (softmax attention, ``AdaptiveAvgPool2d``; the per-sample ``.squeeze()`` of
the public code is replaced by ``flatten(1)`` so that a batch of one runs here too).
``save_public_checkpoint`` writes the scripts' ``save_model`` layout: ``{'opt':
argparse.Namespace, 'model': state_dict (``module.`` under DataParallel), 'optimizer', 'epoch'}``.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn as nn

MOUTH = 14


class BottleneckIRPublic(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        if i == o:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(i),
            nn.Conv2d(i, o, 3, 1, 1, bias=False),
            nn.PReLU(o),
            nn.Conv2d(o, o, 3, stride, 1, bias=False),
            nn.BatchNorm2d(o),
        )

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


class IR50Stages123(nn.Module):
    """face.evoLVe ``Backbone(112, 50, 'ir')`` with stage 4 and the output layer removed."""

    def __init__(self):
        super().__init__()
        self.input_layer = nn.Sequential(
            nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64)
        )
        units = []
        for i, o, n in ((64, 64, 3), (64, 128, 4), (128, 256, 14)):
            units += [BottleneckIRPublic(i, o, 2)] + [BottleneckIRPublic(o, o, 1) for _ in range(n - 1)]
        self.body = nn.Sequential(*units)

    def forward(self, x):
        return self.body(self.input_layer(x))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """Blocks over ``(B, C, H, W)``: flattened row-major (``b c h w -> b (h w) c``) and back."""

    def __init__(self, dim, depth, heads):
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))

    def forward(self, x):
        B, C, H, W = x.shape
        x = x.flatten(2).transpose(1, 2)
        for blk in self.blocks:
            x = blk(x)
        return x.transpose(1, 2).reshape(B, C, H, W)


class ConvHeadPooling(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.conv = nn.Conv2d(i, o, 3, padding=1, stride=2, groups=i)


class PosConv(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim))


def _region(x, rows, cols):
    return x[:, :, rows, cols]


#: Regions of each public ``num_AU_patch`` split: (suffix, rows, cols, n_outputs), in module order.
PUBLIC_SPLITS = {
    7: [
        ('AU11', slice(None, 7), slice(None, 7), 4),
        ('AU12', slice(None, 7), slice(4, 10), 1),
        ('AU13', slice(None, 7), slice(7, None), 4),
        ('AU21', slice(5, 12), slice(None, 6), 1),
        ('AU22', slice(4, 10), slice(4, 10), 1),
        ('AU23', slice(5, 12), slice(8, None), 1),
        ('AU3', slice(6, None), slice(None), MOUTH),
    ],
    5: [
        ('AU1', slice(None, 7), slice(None), 5),
        ('AU21', slice(5, 12), slice(None, 6), 1),
        ('AU22', slice(4, 10), slice(4, 10), 1),
        ('AU23', slice(5, 12), slice(8, None), 1),
        ('AU3', slice(6, None), slice(None), MOUTH),
    ],
    3: [
        ('AU1', slice(None, 7), slice(None), 5),
        ('AU2', slice(4, 12), slice(None), 2),
        ('AU3', slice(6, None), slice(None), MOUTH),
    ],
    1: [('AU', slice(None), slice(None), 21)],
}


class PoolingTransformer(nn.Module):
    def __init__(self, num_classes=7, num_au_patch=7):
        super().__init__()
        dim, heads = 512, 16
        self.num_AU_patch = num_au_patch
        self.pos_embed = nn.Parameter(torch.zeros(1, 196, dim))
        self.pos_drop = nn.Dropout(0.0)
        self.patch_embed = nn.Conv2d(256, dim, 3, padding=1)
        self.transformers = nn.ModuleList([Transformer(dim, 4, heads), Transformer(dim, 2, heads)])
        self.pools = nn.ModuleList([ConvHeadPooling(dim, dim)])
        self.pos_block = nn.ModuleList([PosConv(dim), PosConv(dim)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        if num_au_patch == 2:
            self.gap_upperAU, self.gap_lowerAU = nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d(1)
            self.norm_AU_up = nn.LayerNorm(dim, eps=1e-6)
            self.norm_AU_low = nn.LayerNorm(dim, eps=1e-6)
            self.upperAU_head = nn.Linear(dim, 7)
            self.lowerAU_head = nn.Linear(dim, MOUTH)
        else:
            for name, _, _, n in PUBLIC_SPLITS[num_au_patch]:
                setattr(self, f'gap_{name}', nn.AdaptiveAvgPool2d(1))
                setattr(self, f'norm_{name}', nn.LayerNorm(dim, eps=1e-6))
                setattr(self, f'head_{name}' if num_au_patch != 1 else 'AU_head', nn.Linear(dim, n))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.output_layer = nn.Sequential(nn.Dropout(), nn.Flatten(), nn.Linear(dim * 196, dim), nn.ReLU())
        self.head = nn.Linear(dim, num_classes)

    def _pooled(self, name, x, rows, cols):
        head = self.AU_head if name == 'AU' else getattr(self, f'head_{name}')
        pooled = getattr(self, f'gap_{name}')(_region(x, rows, cols)).flatten(1)
        return head(getattr(self, f'norm_{name}')(pooled))

    def au_branch(self, x):
        B = x.shape[0]
        if self.num_AU_patch == 2:
            up = self.upperAU_head(self.norm_AU_up(self.gap_upperAU(x[:, :, :8, :]).flatten(1)))
            low = self.lowerAU_head(self.norm_AU_low(self.gap_lowerAU(x[:, :, 6:, :]).flatten(1)))
            return torch.cat((up, low), dim=1)
        out = {name: self._pooled(name, x, r, c) for name, r, c, _ in PUBLIC_SPLITS[self.num_AU_patch]}
        if self.num_AU_patch == 7:
            eyes = torch.maximum(out['AU11'], out['AU13'])
            au6 = torch.maximum(out['AU21'], out['AU23'])
            parts = (
                eyes[:, :2],
                out['AU12'],
                eyes[:, 2].view(B, -1),
                au6,
                eyes[:, 3].view(B, -1),
                out['AU22'],
            )
            return torch.cat(parts + (out['AU3'],), dim=1)
        if self.num_AU_patch == 5:
            up, au6 = out['AU1'], torch.maximum(out['AU21'], out['AU23'])
            return torch.cat((up[:, :4], au6, up[:, 4].view(B, -1), out['AU22'], out['AU3']), dim=1)
        if self.num_AU_patch == 3:
            up, mid = out['AU1'], out['AU2']
            parts = (
                up[:, :4],
                mid[:, 0].view(B, -1),
                up[:, 4].view(B, -1),
                mid[:, 1].view(B, -1),
                out['AU3'],
            )
            return torch.cat(parts, dim=1)
        return out['AU']

    def forward(self, x):
        x = self.patch_embed(x)
        B, C, H, W = x.shape
        x = (x.flatten(2).transpose(1, 2) + self.pos_embed).transpose(1, 2).reshape(B, C, H, W)
        x = self.transformers[0](self.pos_drop(x))
        au = self.au_branch(x)
        x = self.transformers[1](x)
        return self.head(self.norm(self.gap(x).flatten(1))), au


class IR50ViTPublic(nn.Module):
    """``IR50_ViT(num_classes, num_AU_patch)``: returns ``(expr_logits (B, K), au_logits (B, 21))``."""

    def __init__(self, num_classes=7, num_au_patch=2):
        super().__init__()
        self.cnn = IR50Stages123()
        self.norm = nn.LayerNorm([196, 256])  # built, never used
        self.vit = PoolingTransformer(num_classes, num_au_patch)

    def forward(self, x):
        return self.vit(self.cnn(x))


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Unit-scale random values for every parameter and BN statistic."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and name.endswith('weight'):  # norm scales and PReLU slopes near 1
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1 or name.endswith('pos_embed'):  # biases, position embedding
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
        for name, b in model.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith('running_var'):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif name.endswith('num_batches_tracked'):
                b.fill_(3)
    return model


def save_public_checkpoint(model: nn.Module, path, epoch: int = 9, data_parallel: bool = True) -> dict:
    """Write ``model`` as the public scripts' ``save_model`` does; returns the saved state."""
    opt = argparse.Namespace(optimizer='adam', learning_rate=1e-4, weight_decay=5e-4, AU_patch=2, epochs=10)
    prefix = 'module.' if data_parallel else ''
    params = [p for p in model.parameters()]
    state = {
        'opt': opt,
        'model': {f'{prefix}{k}': v for k, v in model.state_dict().items()},
        'optimizer': {
            'state': {0: {'step': torch.tensor(3.0), 'exp_avg': torch.zeros_like(params[0])}},
            'param_groups': [{'lr': 1e-4, 'weight_decay': 5e-4, 'params': list(range(len(params)))}],
        },
        'epoch': epoch,
    }
    torch.save(state, str(path))
    return state
