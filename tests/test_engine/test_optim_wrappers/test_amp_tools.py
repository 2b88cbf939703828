"""``--amp`` end to end on CPU: tools/train.py (one wrapper and MGN's two), determinism, resume,
tools/test.py (metrics against fp32) and ``ferlab.apis.inference_model(amp=True)``.

bf16 counts as native in these tests (``FERLAB_CPU_BF16=1``), so they run the bf16 path on any
CPU; the fallback is tested in test_mixed_precision_optim_wrapper.py.
"""

from __future__ import annotations

import itertools
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict

from ferlab.engine.optim_wrappers import precision
from ferlab.registry import HOOKS
from ferlab.utils import safe_torch_load
from tests.utils import REPO_ROOT, make_fake_rafdb, tiny_train_options

pytestmark = pytest.mark.e2e  # every test trains or tests through tools/*.py

QUICKSTART = os.path.join(REPO_ROOT, 'configs/quickstart/resnet18_synthfer.py')
BASELINE = os.path.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py')
MGN = os.path.join(REPO_ROOT, 'configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py')
_RUN_IDS = itertools.count()


@pytest.fixture(autouse=True)
def _native_bf16(monkeypatch):
    monkeypatch.setenv(precision.ENV_CPU_BF16, '1')


@pytest.fixture(autouse=True)
def _restore_global_determinism():
    """deterministic=True flips process-wide torch flags: put them back for other tests."""
    algos = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    rng = torch.get_rng_state()
    yield
    torch.use_deterministic_algorithms(algos, warn_only=warn_only)
    torch.set_rng_state(rng)


def synthfer_options(img_size=48, n_train=64, n_val=32, n_test=32, batch_size=16, epochs=1) -> list:
    """``--cfg-options`` shrinking a SynthFER config (quick start, MGN) to seconds."""
    opts = [
        f'train_cfg.max_epochs={epochs}',
        f'train_cfg.val_interval={epochs}',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1',
        f'experiment_name=amp_{next(_RUN_IDS)}',
    ]
    for loader, n in (('train_dataloader', n_train), ('val_dataloader', n_val), ('test_dataloader', n_test)):
        opts += [
            f'{loader}.batch_size={batch_size}',
            f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False',
            f'{loader}.dataset.num_samples={n}',
            f'{loader}.dataset.img_size={img_size}',
        ]
    return opts


def _loss_history(runner) -> list[float]:
    return [float(v) for v in runner.message_hub.get_scalar('train/loss').data[0]]


def _wrappers(runner):
    ow = runner.optim_wrapper
    return list(ow.values()) if isinstance(ow, OptimWrapperDict) else [ow]


def test_train_amp_on_cpu_quickstart(tmp_path):
    from tools.train import main

    runner = main([QUICKSTART, '--amp', '--work-dir', str(tmp_path), '--cfg-options', *synthfer_options()])
    (wrapper,) = _wrappers(runner)
    assert type(wrapper).__name__ == 'MixedPrecisionOptimWrapper' and wrapper.cast_dtype == torch.bfloat16
    assert runner.val_loop.fp16  # validation autocasts too
    losses = _loss_history(runner)
    assert len(losses) == 4 and all(np.isfinite(losses))
    state = safe_torch_load(tmp_path / 'epoch_1.pth')['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_train_amp_mgn_converts_both_wrappers(tmp_path):
    from tools.train import main

    opts = synthfer_options(n_train=32, n_val=16, n_test=16)
    runner = main([MGN, '--amp', '--work-dir', str(tmp_path), '--cfg-options', *opts])
    assert set(runner.optim_wrapper.keys()) == {'generator', 'discriminator'}
    for w in _wrappers(runner):
        assert type(w).__name__ == 'MixedPrecisionOptimWrapper' and w.cast_dtype == torch.bfloat16
    for key in ('train/loss_d', 'train/loss_g'):
        assert np.isfinite(runner.message_hub.get_scalar(key).current())


def _baseline(tmp_path, data_root, name, *extra, epochs=1, seed=123, cfg_options=()):
    from tools.train import main

    work_dir = tmp_path / name
    opts = tiny_train_options(data_root, max_epochs=epochs, batch_size=4)
    opts += [
        f'randomness.seed={seed}',
        'randomness.deterministic=True',
        f'experiment_name=amp_{next(_RUN_IDS)}',
    ]
    main(
        [BASELINE, '--work-dir', str(work_dir), '--no-validate', *extra, '--cfg-options', *opts, *cfg_options]
    )
    return work_dir


def _max_abs_diff(a: dict, b: dict) -> float:
    assert set(a) == set(b)
    return max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a)


def test_deterministic_bf16_training_is_bit_reproducible(tmp_path):
    data_root = make_fake_rafdb(tmp_path / 'data', n_train=12, n_test=2, size=32)
    runs = [_baseline(tmp_path, data_root, name, '--amp') for name in ('a', 'b')]
    a, b = (safe_torch_load(r / 'epoch_1.pth') for r in runs)
    assert _max_abs_diff(a['state_dict'], b['state_dict']) == 0.0
    for sa, sb in zip(a['optimizer']['state'].values(), b['optimizer']['state'].values()):
        assert torch.equal(sa['momentum_buffer'], sb['momentum_buffer'])
    # control: the same seed in fp32 gives other weights (the bf16 path really ran), close ones
    fp32 = safe_torch_load(_baseline(tmp_path, data_root, 'fp32') / 'epoch_1.pth')['state_dict']
    assert _max_abs_diff(a['state_dict'], fp32) > 0.0


