"""VideoMetric: per-video smooth predicting + ABAW macro-F1, against scikit-learn and a direct loop."""

import os

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from ferlab.datasets import AFFWILD2_CLASSES
from ferlab.registry import METRICS
from tests.utils import REPO_ROOT

C = 8


def make_frames(seed=0, videos=(('b-vid', 30), ('a-vid', 45), ('c_right', 12)), unlabelled=0.1):
    """Per-frame samples of several videos with gaps in the frame indices and some -1 labels."""
    rng = np.random.default_rng(seed)
    samples = []
    for vid, num in videos:
        frames = np.cumsum(rng.integers(1, 4, size=num))
        base = rng.integers(0, C)
        for t in frames:
            gt = int(base if rng.random() < 0.6 else rng.integers(0, C))
            if rng.random() < unlabelled:
                gt = -1
            score = rng.dirichlet(np.ones(C))
            score[max(gt, 0)] += 0.15 * rng.random()
            samples.append(dict(video_id=vid, frame_idx=int(t), gt_label=gt, pred_score=score / score.sum()))
    return samples


def as_data_samples(samples):
    out = []
    for s in samples:
        d = dict(video_id=s['video_id'], frame_idx=s['frame_idx'], pred_score=torch.tensor(s['pred_score']))
        if s['gt_label'] is not None:
            d['gt_label'] = torch.tensor([s['gt_label']])
        out.append(d)
    return out


def build(**kw):
    metric = METRICS.build(dict(type='VideoMetric', **kw))
    metric.dataset_meta = dict(classes=AFFWILD2_CLASSES)
    return metric


def evaluate(metric, samples, batch_size=7):
    data = as_data_samples(samples)
    for i in range(0, len(data), batch_size):
        metric.process(None, data[i : i + batch_size])
    return metric.evaluate(len(data))


def oracle(samples, window, causal=False, smooth_on='logit'):
    """Direct per-video loop: Eq. 1 over the frames inside the window, then sklearn's figures."""
    by_video = {}
    for s in samples:
        by_video.setdefault(s['video_id'], []).append(s)
    gts, raw, sp = [], [], []
    half = window // 2
    for frames in by_video.values():
        for s in frames:
            t = s['frame_idx']
            value = np.log if smooth_on == 'logit' else np.asarray
            if window == 0:
                smoothed = value(s['pred_score'])
            else:
                lo, hi = (t - 2 * half, t) if causal else (t - half, t + half)
                members = [value(o['pred_score']) for o in frames if lo <= o['frame_idx'] <= hi]
                smoothed = value(s['pred_score']) + np.mean(members, axis=0)
            if s['gt_label'] >= 0:
                gts.append(s['gt_label'])
                raw.append(int(np.argmax(s['pred_score'])))
                sp.append(int(np.argmax(smoothed)))
    labels = list(range(C))

    def figures(pred):
        return dict(
            macro_f1=100 * f1_score(gts, pred, average='macro', labels=labels, zero_division=0),
            accuracy=100 * accuracy_score(gts, pred),
            per_class=100 * f1_score(gts, pred, average=None, labels=labels, zero_division=0),
        )

    return figures(raw), figures(sp), len(gts)


@pytest.mark.parametrize('window, causal, smooth_on', [(0, False, 'logit'), (4, False, 'logit'), (7, False, 'score'),
                                                       (16, True, 'logit'), (1000, False, 'logit')])  # fmt: skip
def test_matches_sklearn_on_a_direct_loop(window, causal, smooth_on):
    samples = make_frames()
    res = evaluate(build(window=window, causal=causal, smooth_on=smooth_on), samples)
    raw, sp, num = oracle(samples, window, causal, smooth_on)
    assert res['num_frames'] == num and res['num_videos'] == 3
    assert res['macro_f1'] == pytest.approx(raw['macro_f1'], abs=1e-9)
    assert res['accuracy'] == pytest.approx(raw['accuracy'], abs=1e-9)
    assert res['sp/macro_f1'] == pytest.approx(sp['macro_f1'], abs=1e-9)
    assert res['sp/accuracy'] == pytest.approx(sp['accuracy'], abs=1e-9)
    for name, value in zip(AFFWILD2_CLASSES, sp['per_class']):
        assert res[f'sp/f1/{name}'] == pytest.approx(value, abs=1e-9)
    for name, value in zip(AFFWILD2_CLASSES, raw['per_class']):
        assert res[f'f1/{name}'] == pytest.approx(value, abs=1e-9)
    if window:  # smoothing over a clip changes predictions on this data
        assert res['sp/accuracy'] != res['accuracy']


def test_macro_over_present_is_sklearn_default():
    samples = [s for s in make_frames(1) if s['gt_label'] in (0, 4, -1)]
    res = evaluate(build(window=4, macro_over='present'), samples)
    gts = [s['gt_label'] for s in samples if s['gt_label'] >= 0]
    pred = [int(np.argmax(s['pred_score'])) for s in samples if s['gt_label'] >= 0]
    assert res['macro_f1'] == pytest.approx(100 * f1_score(gts, pred, average='macro'), abs=1e-9)


