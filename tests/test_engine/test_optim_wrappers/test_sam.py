"""SAMOptimWrapper: the SAM/ASAM step against hand computations, BN options, bf16, errors, resume."""

from __future__ import annotations

import copy
import itertools
import os

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.optim import build_optim_wrapper

from ferlab.engine.optim_wrappers import SAMConfigError, precision
from ferlab.registry import HOOKS, MODELS
from ferlab.structures import FERDataSample
from ferlab.utils import safe_torch_load
from tests.utils import REPO_ROOT, make_fake_rafdb, tiny_train_options


class QuadModel(BaseModel):
    """``L(w) = ½‖A w − b‖²`` with ``A`` = inputs, ``b`` = data_samples: ∇L = Aᵀ(A w − b) by hand."""

    def __init__(self, w0):
        super().__init__()
        self.w = nn.Parameter(w0.clone())

    def forward(self, inputs, data_samples=None, mode='loss'):
        r = inputs @ self.w - data_samples
        return dict(loss=0.5 * (r * r).sum())


def _quad_problem():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 3, generator=g, dtype=torch.float64)
    b = torch.randn(5, generator=g, dtype=torch.float64)
    w0 = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    return a, b, w0


def _wrapper(model, **kwargs):
    optimizer = kwargs.pop('optimizer', dict(type='SGD', lr=0.1))
    return build_optim_wrapper(model, dict(type='SAMOptimWrapper', optimizer=optimizer, **kwargs))


@pytest.mark.parametrize('adaptive', [False, True])
def test_two_sgd_steps_equal_closed_form_sam(adaptive):
    a, b, w0 = _quad_problem()
    rho, lr, eta = 0.05, 0.1, 0.01
    model = QuadModel(w0)
    wrapper = _wrapper(model, rho=rho, adaptive=adaptive, eta=eta)
    w = w0.clone()
    for _ in range(2):
        log = model.train_step(dict(inputs=a, data_samples=b), wrapper)
        # hand computation (Foret et al. Eq. 2-3; ASAM: T_w = |w| + eta)
        g = a.T @ (a @ w - b)
        t = w.abs() + eta if adaptive else torch.ones_like(w)
        eps = rho * t * t * g / torch.linalg.vector_norm(t * g)
        g_sam = a.T @ (a @ (w + eps) - b)
        assert log['loss'].item() == pytest.approx(0.5 * float(((a @ w - b) ** 2).sum()), rel=1e-12)
        w = w - lr * g_sam
        torch.testing.assert_close(model.w.detach(), w, rtol=1e-12, atol=1e-12)
    # control: SAM's step differs from plain SGD's (so the test can tell them apart)
    g = a.T @ (a @ w0 - b)
    assert not torch.allclose(w0 - lr * g, _after_one_plain_step(a, b, w0, lr, rho, adaptive, eta))


def _after_one_plain_step(a, b, w0, lr, rho, adaptive, eta):
    model = QuadModel(w0)
    model.train_step(dict(inputs=a, data_samples=b), _wrapper(model, rho=rho, adaptive=adaptive, eta=eta))
    return model.w.detach()


def _classifier_cfg():
    return dict(
        type='FERClassifier',
        backbone=dict(type='ResNet', depth=18, out_indices=(3,)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=7, in_channels=512, loss=dict(type='CrossEntropyLoss')),
    )


def _vit_cfg():
    backbone = dict(
        type='TimmBackbone',
        model_name='vit_tiny_patch16_224',
        pooled=True,
        img_size=16,
        patch_size=8,
        embed_dim=32,
        depth=1,
        num_heads=2,
    )
    head = dict(type='LinearClsHead', num_classes=7, in_channels=32, loss=dict(type='CrossEntropyLoss'))
    return dict(type='FERClassifier', backbone=backbone, head=head)


def _batch(n=4, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g) for _ in range(n)]
    samples = []
    for i in range(n):
        s = FERDataSample().set_gt_label((i * 3 + seed) % 7)
        s.set_metainfo(dict(sample_idx=i))
        samples.append(s)
    return dict(inputs=images, data_samples=samples)


