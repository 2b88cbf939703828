"""Batch preprocessing on the model's device."""

from __future__ import annotations

from typing import Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from ferlab.registry import MODELS


@MODELS.register_module()
class FERDataPreprocessor(BaseDataPreprocessor):
    """Stack uint8 images, move them to the model's device, then normalise.

    Transforms run on uint8 on the CPU workers; the float conversion, BGR→RGB
    swap and normalisation happen here, after the batch reached the model's
    device, so the host→device copy carries 1 byte per pixel and later batch
    augmentations can run on the GPU.

    Args:
        mean: Per-channel mean on the 0–255 scale, in output (RGB) order.
        std: Per-channel std on the 0–255 scale.
        to_rgb: Swap the channel order of 3-channel inputs (loaders decode BGR).
        batch_augments: Configs of callables ``(inputs, data_samples) ->
            (inputs, data_samples)`` applied in training only.
        non_blocking: Passed to ``Tensor.to``.
        channels_last: Memory layout of image batches ``(B, C, H, W)`` (the
            shape is unchanged). In channels-last (NHWC) layout convolutions
            run on NHWC activations, the layout oneDNN's bf16 CPU kernels (and
            cuDNN's tensor-core kernels) prefer. ``'auto'`` (default): NHWC
            when the forward pass runs under autocast (``--amp``), where a
            ResNet-18 step is measurably faster (docs/benchmark.md), NCHW in
            fp32, where it gains nothing measurable and results stay as
            before. ``True`` / ``False``: always / never. Transformer
            configs (DeiT-S in ``configs/mvt/``) set ``False``: there NHWC
            under bf16 measured 0.77x (2 threads) and 0.94x (1 thread) of
            bf16 alone. Logits agree with
            NCHW ones to 1e-7 in fp32. Video batches ``(B, T, C, H, W)`` are
            left as they are.

    Inputs:
        data['inputs']: list of ``(C, H, W)`` uint8 tensors of equal size, or a
            stacked ``(B, C, H, W)`` tensor; video clips as ``(T, C, H, W)``
            each give ``(B, T, C, H, W)``.
    Returns:
        ``dict(inputs=(B, C, H, W) float32, data_samples=list)``; NHWC
        (``channels_last``-contiguous) per ``channels_last``.
    """

    def __init__(
        self,
        mean: Sequence[float] | None = (123.675, 116.28, 103.53),
        std: Sequence[float] | None = (58.395, 57.12, 57.375),
        to_rgb: bool = True,
        batch_augments: list[dict] | None = None,
        non_blocking: bool = False,
        channels_last: bool | str = 'auto',
    ):
        super().__init__(non_blocking)
        self.to_rgb = to_rgb
        if channels_last not in (True, False, 'auto'):
            raise ValueError(f"channels_last must be True, False or 'auto', got {channels_last!r}")
        self.channels_last = channels_last
        if mean is not None:
            if std is None or len(mean) != len(std):
                raise ValueError(f'mean and std need the same length, got mean={mean}, std={std}')
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32), False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32), False)
            self._normalize = True
        else:
            self._normalize = False
        self.batch_augments = [MODELS.build(a) for a in batch_augments or []]

    def _use_channels_last(self, device: torch.device) -> bool:
        if self.channels_last == 'auto':
            return torch.is_autocast_enabled(device.type)
        return self.channels_last

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) != 1:
                raise ValueError(
                    f'FERDataPreprocessor got images of different sizes {sorted(shapes)}; add a '
                    'Resize/CenterCrop to the pipeline so every image has the same size'
                )
            inputs = torch.stack(list(inputs))
        inputs = inputs.to(self.device, non_blocking=self._non_blocking)
        data_samples = data.get('data_samples')
        inputs = inputs.float()
        channel_dim = inputs.dim() - 3
        if self.to_rgb and inputs.shape[channel_dim] == 3:
            inputs = inputs.flip(channel_dim)
        if self._normalize:
            shape = [1] * inputs.dim()
            shape[channel_dim] = -1
            if inputs.shape[channel_dim] == 1 and self.mean.numel() == 3:
                mean, std = self.mean.mean().view(shape), self.std.mean().view(shape)
            else:
                mean, std = self.mean.view(shape), self.std.view(shape)
            inputs = (inputs - mean) / std
        if data_samples is not None:
            data_samples = [s.to(self.device) for s in data_samples]
        if training:
            for aug in self.batch_augments:
                inputs, data_samples = aug(inputs, data_samples)
        if inputs.dim() == 4 and self._use_channels_last(inputs.device):
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return dict(inputs=inputs, data_samples=data_samples)