def test_batch_composition_order_and_sharding_do_not_change_results():
    samples = make_frames(2)
    ref = evaluate(build(window=8, extra_windows=(2, 32)), samples, batch_size=len(samples))
    rng = np.random.default_rng(0)
    for batch_size in (1, 5, 64):
        shuffled = [samples[i] for i in rng.permutation(len(samples))]
        assert evaluate(build(window=8, extra_windows=(2, 32)), shuffled, batch_size) == ref
    assert {'sp_w2/macro_f1', 'sp_w32/accuracy'} <= set(ref)


def test_repeated_frames_are_counted_once():
    samples = make_frames(3)
    ref = evaluate(build(window=6), samples)
    assert evaluate(build(window=6), samples + samples[:10]) == ref
    clash = dict(samples[0], gt_label=(samples[0]['gt_label'] + 1) % C)
    with pytest.raises(ValueError, match='occurs more than once with different labels'):
        evaluate(build(window=6), samples + [clash])


@pytest.mark.parametrize(
    'kwargs, mutate, match',
    [
        (dict(), lambda d: d.pop('video_id'), r"needs \['video_id'\]"),
        (
            dict(),
            lambda d: d.update(pred_score=torch.zeros(5)),
            'model predicts 5 classes but the dataset has 8',
        ),
        (
            dict(smooth_on='logit'),
            lambda d: d.update(pred_score=torch.full((8,), -1.0)),
            "use smooth_on='score'",
        ),
    ],
)
def test_bad_samples_are_one_clear_error(kwargs, mutate, match):
    data = as_data_samples(make_frames(4))
    for d in data:
        mutate(d)
    metric = build(**kwargs)
    with pytest.raises((KeyError, ValueError), match=match):
        metric.process(None, data)
        metric.evaluate(len(data))


def test_bad_arguments():
    for kw, match in [(dict(window=-2), 'windows must be ints'), (dict(smooth_on='x'), 'smooth_on'),
                      (dict(submission_dir='x'), 'needs ann_dir')]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            METRICS.build(dict(type='VideoMetric', **kw))


def _dist_worker(rank, world, init_file, samples, out_dir):
    import torch.distributed as dist
    from mmengine.dataset import DefaultSampler

    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world)
    metric = build(window=8)
    sampler = DefaultSampler(
        list(range(len(samples))), shuffle=False
    )  # round robin + padding, as in a runner
    mine = [samples[i] for i in sampler]
    data = as_data_samples(mine)
    for i in range(0, len(data), 4):
        metric.process(None, data[i : i + 4])
    res = metric.evaluate(len(samples))
    torch.save(res, os.path.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


@pytest.mark.dist
def test_two_rank_gloo_evaluation_equals_single_process(tmp_path):
    samples = make_frames(5)  # 87 frames, an odd count: the sampler pads one frame on the second rank
    assert len(samples) % 2 == 1
    ref = evaluate(build(window=8), samples)
    torch.multiprocessing.spawn(
        _dist_worker, args=(2, str(tmp_path / 'init'), samples, str(tmp_path)), nprocs=2, join=True
    )
    for rank in (0, 1):
        assert torch.load(tmp_path / f'rank{rank}.pt', weights_only=True) == ref


@pytest.mark.slow
def test_base_config_synthfer_video_affwild2_feeds_the_metric():
    """The 8-class SynthFERVideo base config: packed samples carry video_id / frame_idx for VideoMetric."""
    from mmengine.config import Config

    from ferlab.registry import DATASETS

    cfg = Config.fromfile(os.path.join(REPO_ROOT, 'configs/_base_/datasets/synthfer_video-affwild2.py'))
    ds = DATASETS.build(dict(cfg.test_dataloader.dataset, num_clips=3, clip_len=40, img_size=32))
    assert ds.classes == AFFWILD2_CLASSES
    metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = ds.metainfo
    rng = np.random.default_rng(0)
    samples, gts = [], []
    for i in rng.permutation(len(ds)):
        sample = ds[int(i)]['data_samples']
        gt = int(sample.gt_label)
        score = np.full(C, 0.05)
        score[gt if rng.random() < 0.7 else (gt + 1) % C] = 0.65  # 70 % of the frames right
        samples.append(dict(sample.to_dict(), pred_score=torch.tensor(score)))
        gts.append(gt)
    metric.process(None, samples)
    res = metric.evaluate(len(samples))
    pred = [int(s['pred_score'].argmax()) for s in samples]
    assert res['num_videos'] == 3 and res['num_frames'] == len(ds)
    assert res['accuracy'] == pytest.approx(100 * accuracy_score(gts, pred))
    assert res['macro_f1'] == pytest.approx(
        100 * f1_score(gts, pred, average='macro', labels=list(range(C)), zero_division=0)
    )
    assert 'sp/macro_f1' in res and cfg.test_evaluator.window == 32