def _hand_written_sam_step(model, opt, batch, rho):
    """SAM written out with torch.autograd.grad on a copy of the model (no wrapper code involved)."""
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    params = [p for p in model.parameters() if p.requires_grad]

    def loss_at_current_weights():
        losses = model(**data, mode='loss')
        return model.parse_losses(losses)[0]

    grads = torch.autograd.grad(loss_at_current_weights(), params)
    norm = torch.sqrt(sum((g * g).sum() for g in grads))
    old = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.add_(rho / norm * g)
    grads2 = torch.autograd.grad(loss_at_current_weights(), params)
    with torch.no_grad():
        for p, w, g in zip(params, old, grads2):
            p.copy_(w)
            p.grad = g.clone()
    opt.step()
    opt.zero_grad()


@pytest.mark.parametrize('optimizer', ['SGD', 'Adam'])
def test_steps_on_fer_classifier_match_hand_written_sam(optimizer):
    """Three steps on a tiny ViT classifier (LayerNorm: smooth in w) equal SAM written by hand.

    BatchNorm nets are not used here: a ResNet-18 at 16 px normalises layer 4 over 4 values,
    and changing rho by 1e-6 (relative) moves its weights by 3e-2 after two steps (measured),
    so float rounding of the norm alone would fail the comparison.
    """
    torch.manual_seed(0)
    model = MODELS.build(_vit_cfg())
    ref = copy.deepcopy(model)
    # Adam's eps raised from 1e-8: the attention's key bias has an exactly-zero gradient in
    # theory (softmax is shift invariant), ~1e-12 noise in practice, which g / sqrt(v) would
    # turn into a full +-lr step in either direction.
    kwargs = dict(lr=1e-3, momentum=0.9) if optimizer == 'SGD' else dict(lr=1e-3, eps=1e-4)
    wrapper = _wrapper(model, rho=0.05, optimizer=dict(type=optimizer, **kwargs))
    ref_opt = getattr(torch.optim, optimizer)(ref.parameters(), **kwargs)
    start = copy.deepcopy(model.state_dict())
    for seed in range(3):
        batch = _batch(seed=seed)
        model.train_step(copy.deepcopy(batch), wrapper)
        _hand_written_sam_step(ref, ref_opt, batch, rho=0.05)
    got, want = model.state_dict(), ref.state_dict()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6, msg=key)
    moved = max(float((start[k] - got[k]).abs().max()) for k in got)
    assert moved > 1e-3  # the steps were not trivially small


def test_logged_loss_and_train_scores_are_the_first_pass():
    torch.manual_seed(0)
    model = MODELS.build(_classifier_cfg())
    ref = copy.deepcopy(model)
    batch = _batch()
    data = ref.data_preprocessor(copy.deepcopy(batch), True)
    first = ref(**data, mode='loss')
    expected_scores = torch.stack([s.train_score for s in first['data_samples']])
    out = model.train_step(copy.deepcopy(batch), _wrapper(model, rho=0.5))
    assert out['loss'].item() == pytest.approx(first['loss_cls'].item(), rel=1e-6)
    scores = torch.stack([s.train_score for s in out.data_samples])
    torch.testing.assert_close(scores, expected_scores, rtol=1e-6, atol=1e-7)


def test_bn_second_pass_keep_restores_running_statistics():
    torch.manual_seed(0)
    model = MODELS.build(_classifier_cfg())
    one_forward = copy.deepcopy(model)
    batch = _batch()
    one_forward(**one_forward.data_preprocessor(copy.deepcopy(batch), True), mode='loss')
    model.train_step(copy.deepcopy(batch), _wrapper(model, bn_second_pass='keep'))
    bn = [k for k in model.state_dict() if k.endswith(('running_mean', 'running_var', 'num_batches_tracked'))]
    assert bn
    for key in bn:
        assert torch.equal(model.state_dict()[key], one_forward.state_dict()[key]), key
    # the default updates them a second time (at w + eps)
    torch.manual_seed(0)
    updated = MODELS.build(_classifier_cfg())
    updated.train_step(copy.deepcopy(batch), _wrapper(updated))
    assert int(updated.backbone.bn1.num_batches_tracked) == 2
    assert not torch.equal(updated.backbone.bn1.running_mean, model.backbone.bn1.running_mean)


