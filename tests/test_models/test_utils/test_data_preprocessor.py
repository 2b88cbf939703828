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


def _images(n, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g) for _ in range(n)]


def test_channels_last_batches_hold_the_same_values_in_nhwc():
    images = _images(3, 5)
    nchw = build(channels_last=False)(dict(inputs=images))['inputs']
    nhwc = build(channels_last=True)(dict(inputs=images))['inputs']
    assert nchw.is_contiguous() and not nchw.is_contiguous(memory_format=torch.channels_last)
    assert nhwc.is_contiguous(memory_format=torch.channels_last) and nhwc.shape == (3, 3, 5, 5)
    assert nhwc.stride() == (75, 1, 15, 3)  # C is the fastest axis
    assert torch.equal(nchw, nhwc)
    # also after the training-only batch augments, which may return NCHW tensors
    pre = build(channels_last=True, batch_augments=[dict(type='_ContiguousBatchAugment')])
    assert pre(dict(inputs=images), training=True)['inputs'].is_contiguous(memory_format=torch.channels_last)
    # video batches (B, T, C, H, W) keep their layout
    clip = torch.zeros(4, 3, 2, 2, dtype=torch.uint8)
    assert build(channels_last=True)(dict(inputs=[clip]))['inputs'].is_contiguous()


@MODELS.register_module(name='_ContiguousBatchAugment', force=True)
class _ContiguousBatchAugment:
    def __call__(self, inputs, data_samples):
        return inputs.contiguous(), data_samples


def _resnet(channels_last, **backbone):
    cfg = dict(
        type='FERClassifier',
        data_preprocessor=dict(type='FERDataPreprocessor', channels_last=channels_last),
        backbone=dict(type='ResNet', depth=18, out_indices=(3,), **backbone),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=7, in_channels=512),
    )
    torch.manual_seed(0)
    return MODELS.build(cfg).eval()


def _iresnet(channels_last):
    cfg = dict(
        type='FERClassifier',
        data_preprocessor=dict(type='FERDataPreprocessor', channels_last=channels_last),
        backbone=dict(type='IResNet', depth=50, num_stages=2, input_size=32),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=7, in_channels=128),
    )
    torch.manual_seed(0)
    return MODELS.build(cfg).eval()


@pytest.mark.parametrize('family', ['resnet18', 'iresnet'])
def test_channels_last_logits_equal_nchw_logits(family):
    """fp32 logits within 1e-5; bf16-autocast logits within bf16 rounding of the fp32 ones."""
    make = _resnet if family == 'resnet18' else _iresnet
    nchw, nhwc = make(False), make(True)
    nhwc.load_state_dict(nchw.state_dict())
    images = _images(8, 32)
    layouts = []
    conv = nhwc.backbone.conv1 if family == 'resnet18' else nhwc.backbone.input_layer[0]
    handle = conv.register_forward_hook(
        lambda m, i, o: layouts.append(o.is_contiguous(memory_format=torch.channels_last))
    )

    def logits(model, amp=False):
        data = model.data_preprocessor(dict(inputs=images), False)
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
            return model(data['inputs'], mode='tensor').float()

    ref = logits(nchw)
    torch.testing.assert_close(logits(nhwc), ref, rtol=1e-5, atol=1e-5)
    assert layouts == [True]  # the convolutions ran on NHWC activations
    handle.remove()
    # bf16: the NHWC and NCHW runs differ from fp32 by bf16 rounding only, and about equally
    # (measured: max |bf16 - fp32| = 0.6 % (ResNet-18), 0.7 % (IResNet) of max |logit|; fp32 NHWC vs
    # NCHW differ by 4e-8 and 6e-8)
    scale = ref.abs().max()
    err_nchw = (logits(nchw, True) - ref).abs().max() / scale
    err_nhwc = (logits(nhwc, True) - ref).abs().max() / scale
    assert err_nchw < 0.05 and err_nhwc < 0.05
    assert err_nchw > 0 and err_nhwc > 0  # autocast did run in bf16


def test_channels_last_auto_follows_autocast():
    """Default 'auto': NCHW in fp32 (unchanged results), NHWC under autocast, where it is faster."""
    pre = build()
    assert pre.channels_last == 'auto'
    images = _images(2, 4)
    assert pre(dict(inputs=images))['inputs'].is_contiguous()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = pre(dict(inputs=images))['inputs']
    assert out.is_contiguous(memory_format=torch.channels_last) and out.dtype == torch.float32
    assert build(channels_last=False)(dict(inputs=images))['inputs'].is_contiguous()
    with pytest.raises(ValueError, match="channels_last must be True, False or 'auto'"):
        build(channels_last='yes')


def test_amp_training_step_runs_convolutions_in_nhwc(monkeypatch):
    """Through the optimizer wrappers: MixedPrecisionOptimWrapper -> NHWC, OptimWrapper -> NCHW."""
    from ferlab.engine.optim_wrappers import precision
    from ferlab.registry import OPTIM_WRAPPERS

    monkeypatch.setenv(precision.ENV_CPU_BF16, '1')
    model = _resnet('auto').train()
    layouts = []
    model.backbone.conv1.register_forward_pre_hook(
        lambda m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    samples = [FERDataSample().set_gt_label(i % 7) for i in range(4)]
    for wrapper_type in ('MixedPrecisionOptimWrapper', 'OptimWrapper'):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        wrapper = OPTIM_WRAPPERS.build(dict(type=wrapper_type, optimizer=optimizer))
        model.train_step(dict(inputs=_images(4, 32), data_samples=samples), wrapper)
    assert layouts == [True, False]
