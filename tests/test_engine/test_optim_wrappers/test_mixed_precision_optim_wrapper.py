"""MixedPrecisionOptimWrapper: bf16 autocast on CPU, fp32 losses, the no-bf16 fallback, fp16 scaling."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from ferlab.engine.optim_wrappers import precision
from ferlab.registry import MODELS, OPTIM_WRAPPERS
from ferlab.structures import FERDataSample


@pytest.fixture(autouse=True)
def _fresh_log_once(monkeypatch):
    """Each test sees the one-time messages afresh; bf16 counts as native unless a test says otherwise."""
    monkeypatch.setattr(precision, '_LOGGED', set())
    monkeypatch.setenv(precision.ENV_CPU_BF16, '1')


@pytest.fixture
def logged(monkeypatch):
    """Messages of precision.log_once / print_log, in order."""
    messages = []
    monkeypatch.setattr(precision, 'print_log', lambda msg, **kw: messages.append(msg))
    return messages


def _build(model, **kwargs):
    cfg = dict(type='MixedPrecisionOptimWrapper', optimizer=dict(type='SGD', lr=0.1), **kwargs)
    optimizer = cfg.pop('optimizer')
    optimizer = getattr(torch.optim, optimizer.pop('type'))(model.parameters(), **optimizer)
    return OPTIM_WRAPPERS.build(dict(cfg, optimizer=optimizer))


class _RecordingLoss(nn.Module):
    """A loss that records the dtypes it sees (inputs, a matmul inside, the autocast state)."""

    def __init__(self):
        super().__init__()
        self.seen = {}

    def forward(self, feats, target):
        self.seen['input'] = feats[0].dtype
        self.seen['autocast'] = torch.is_autocast_enabled('cpu')
        self.seen['matmul'] = (feats[0] @ feats[0].t()).dtype
        return F.cross_entropy(feats[0], target)


def test_registered_in_ferlab_scope_and_bf16_on_cpu():
    assert OPTIM_WRAPPERS.get('MixedPrecisionOptimWrapper') is not None
    model = nn.Linear(4, 3)
    wrapper = _build(model)
    assert wrapper.device_type == 'cpu' and wrapper.cast_dtype == torch.bfloat16 and wrapper.enabled
    assert wrapper.loss_scaler is None  # bf16 needs no loss scaling
    x = torch.randn(2, 4)
    with wrapper.optim_context(model):
        assert model(x).dtype == torch.bfloat16
    assert model(x).dtype == torch.float32  # only inside the context


def test_loss_modules_run_in_fp32_inside_the_context():
    model = nn.Linear(8, 5)
    loss = _RecordingLoss()
    wrapper = _build(model)
    x, target = torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 4, 0])
    with wrapper.optim_context(model):
        logits = model(x)
        value = loss((logits,), target)
        after = model(x).dtype  # autocast is back on after the loss returned
    assert logits.dtype == torch.bfloat16 and after == torch.bfloat16
    assert loss.seen == dict(input=torch.float32, autocast=False, matmul=torch.float32)
    assert value.dtype == torch.float32
    # With fp32_losses=False the same loss sees bf16 (so the check above can fail)
    plain = _build(model, fp32_losses=False)
    with plain.optim_context(model):
        loss((model(x),), target)
    assert loss.seen['input'] == torch.bfloat16 and loss.seen['matmul'] == torch.bfloat16


def test_no_hooks_left_behind_even_when_the_loss_raises():
    from torch.nn.modules import module as module_mod

    before = (len(module_mod._global_forward_pre_hooks), len(module_mod._global_forward_hooks))

    class _Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError('boom')

    _Boom.__name__ = 'BoomLoss'
    model = nn.Linear(3, 3)
    wrapper = _build(model)
    with pytest.raises(RuntimeError, match='boom'):
        with wrapper.optim_context(model):
            _Boom()(model(torch.randn(1, 3)))
    assert (len(module_mod._global_forward_pre_hooks), len(module_mod._global_forward_hooks)) == before
    assert not torch.is_autocast_enabled('cpu')


def test_bf16_cross_entropy_is_finite_and_close_to_fp32():
    """A ResNet-18's CE on the same batch: bf16 forward + fp32 loss vs all-fp32 (oracle: F.cross_entropy)."""
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='FERClassifier',
            backbone=dict(type='ResNet', depth=18, out_indices=(3,)),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=7, in_channels=512),
        )
    ).eval()
    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, 48, 48), dtype=torch.uint8, generator=g) for _ in range(16)]
    samples = [FERDataSample().set_gt_label(i % 7) for i in range(16)]
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples), False)
    target = torch.tensor([i % 7 for i in range(16)])
    wrapper = _build(model)
    with torch.no_grad():
        ref = F.cross_entropy(model(data['inputs'], mode='tensor'), target)
        with wrapper.optim_context(model):
            losses = model(data['inputs'], data['data_samples'], mode='loss')
    ce = losses['loss_cls']
    assert ce.dtype == torch.float32 and torch.isfinite(ce)
    # measured here: |bf16 - fp32| = 6e-5 on CE 1.958 (3e-5 relative); bf16 has an 8-bit mantissa
    assert abs(ce.item() - ref.item()) < 5e-3 * ref.item()
    assert ce.item() != ref.item()  # the forward did run in bf16