def test_bf16_autocast_covers_both_passes(monkeypatch):
    monkeypatch.setenv(precision.ENV_CPU_BF16, '1')
    torch.manual_seed(0)
    model = MODELS.build(_vit_cfg())
    twin = copy.deepcopy(model)
    seen = []
    model.head.fc.register_forward_hook(lambda m, args, out: seen.append(out.dtype))
    wrapper = _wrapper(model, dtype='bfloat16', optimizer=dict(type='Adam', lr=1e-3))
    assert wrapper.cast_dtype == torch.bfloat16
    batch = _batch()
    out = model.train_step(copy.deepcopy(batch), wrapper)
    ref = twin.train_step(copy.deepcopy(batch), _wrapper(twin, optimizer=dict(type='Adam', lr=1e-3)))
    assert seen == [torch.bfloat16, torch.bfloat16]
    assert torch.isfinite(out['loss'])
    assert out['loss'].item() == pytest.approx(ref['loss'].item(), rel=0.02)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_fp16_is_refused(monkeypatch):
    monkeypatch.setattr(precision, 'resolve_amp_dtype', lambda device, dtype='auto': torch.float16)
    with pytest.raises(SAMConfigError, match='not float16'):
        _wrapper(nn.Linear(2, 2), dtype='float16')


@pytest.mark.parametrize(
    'kwargs,match',
    [
        (dict(rho=0.0), 'rho must be > 0'),
        (dict(eta=-1.0), 'eta must be >= 0'),
        (dict(bn_second_pass='freeze'), "'update' or 'keep'"),
        (dict(accumulative_counts=2), 'gradient accumulation'),
    ],
)
def test_bad_config_one_clear_error(kwargs, match):
    with pytest.raises(SAMConfigError, match=match):
        _wrapper(nn.Linear(2, 2), **kwargs)


def test_update_without_recorded_forward_or_with_two_forwards():
    a, b, w0 = _quad_problem()
    model = QuadModel(w0)
    wrapper = _wrapper(model)
    with pytest.raises(SAMConfigError, match='none was recorded'):
        wrapper.update_params(model(a, b)['loss'])
    with wrapper.optim_context(model):
        loss = model(a, b)['loss'] + model(a, b)['loss']
    with pytest.raises(SAMConfigError, match='QuadModel made 2'):
        wrapper.update_params(loss)


def test_explicit_closure_equals_replay():
    a, b, w0 = _quad_problem()
    replayed, explicit = QuadModel(w0), QuadModel(w0)
    replayed.train_step(dict(inputs=a, data_samples=b), _wrapper(replayed))
    wrapper = _wrapper(explicit)
    wrapper.update_params(explicit(a, b)['loss'], closure=lambda: explicit(a, b)['loss'])
    assert torch.equal(replayed.w, explicit.w)


def test_state_dict_is_the_base_optimizer_state_and_continues_exactly():
    torch.manual_seed(0)
    model = MODELS.build(_classifier_cfg())
    wrapper = _wrapper(model, optimizer=dict(type='Adam', lr=1e-3))
    model.train_step(_batch(seed=0), wrapper)
    state = copy.deepcopy(wrapper.state_dict())
    assert {'exp_avg', 'exp_avg_sq', 'step'} <= {k for s in state['state'].values() for k in s}
    clone = copy.deepcopy(model)
    restored = _wrapper(clone, optimizer=dict(type='Adam', lr=1e-3))
    restored.load_state_dict(state)
    model.train_step(_batch(seed=1), wrapper)
    clone.train_step(_batch(seed=1), restored)
    for key, value in model.state_dict().items():
        assert torch.equal(value, clone.state_dict()[key]), key


