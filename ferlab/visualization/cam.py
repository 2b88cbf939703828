"""Class activation maps (Grad-CAM, Grad-CAM++) and attention-map overlays.

Grad-CAM (Selvaraju et al., ICCV 2017, Eqs. 1–2): for class ``c`` with score
``y^c`` and activations ``A^k`` of a target layer,
``α_k = mean_ij ∂y^c/∂A^k_ij`` and ``L^c = ReLU(Σ_k α_k A^k)``.

Grad-CAM++ (Chattopadhay et al., WACV 2018, Eq. 19 with the exponential
output, which gives the closed form used by its authors): with ``g = ∂y^c/∂A``,
``a_ij^k = g² / (2 g² + Σ_ab A^k_ab g³)``, ``w_k = Σ_ij a_ij^k ReLU(g_ij)``,
``L^c = ReLU(Σ_k w_k A^k)``.

Both are implemented with forward/backward hooks on any ``nn.Module`` of a
model whose ``forward(inputs, mode='tensor')`` returns logits ``(B, C)``
(every ferlab classifier). Each sample's map is computed from the gradient
of its own score only, so maps never depend on the rest of the batch in
eval mode.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def get_module(model: nn.Module, name: str) -> nn.Module:
    """The sub-module called ``name`` (``'backbone.layer4'``); a clear error lists close names."""
    modules = dict(model.named_modules())
    if name not in modules:
        import difflib

        close = difflib.get_close_matches(name, list(modules), n=5, cutoff=0.4)
        raise KeyError(f'model has no module {name!r}; closest: {close}')
    return modules[name]


def default_target_layer(model: nn.Module) -> str:
    """The last module of the backbone that outputs a 4-D map: its last child stage."""
    backbone = getattr(model, 'backbone', None)
    if backbone is None:
        raise ValueError('cannot guess a target layer for a model without .backbone; pass target_layer')
    names = [n for n, m in backbone.named_children()]
    stage_names = getattr(backbone, 'stage_names', None)
    if stage_names:
        return f'backbone.{stage_names[-1]}'
    if not names:
        raise ValueError('cannot guess a target layer: the backbone has no children; pass target_layer')
    return f'backbone.{names[-1]}'


class GradCAM:
    """Grad-CAM / Grad-CAM++ for a classifier.

    Args:
        model: A classifier; ``model(inputs, mode='tensor')`` returns ``(B, C)``
            logits (``inputs`` already preprocessed).
        target_layer: Name of the module whose output ``(B, K, h, w)`` is
            explained (default: the last backbone stage).
        plusplus: Use Grad-CAM++ weights.

    ``__call__(inputs (B, 3, H, W), target=None)`` returns
    ``(cams (B, H, W) in [0, 1], classes (B,))``; ``target=None`` explains
    each sample's predicted class.
    """

    def __init__(self, model: nn.Module, target_layer: str | None = None, plusplus: bool = False):
        self.model = model
        self.target_layer = target_layer or default_target_layer(model)
        self.module = get_module(model, self.target_layer)
        self.plusplus = plusplus

    def __call__(
        self, inputs: torch.Tensor, target: int | torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if inputs.dim() != 4:
            raise ValueError(f'GradCAM expects (B, C, H, W) inputs, got {tuple(inputs.shape)}')
        store: dict[str, torch.Tensor] = {}

        def fwd_hook(_m, _i, out):
            out = out[-1] if isinstance(out, (tuple, list)) else out
            if out.dim() != 4:
                raise ValueError(
                    f'{self.target_layer} outputs {tuple(out.shape)}; Grad-CAM needs a (B, K, h, w) map'
                )
            out.retain_grad()
            store['act'] = out

        handle = self.module.register_forward_hook(fwd_hook)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.enable_grad():
                inputs = inputs.detach().requires_grad_(True)
                logits = self.model(inputs, mode='tensor')
                if isinstance(logits, (tuple, list)):
                    logits = logits[-1]
                if logits.dim() != 2:
                    raise ValueError(f'the model returned {tuple(logits.shape)}, expected (B, C) logits')
                if not torch.isfinite(logits).all():
                    raise FloatingPointError('the model produced non-finite logits; check the checkpoint')
                if target is None:
                    classes = logits.argmax(dim=1)
                elif isinstance(target, int):
                    classes = torch.full((logits.size(0),), target, dtype=torch.long, device=logits.device)
                else:
                    classes = target.to(logits.device).long().reshape(-1)
                if classes.numel() != logits.size(0) or classes.min() < 0 or classes.max() >= logits.size(1):
                    raise ValueError(
                        f'target classes {classes.tolist()} invalid for {logits.size(1)} classes'
                    )
                if 'act' not in store:
                    raise RuntimeError(f'{self.target_layer} was not called in the forward pass')
                score = logits.gather(1, classes[:, None]).sum()
                self.model.zero_grad(set_to_none=True)
                score.backward()
        finally:
            handle.remove()
            self.model.train(was_training)
        act = store['act'].detach()
        grad = store['act'].grad.detach()
        if self.plusplus:
            g2, g3 = grad.pow(2), grad.pow(3)
            denom = 2 * g2 + act.sum(dim=(2, 3), keepdim=True) * g3
            alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
            weights = (alpha * grad.relu()).sum(dim=(2, 3), keepdim=True)
        else:
            weights = grad.mean(dim=(2, 3), keepdim=True)
        cam = (weights * act).sum(dim=1, keepdim=True).relu()
        cam = F.interpolate(cam, size=inputs.shape[-2:], mode='bilinear', align_corners=False)[:, 0]
        return normalize_maps(cam), classes.detach()


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each ``(..., H, W)`` map to [0, 1] (constant maps → 0)."""
    flat = maps.flatten(-2)
    lo = flat.min(dim=-1, keepdim=True).values
    hi = flat.max(dim=-1, keepdim=True).values
    out = (flat - lo) / (hi - lo).clamp_min(1e-12)
    return out.reshape(maps.shape)


