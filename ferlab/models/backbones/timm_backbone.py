"""Any timm model as a ferlab backbone."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ferlab.models.utils.pretrained import load_pretrained_file
from ferlab.registry import MODELS


@MODELS.register_module()
class TimmBackbone(BaseModule):
    """Wrap ``timm.create_model`` with local-only pretrained weights.

    Args:
        model_name: Any name ``timm.list_models()`` knows, e.g. ``'resnet18'``,
            ``'deit_small_patch16_224'``, ``'convnext_tiny'``.
        pretrained: Path of a local weight file (timm's own state dict or a
            plain ``state_dict``; ``.pth``, ``.bin`` or ``.safetensors``), or
            ``None``. A missing file raises ``FileNotFoundError`` naming it.
        features_only: Return multi-scale feature maps (CNNs).
        out_indices: Which feature levels with ``features_only``.
        in_channels: Input channels.
        pooled: Return the pooled pre-logits vector `(B, D)` instead of features.
        resize_input: Bilinearly resize every input to ``resize_input`` ×
            ``resize_input`` first (``None``: as given). HRNet's fuse layers
            upsample by exact factors of 2, so its input side must be a
            multiple of 32: 112 px faces run at 128.
        deploy: Build the inference-time (re-parameterised) structure:
            timm's ``reparameterize_model`` fuses the multi-branch blocks
            (RepVGG's 3×3 + 1×1 + identity branches, Ding et al. 2021,
            Sec. 3.3) into single convolutions. Such a backbone loads the
            checkpoints written by ``tools/model_converters/reparameterize.py``
            (or :meth:`reparameterize` on a trained model); ``pretrained``
            files are training-structure weights and are refused here.
        **kwargs: Passed to ``timm.create_model`` (``img_size``, ``depth``…).

    Shapes:
        inputs ``(B, C, H, W)`` (resized to ``resize_input`` if set) → ``features_only``: a tuple of
        ``(B, C_i, H_i, W_i)``; otherwise a 1-tuple with
        ``forward_features`` output (``(B, C, h, w)`` for CNNs, ``(B, N, D)``
        tokens for ViTs), or pooled ``(B, D)`` with ``pooled=True``.
    """

    def __init__(
        self,
        model_name: str,
        pretrained: str | None = None,
        features_only: bool = False,
        out_indices: Sequence[int] | None = None,
        in_channels: int = 3,
        pooled: bool = False,
        resize_input: int | None = None,
        deploy: bool = False,
        init_cfg: dict | None = None,
        **kwargs,
    ):
        super().__init__(init_cfg=init_cfg)
        if resize_input is not None and (not isinstance(resize_input, int) or resize_input <= 0):
            raise ValueError(
                f'TimmBackbone resize_input must be a positive int or None, got {resize_input!r}'
            )
        if deploy and pretrained is not None:
            raise ValueError(
                f'TimmBackbone({model_name!r}, deploy=True) cannot load pretrained={pretrained!r}: '
                'pretrained files hold training-structure weights; train (or load) with '
                'deploy=False and convert with tools/model_converters/reparameterize.py'
            )
        import timm

        # 'arch.tag' names (e.g. 'vit_base_patch16_224.augreg_in21k') select a config only.
        arch = model_name.split('.', 1)[0]
        known = timm.list_models()
        if arch not in known:
            import difflib

            close = difflib.get_close_matches(arch, known, n=5)
            raise ValueError(f'timm has no model {model_name!r}; closest: {close}')
        create_kwargs = dict(pretrained=False, in_chans=in_channels, **kwargs)
        if features_only:
            create_kwargs['features_only'] = True
            if out_indices is not None:
                create_kwargs['out_indices'] = tuple(out_indices)
        else:
            create_kwargs.setdefault('num_classes', 0)
        self.timm_model = timm.create_model(model_name, **create_kwargs)
        self.features_only = features_only
        self.pooled = pooled
        self.model_name = model_name
        self.pretrained = pretrained
        self.resize_input = resize_input
        self.deploy = False
        if deploy:
            self.reparameterize()
        feature_info = getattr(self.timm_model, 'feature_info', None)
        if features_only and feature_info is not None:
            self.out_channels = list(feature_info.channels())
        else:
            self.out_channels = [getattr(self.timm_model, 'num_features', None)]

    def _match_keys(self, state: dict) -> dict:
        """Align a plain timm state dict with the wrapped model's keys.

        ``features_only`` wraps some models (ViTs, …) in a module whose keys
        carry a ``model.`` prefix; ferlab checkpoints of this backbone carry
        ``timm_model.``. Both directions are handled.
        """
        own = set(self.timm_model.state_dict())
        out = {}
        for key, value in state.items():
            if key.startswith('timm_model.'):
                key = key[len('timm_model.') :]
            if key not in own and f'model.{key}' in own:
                key = f'model.{key}'
            elif key not in own and key.startswith('model.') and key[len('model.') :] in own:
                key = key[len('model.') :]
            out[key] = value
        return out

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (if any), then the local pretrained file (if any).

        timm initialises its weights at construction, so without either this
        keeps them.
        """
        if self.init_cfg is not None:
            super().init_weights()
        if self.pretrained is not None:
            load_pretrained_file(
                self.timm_model,
                self.pretrained,
                what=f'timm {self.model_name} weights',
                key_map=self._match_keys,
                how_to_get=f'export them once with timm.create_model({self.model_name!r}, '
                'pretrained=True).state_dict() on a machine with hub access',
            )

    def reparameterize(self) -> int:
        """Fuse the wrapped model into its inference structure, in place (irreversible).

        Uses timm's ``reparameterize_model``: every sub-module with ``fuse()``
        is replaced by its result, every one with ``reparameterize()`` /
        ``switch_to_deploy()`` converts itself (RepVGG: the 3×3, 1×1 and
        identity branches with their BatchNorms become one 3×3 convolution
        with bias, Ding et al. 2021, Eq. 3-4). In eval mode the outputs are
        unchanged up to float rounding; the state dict's keys change (e.g.
        ``conv_kxk.*`` / ``conv_1x1.*`` / ``identity.*`` → ``reparam_conv.*``).

        Returns:
            The number of sub-modules that were fused or re-parameterised.

        Raises:
            ValueError: The timm model has nothing to re-parameterise.
        """
        from timm.models._manipulate import reparameterize_model

        def convertible(m: nn.Module) -> bool:
            return any(hasattr(m, name) for name in ('fuse', 'reparameterize', 'switch_to_deploy'))

        count = sum(1 for m in self.timm_model.modules() if m is not self.timm_model and convertible(m))
        if count == 0:
            raise ValueError(
                f'TimmBackbone: timm model {self.model_name!r} has no blocks to re-parameterise '
                '(no fuse/reparameterize/switch_to_deploy); use deploy=False'
            )
        was_training = self.timm_model.training
        self.timm_model = reparameterize_model(self.timm_model, inplace=True)
        self.timm_model.train(was_training)
        self.deploy = True
        return count

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.resize_input is not None and tuple(inputs.shape[-2:]) != (self.resize_input,) * 2:
            inputs = F.interpolate(
                inputs, size=(self.resize_input, self.resize_input), mode='bilinear', align_corners=False
            )
        if self.features_only:
            return tuple(self.timm_model(inputs))
        if self.pooled:
            return (self.timm_model(inputs),)
        return (self.timm_model.forward_features(inputs),)
