"""FERDataPreprocessor: uint8 in, float out on the model's device, BGR->RGB, normalisation."""

import pytest
import torch

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample


def build(**kwargs):
    return MODELS.build(dict(type='FERDataPreprocessor', **kwargs))


def test_uint8_list_is_stacked_converted_swapped_and_normalised():
    pre = build()
    img = torch.zeros(3, 2, 2, dtype=torch.uint8)
    img[0] = 10  # B
    img[1] = 20  # G
    img[2] = 200  # R
    out = pre(dict(inputs=[img, img.clone()], data_samples=[FERDataSample(), FERDataSample()]))
    x = out['inputs']
    assert x.dtype == torch.float32 and x.shape == (2, 3, 2, 2)
    # RGB order after the swap, (x - mean) / std with ImageNet numbers on the 0-255 scale
    expected = [(200 - 123.675) / 58.395, (20 - 116.28) / 57.12, (10 - 103.53) / 57.375]
    for c, value in enumerate(expected):
        assert x[0, c, 0, 0].item() == pytest.approx(value, rel=1e-6)
    assert len(out['data_samples']) == 2


def test_without_swap_and_custom_mean_std():
    pre = build(mean=(1.0, 2.0, 3.0), std=(2.0, 2.0, 2.0), to_rgb=False)
    img = torch.full((1, 3, 1, 1), 11, dtype=torch.uint8)
    assert pre(dict(inputs=img))['inputs'].flatten().tolist() == [5.0, 4.5, 4.0]
    raw = build(mean=None, std=None, to_rgb=False)(dict(inputs=img))['inputs']
    assert raw.dtype == torch.float32 and raw.flatten().tolist() == [11.0, 11.0, 11.0]


def test_grey_input_uses_mean_of_channel_stats():
    pre = build()
    img = torch.full((1, 1, 2, 2), 100, dtype=torch.uint8)
    out = pre(dict(inputs=img))['inputs']
    mean, std = (123.675 + 116.28 + 103.53) / 3, (58.395 + 57.12 + 57.375) / 3
    assert out[0, 0, 0, 0].item() == pytest.approx((100 - mean) / std, rel=1e-6)


def test_video_clip_channel_dim():
    pre = build(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    clip = torch.zeros(4, 3, 2, 2, dtype=torch.uint8)  # (T, C, H, W)
    clip[:, 0] = 1
    out = pre(dict(inputs=[clip]))['inputs']
    assert out.shape == (1, 4, 3, 2, 2)
    assert out[0, :, 2].eq(1).all() and out[0, :, 0].eq(0).all()  # BGR -> RGB on the C axis


def test_conversion_happens_on_the_model_device(monkeypatch):
    pre = build()
    seen = {}
    original = torch.Tensor.to

    def spy(self, *args, **kwargs):
        seen.setdefault('dtype_at_move', self.dtype)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, 'to', spy)
    out = pre(dict(inputs=[torch.zeros(3, 2, 2, dtype=torch.uint8)]))
    monkeypatch.undo()
    assert seen['dtype_at_move'] == torch.uint8  # moved as uint8, converted afterwards
    assert out['inputs'].device == pre.device and out['inputs'].dtype == torch.float32


def test_size_mismatch_error_names_sizes():
    pre = build()
    with pytest.raises(ValueError, match='different sizes'):
        pre(dict(inputs=[torch.zeros(3, 4, 4, dtype=torch.uint8), torch.zeros(3, 5, 4, dtype=torch.uint8)]))


def test_batch_augments_only_in_training():
    calls = []

    @MODELS.register_module(name='_RecordingBatchAugment', force=True)
    class _RecordingBatchAugment:
        def __call__(self, inputs, data_samples):
            calls.append(inputs.shape)
            return inputs * 0, data_samples

    pre = build(batch_augments=[dict(type='_RecordingBatchAugment')])
    img = torch.full((1, 3, 2, 2), 50, dtype=torch.uint8)
    assert pre(dict(inputs=img), training=False)['inputs'].abs().sum() > 0
    assert pre(dict(inputs=img), training=True)['inputs'].abs().sum() == 0
    assert len(calls) == 1
    MODELS._module_dict.pop('_RecordingBatchAugment')


def test_mean_std_length_mismatch():
    with pytest.raises(ValueError, match='same length'):
        build(mean=(1.0, 2.0), std=(1.0,))