# ----------------------------------------------------------------------------- tools/train.py end to end
CONFIG = os.path.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
RECORDS: dict = {}
_RUN_IDS = itertools.count()


class SAMProbeHook(Hook):
    """Records the wrapper type and the number of training (``mode='loss'``) forward calls."""

    priority = 'LOWEST'

    def before_train(self, runner):
        model = runner.model
        rec = RECORDS.setdefault(runner.work_dir, dict(iters=[]))
        rec['wrapper'] = type(runner.optim_wrapper).__name__
        rec['cast_dtype'] = runner.optim_wrapper.cast_dtype
        rec['forwards'] = 0

        def count(module, args, kwargs):
            rec['forwards'] += int(kwargs.get('mode') == 'loss')

        model.register_forward_pre_hook(count, with_kwargs=True)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        RECORDS[runner.work_dir]['iters'].append(runner.iter)


class SAMCrashHook(Hook):
    """Kills the run after the first iteration of epoch 2."""

    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.epoch == 1 and batch_idx == 0:
            raise KeyboardInterrupt('interrupted in the middle of epoch 2')


@pytest.fixture(scope='module')
def _sam_hooks():
    for hook in (SAMProbeHook, SAMCrashHook):
        HOOKS.register_module(module=hook, force=True)
    yield
    for hook in (SAMProbeHook, SAMCrashHook):
        HOOKS._module_dict.pop(hook.__name__, None)


def _train(config, work_dir, data_root, *extra, cfg_options=()):
    from tools.train import main

    opts = tiny_train_options(data_root, max_epochs=2, batch_size=4)
    opts += [f'experiment_name=sam_test_{next(_RUN_IDS)}', 'default_hooks.probe.type=SAMProbeHook']
    main([str(config), '--work-dir', str(work_dir), *extra, '--cfg-options', *opts, *cfg_options])
    return RECORDS[str(work_dir)]


@pytest.mark.e2e
def test_train_py_with_sam_resumes_bit_identical(tmp_path, _sam_hooks):
    """A FERClassifier config trains with SAM + Adam through tools/train.py; kill + --resume == straight run."""
    data_root = make_fake_rafdb(tmp_path / 'data', n_train=8, n_test=4, size=32)
    config = tmp_path / 'sam_cfg.py'
    config.write_text(
        f'_base_ = [{CONFIG!r}]\n'
        "optim_wrapper = dict(_delete_=True, type='SAMOptimWrapper', rho=0.05,\n"
        "                     optimizer=dict(type='Adam', lr=1e-3))\n"
        "param_scheduler = dict(_delete_=True, type='ExponentialLR', gamma=0.98, by_epoch=True)\n"
    )
    whole = tmp_path / 'whole'
    rec = _train(config, whole, data_root)
    assert rec['wrapper'] == 'SAMOptimWrapper'
    assert rec['forwards'] == 2 * len(rec['iters']) == 2 * 4  # two passes per step, 2 epochs x 2 iters
    broken = tmp_path / 'broken'
    with pytest.raises(KeyboardInterrupt):
        _train(config, broken, data_root, cfg_options=['default_hooks.crash.type=SAMCrashHook'])
    assert not (broken / 'epoch_2.pth').exists()
    _train(config, broken, data_root, '--resume')
    opt_state = safe_torch_load(broken / 'epoch_2.pth')['optimizer']['state']
    assert {'exp_avg', 'exp_avg_sq'} <= {k for s in opt_state.values() for k in s}
    a = safe_torch_load(whole / 'epoch_2.pth')['state_dict']
    b = safe_torch_load(broken / 'epoch_2.pth')['state_dict']
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    e1 = safe_torch_load(whole / 'epoch_1.pth')['state_dict']
    assert any(not torch.equal(e1[k], a[k]) for k in a)  # epoch 2 moved the weights