class _CrashAfterEpoch1Hook(Hook):
    priority = 'LOWEST'  # after the CheckpointHook wrote epoch_1.pth

    def after_train_epoch(self, runner):
        if runner.epoch == 0:
            raise KeyboardInterrupt('interrupted after epoch 1')


def test_bf16_resume_is_exact(tmp_path):
    """Interrupted after epoch 1 and resumed: epoch 2 equals an uninterrupted bf16 run, bit for bit."""
    HOOKS.register_module(module=_CrashAfterEpoch1Hook, force=True)
    try:
        data_root = make_fake_rafdb(tmp_path / 'data', n_train=8, n_test=2, size=32)
        whole = _baseline(tmp_path, data_root, 'whole', '--amp', epochs=2)
        crash = ['default_hooks.crash.type=_CrashAfterEpoch1Hook']
        with pytest.raises(KeyboardInterrupt):
            _baseline(tmp_path, data_root, 'broken', '--amp', epochs=2, cfg_options=crash)
        assert not (tmp_path / 'broken' / 'epoch_2.pth').exists()
        broken = _baseline(tmp_path, data_root, 'broken', '--amp', '--resume', epochs=2)
    finally:
        HOOKS._module_dict.pop('_CrashAfterEpoch1Hook', None)
    w, r = (safe_torch_load(d / 'epoch_2.pth') for d in (whole, broken))
    assert r['meta']['epoch'] == 2
    assert _max_abs_diff(w['state_dict'], r['state_dict']) == 0.0
    e1 = safe_torch_load(whole / 'epoch_1.pth')['state_dict']
    assert _max_abs_diff(e1, w['state_dict']) > 0  # epoch 2 did train


@pytest.fixture(scope='module')
def quickstart_checkpoint(tmp_path_factory):
    """A quick-start ResNet-18 trained 2 epochs in fp32 on 256 SynthFER images at 48 px."""
    from tools.train import main

    work_dir = tmp_path_factory.mktemp('amp_test_tool')
    opts = synthfer_options(n_train=256, n_val=32, n_test=32, batch_size=32, epochs=2)
    main([QUICKSTART, '--work-dir', str(work_dir), '--no-validate', '--cfg-options', *opts])
    return work_dir


def test_test_tool_amp_metrics_match_fp32(quickstart_checkpoint, tmp_path):
    """500 test images: bf16 scores within 0.01 of fp32, only near-ties flip, accuracy within 1 point."""
    from tools.test import main

    opts = synthfer_options(n_test=500, batch_size=100)
    results = {}
    for name, extra in (('fp32', []), ('bf16', ['--amp'])):
        out = tmp_path / f'{name}.pkl'
        metrics = main(
            [
                QUICKSTART,
                str(quickstart_checkpoint / 'epoch_2.pth'),
                '--work-dir',
                str(tmp_path / name),
                '--out',
                str(out),
                *extra,
                '--cfg-options',
                *opts,
            ]
        )
        with open(out, 'rb') as f:
            results[name] = (metrics, pickle.load(f))
    (m32, p32), (m16, p16) = results['fp32'], results['bf16']
    assert len(p32) == len(p16) == 500
    key = lambda p: int(p['sample_idx'])  # noqa: E731
    p32, p16 = sorted(p32, key=key), sorted(p16, key=key)
    s32 = torch.stack([torch.as_tensor(p['pred_score']) for p in p32])
    s16 = torch.stack([torch.as_tensor(p['pred_score']) for p in p16])
    assert s32.dtype == s16.dtype == torch.float32  # metrics see fp32 scores
    assert not torch.equal(s32, s16)  # the test forward did autocast
    # This tiny model is near chance (accuracy 14.8 %), its scores near uniform: measured on 500
    # images, max |score_bf16 - score_fp32| = 0.0018, predictions agree on 98.6 %, and every
    # disagreement is a near-tie (fp32 top-2 margin below twice that score difference).
    agree = s32.argmax(1) == s16.argmax(1)
    top2 = s32.topk(2, dim=1).values
    margin = top2[:, 0] - top2[:, 1]
    max_diff = (s32 - s16).abs().max()
    msg = f'agree {agree.float().mean():.4f}, accuracy {m32["accuracy"]} vs {m16["accuracy"]}, max |ds| {max_diff}'
    assert max_diff < 0.01, msg
    assert agree.float().mean() >= 0.97, msg
    assert bool((margin[~agree] < 2 * max_diff).all()), msg
    assert abs(float(m32['accuracy']) - float(m16['accuracy'])) <= 1.0, msg
    # the accuracy is the hand count of the dumped predictions (fp32 metrics of bf16 scores)
    gt = torch.tensor([int(p['gt_label']) for p in p16])
    assert float(m16['accuracy']) == pytest.approx(
        100.0 * (s16.argmax(1) == gt).float().mean().item(), abs=1e-4
    )


def test_inference_api_amp(quickstart_checkpoint):
    from ferlab.apis import inference_model, init_model

    model = init_model(QUICKSTART, str(quickstart_checkpoint / 'epoch_2.pth'))
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(16)]
    fp32 = inference_model(model, images)
    bf16 = inference_model(model, images, amp=True)
    s32 = torch.stack([s.pred_score for s in fp32])
    s16 = torch.stack([s.pred_score for s in bf16])
    assert s16.dtype == torch.float32 and not torch.equal(s32, s16)
    assert (s32 - s16).abs().max() < 0.05
    assert not torch.is_autocast_enabled('cpu')