def test_trains_like_optimwrapper_and_moves_parameters():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    twin = copy.deepcopy(model)
    amp, fp32 = _build(model), OptimWrapper(torch.optim.SGD(twin.parameters(), lr=0.1))
    x, y = torch.randn(64, 16), torch.randint(0, 4, (64,))
    for _ in range(20):
        for m, w in ((model, amp), (twin, fp32)):
            with w.optim_context(m):
                loss = F.cross_entropy(m(x), y)
            w.update_params(loss)
    with torch.no_grad():
        acc_amp = (model(x).argmax(1) == y).float().mean()
        acc_fp32 = (twin(x).argmax(1) == y).float().mean()
    assert acc_amp > 0.5 and abs(acc_amp - acc_fp32) <= 0.1
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))


def test_no_bf16_cpu_falls_back_to_fp32_and_says_so_once(monkeypatch, logged):
    monkeypatch.delenv(precision.ENV_CPU_BF16)
    monkeypatch.setattr(precision, 'cpu_bf16_flags', lambda: {'avx512f'})  # e.g. a Skylake/Ice Lake CPU
    assert not precision.cpu_supports_bf16()
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    twin = copy.deepcopy(model)
    wrappers = [_build(model), _build(nn.Linear(2, 2))]  # two wrappers (e.g. MGN's): one message
    assert all(w.cast_dtype is None and not w.enabled for w in wrappers)
    fallback = [m for m in logged if 'running in fp32' in m]
    assert len(fallback) == 1 and 'avx512_bf16/amx_bf16' in fallback[0]
    # fp32 exactly as OptimWrapper: same loss and same weights, bit for bit
    reference = OptimWrapper(torch.optim.SGD(twin.parameters(), lr=0.1))
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    for m, w in ((model, wrappers[0]), (twin, reference)):
        with w.optim_context(m):
            out = m(x)
            assert out.dtype == torch.float32
            loss = F.cross_entropy(out, y)
        w.update_params(loss)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))


def test_cpu_flag_detection_and_override(monkeypatch):
    monkeypatch.delenv(precision.ENV_CPU_BF16)
    monkeypatch.setattr(precision, 'cpu_bf16_flags', lambda: {'avx512f', 'amx_bf16'})
    assert precision.cpu_supports_bf16()
    monkeypatch.setattr(precision, 'cpu_bf16_flags', lambda: {'avx512f', 'avx512_bf16'})
    assert precision.cpu_supports_bf16()
    monkeypatch.setenv(precision.ENV_CPU_BF16, '0')
    assert not precision.cpu_supports_bf16()
    assert precision.resolve_amp_dtype('cpu') is None
    # the real detection returns a subset of the reported flags, read from /proc/cpuinfo or torch
    assert precision.cpu_bf16_flags() <= set(precision.REPORTED_CPU_FLAGS)