def head_overlap(maps: torch.Tensor) -> torch.Tensor:
    """Mean pairwise overlap of per-head attention maps, per sample.

    Each head's map ``(h, w)`` (non-negative) is normalised to sum to 1 and
    the overlap of heads ``i, j`` is the histogram intersection
    ``Σ_p min(p_i, p_j)`` ∈ [0, 1] (1 = identical maps, 0 = disjoint).

    Args:
        maps: ``(B, k, h, w)`` with ``k >= 2``.

    Returns:
        ``(B,)`` mean over the ``k(k-1)/2`` pairs.
    """
    if maps.dim() != 4 or maps.size(1) < 2:
        raise ValueError(f'head_overlap needs (B, k>=2, h, w) maps, got {tuple(maps.shape)}')
    p = maps.flatten(2).clamp_min(0)
    p = p / p.sum(-1, keepdim=True).clamp_min(1e-12)
    k = p.size(1)
    pairs = [torch.minimum(p[:, i], p[:, j]).sum(-1) for i in range(k) for j in range(i + 1, k)]
    return torch.stack(pairs, dim=1).mean(dim=1)


def overlay_heatmap(image_rgb: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a ``(h, w)`` map in [0, 1] (resized to the image) onto an ``(H, W, 3)`` uint8 RGB image."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) image, got {image_rgb.shape}')
    h, w = image_rgb.shape[:2]
    cam = cv2.resize(np.asarray(cam, dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(np.uint8(255 * np.clip(cam, 0, 1)), cv2.COLORMAP_JET)[..., ::-1]
    return np.uint8(np.clip((1 - alpha) * image_rgb + alpha * heat, 0, 255))


def make_grid(tiles: list[np.ndarray], titles: list[str] | None = None, pad: int = 4) -> np.ndarray:
    """Place equal-size ``(H, W, 3)`` uint8 tiles in one row, with optional titles above."""
    if not tiles:
        raise ValueError('make_grid needs at least one tile')
    h, w = tiles[0].shape[:2]
    top = 18 if titles else 0
    grid = np.full((h + top, len(tiles) * (w + pad) - pad, 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        if tile.shape[:2] != (h, w):
            tile = cv2.resize(tile, (w, h))
        x0 = i * (w + pad)
        grid[top : top + h, x0 : x0 + w] = tile
        if titles:
            cv2.putText(grid, titles[i][:16], (x0 + 2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    return grid