def test_amp_flag_keeps_sam_and_turns_on_autocast(monkeypatch):
    """``tools/train.py --amp`` on a SAM config: still SAM, now with bf16 autocast."""
    from ferlab.engine.optim_wrappers import mixed_precision_optim_wrapper_cfg

    monkeypatch.setenv(precision.ENV_CPU_BF16, '1')
    cfg = mixed_precision_optim_wrapper_cfg(
        dict(type='SAMOptimWrapper', rho=0.05, optimizer=dict(type='Adam'))
    )
    assert cfg == dict(type='SAMOptimWrapper', rho=0.05, optimizer=dict(type='Adam'), dtype='auto')
    wrapper = build_optim_wrapper(nn.Linear(2, 2), copy.deepcopy(cfg))
    assert type(wrapper).__name__ == 'SAMOptimWrapper' and wrapper.cast_dtype == torch.bfloat16


@pytest.mark.e2e
def test_train_py_amp_on_sam_config_trains_sam_in_bf16(tmp_path, _sam_hooks, monkeypatch):
    monkeypatch.setenv(precision.ENV_CPU_BF16, '1')
    data_root = make_fake_rafdb(tmp_path / 'data', n_train=8, n_test=4, size=32)
    config = tmp_path / 'sam_cfg.py'
    config.write_text(
        f'_base_ = [{CONFIG!r}]\n'
        "optim_wrapper = dict(_delete_=True, type='SAMOptimWrapper', rho=0.05,\n"
        "                     optimizer=dict(type='Adam', lr=1e-3))\n"
    )
    rec = _train(config, tmp_path / 'amp', data_root, '--amp', '--no-validate')
    assert rec['wrapper'] == 'SAMOptimWrapper' and rec['cast_dtype'] == torch.bfloat16
    assert rec['forwards'] == 2 * len(rec['iters']) == 8
    state = safe_torch_load(tmp_path / 'amp' / 'epoch_2.pth')['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


_VIT_SAM_CONFIG = """_base_ = [{base!r}]
model = dict(
    _delete_=True,
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', pooled=True, img_size=32,
                  patch_size=8, embed_dim=32, depth=1, num_heads=2),
    head=dict(type='LinearClsHead', num_classes=7, in_channels=32, loss=dict(type='CrossEntropyLoss')),
)
optim_wrapper = dict(_delete_=True, type='SAMOptimWrapper', rho=0.05,
                     optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
param_scheduler = []
"""


@pytest.mark.dist
def test_two_rank_ddp_sam_equals_one_process_on_the_global_batch(tmp_path):
    """2 CPU ranks x batch 2 == 1 process x batch 4 (BN-free ViT): both SAM passes all-reduce.

    mmengine's ``MMDistributedDataParallel.train_step`` calls the wrapped model inside
    ``optim_context``; the recorded call is replayed through the DDP module, so the second
    gradient is averaged over the ranks like the first (and ε̂ comes from the averaged g).
    """
    from tests.test_tools.test_dist_train import run_dist_train
    from tools.train import main

    data_root = make_fake_rafdb(tmp_path / 'data', n_train=8, n_test=4, size=32)
    config = tmp_path / 'vit_sam.py'
    config.write_text(_VIT_SAM_CONFIG.format(base=CONFIG))
    one = tmp_path / 'one'
    opts = tiny_train_options(data_root, max_epochs=1, batch_size=4) + ['experiment_name=sam_one']
    main([str(config), '--work-dir', str(one), '--no-validate', '--cfg-options', *opts])
    two = tmp_path / 'two'
    opts = tiny_train_options(data_root, max_epochs=1, batch_size=2) + ['experiment_name=sam_two']
    run_dist_train(str(config), two, opts, tmp_path, tmp_path)
    a = safe_torch_load(one / 'epoch_1.pth')['state_dict']
    b = safe_torch_load(two / 'epoch_1.pth')['state_dict']
    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6, msg=key)