def test_dtype_choices(logged):
    model = nn.Linear(2, 2)
    assert _build(model, dtype='float32').cast_dtype is None
    assert _build(model, dtype='bfloat16').cast_dtype == torch.bfloat16
    # float16 is not used on CPU: bf16 instead, said once
    assert _build(model, dtype='float16').cast_dtype == torch.bfloat16
    assert _build(model, dtype='float16').cast_dtype == torch.bfloat16
    assert sum('float16 autocast is not used on CPU' in m for m in logged) == 1
    with pytest.raises(ValueError, match='dtype must be one of'):
        _build(model, dtype='int8')


def test_float16_loss_scaling_state_round_trip(monkeypatch):
    """The GradScaler path (CUDA fp16), exercised with CPU fp16 autocast."""
    monkeypatch.setattr(precision, 'resolve_amp_dtype', lambda device, dtype='auto': torch.float16)
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    wrapper = _build(model, loss_scale=256.0, clip_grad=dict(max_norm=1.0))
    assert wrapper.cast_dtype == torch.float16 and wrapper.loss_scaler is not None
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        loss = F.cross_entropy(model(torch.randn(8, 4)), torch.randint(0, 3, (8,)))
    wrapper.update_params(loss)
    assert not torch.equal(before, model.weight) and torch.isfinite(model.weight).all()
    state = wrapper.state_dict()
    assert state['loss_scaler']['scale'] == 256.0
    other = _build(nn.Linear(4, 3), loss_scale=8.0)
    other.load_state_dict(copy.deepcopy(state))
    assert other.loss_scaler.get_scale() == 256.0
    # a bf16 wrapper ignores a saved scaler state (resuming a GPU fp16 run on a CPU)
    monkeypatch.setattr(precision, 'resolve_amp_dtype', lambda device, dtype='auto': torch.bfloat16)
    bf16 = _build(nn.Linear(4, 3))
    bf16.load_state_dict(copy.deepcopy(state))
    assert 'loss_scaler' not in bf16.state_dict()


def test_optim_wrapper_cfg_conversion():
    single = precision.mixed_precision_optim_wrapper_cfg(dict(optimizer=dict(type='SGD', lr=0.1)))
    assert single == dict(type='MixedPrecisionOptimWrapper', dtype='auto', optimizer=dict(type='SGD', lr=0.1))
    mmengine_amp = precision.mixed_precision_optim_wrapper_cfg(
        dict(type='AmpOptimWrapper', loss_scale=512.0, dtype='float16', optimizer=dict(type='SGD'))
    )
    assert mmengine_amp['type'] == 'MixedPrecisionOptimWrapper' and mmengine_amp['dtype'] == 'float16'
    assert mmengine_amp['loss_scale'] == 512.0
    mgn = precision.mixed_precision_optim_wrapper_cfg(
        dict(
            constructor='MGNOptimWrapperConstructor',
            generator=dict(optimizer=dict(type='AdamW', lr=1e-3)),
            discriminator=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        )
    )
    assert mgn['constructor'] == 'MGNOptimWrapperConstructor'
    assert mgn['generator']['type'] == mgn['discriminator']['type'] == 'MixedPrecisionOptimWrapper'
    with pytest.raises(ValueError, match="type='ApexOptimWrapper'"):
        precision.mixed_precision_optim_wrapper_cfg(dict(type='ApexOptimWrapper', optimizer=dict(type='SGD')))
    with pytest.raises(ValueError, match='--amp needs optim_wrapper'):
        precision.mixed_precision_optim_wrapper_cfg(dict(constructor='X'))
