"""``tools/analysis_tools/embedding_tsne.py``: scores of the checkpoint's test embeddings, PNG + JSON."""

from __future__ import annotations

import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

from ferlab.registry import DATASETS, MODELS
from ferlab.utils import apply_cfg_options, atomic_save, safe_torch_load
from tests.utils import REPO_ROOT, parse_cfg_options
from tools.analysis_tools import embedding_tsne

CONFIG = osp.join(REPO_ROOT, 'configs/quickstart/resnet18_synthfer.py')
OPTIONS = ['test_dataloader.dataset.num_samples=30', 'test_dataloader.dataset.img_size=32']


def _davies_bouldin_by_hand(x, y):
    """Davies & Bouldin (1979): mean over clusters of max_j (s_i + s_j) / ||c_i - c_j||."""
    ks = np.unique(y)
    cent = np.stack([x[y == k].mean(0) for k in ks])
    s = np.array([np.linalg.norm(x[y == k] - cent[i], axis=1).mean() for i, k in enumerate(ks)])
    r = [max((s[i] + s[j]) / np.linalg.norm(cent[i] - cent[j]) for j in range(len(ks)) if j != i)
         for i in range(len(ks))]  # fmt: skip
    return float(np.mean(r))


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A ResNet-18 checkpoint with non-trivial BatchNorm statistics (eval mode must use them)."""
    cfg = apply_cfg_options(Config.fromfile(CONFIG), parse_cfg_options(OPTIONS))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    path = str(tmp_path_factory.mktemp('ckpt') / 'model.pth')
    atomic_save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def _independent_embeddings(ckpt):
    """Backbone -> neck of each test image on its own, from the checkpoint's state dict (strict)."""
    cfg = apply_cfg_options(Config.fromfile(CONFIG), parse_cfg_options(OPTIONS))
    model = MODELS.build(cfg.model)
    model.load_state_dict(safe_torch_load(ckpt)['state_dict'], strict=True)
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    # FERDataPreprocessor's documented defaults: ImageNet mean/std (RGB, 0-255), BGR -> RGB
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    embs, labels = [], []
    with torch.no_grad():
        for i in range(len(dataset)):
            item = dataset[i]
            x = item['inputs'].float().unsqueeze(0)
            x = x[:, [2, 1, 0]]
            feat = model.backbone((x - mean) / std)
            feat = feat[-1] if isinstance(feat, (tuple, list)) else feat
            embs.append(feat.mean(dim=(2, 3))[0].double().numpy())  # GlobalAveragePooling
            labels.append(int(item['data_samples'].gt_label))
    return np.stack(embs), np.array(labels)


def test_scores_are_sklearns_on_the_checkpoints_embeddings(checkpoint, tmp_path):
    out = str(tmp_path / 'tsne')
    argv = [CONFIG, checkpoint, '--out', out, '--batch-size', '7', '--cfg-options', *OPTIONS]
    record = embedding_tsne.main(argv)
    emb, labels = _independent_embeddings(checkpoint)
    saved = np.load(osp.join(out, 'tsne.npz'))
    assert saved['embeddings'].shape == (30, 512)
    np.testing.assert_allclose(saved['embeddings'], emb, rtol=1e-4, atol=1e-5)  # batch of 7 == one by one
    np.testing.assert_array_equal(saved['labels'], labels)
    assert record['davies_bouldin'] == pytest.approx(davies_bouldin_score(emb, labels), rel=1e-4)
    assert record['davies_bouldin'] == pytest.approx(_davies_bouldin_by_hand(emb, labels), rel=1e-4)
    assert record['calinski_harabasz'] == pytest.approx(calinski_harabasz_score(emb, labels), rel=1e-4)
    assert record['scores_on'] == 'embeddings'
    # the map scores are a different thing (2-D points), recorded separately
    assert record['tsne_map_scores']['davies_bouldin'] == pytest.approx(
        davies_bouldin_score(saved['coords'], labels), rel=1e-6
    )
    saved_json = json.load(open(osp.join(out, 'tsne.json')))
    assert saved_json == json.loads(json.dumps(record))
    assert record['n'] == 30 and record['dim'] == 512 and record['indices'] == list(range(30))
    classes = DATASETS.build(
        apply_cfg_options(Config.fromfile(CONFIG), parse_cfg_options(OPTIONS)).test_dataloader.dataset
    ).metainfo['classes']
    assert record['classes'] == list(classes)
    assert sum(record['class_counts'].values()) == 30
    assert record['class_counts'] == {classes[k]: int((labels == k).sum()) for k in np.unique(labels)}
    png = open(osp.join(out, 'tsne.png'), 'rb').read(8)
    assert png == b'\x89PNG\r\n\x1a\n'


def test_max_samples_spreads_over_the_split(checkpoint, tmp_path):
    record = embedding_tsne.main(
        [CONFIG, checkpoint, '--out', str(tmp_path), '--max-samples', '10', '--cfg-options', *OPTIONS]
    )
    # every 29/9-th of 30 images, rounded: first and last included
    assert record['indices'] == [0, 3, 6, 10, 13, 16, 19, 23, 26, 29] and record['n'] == 10
    assert record['tsne']['perplexity'] == pytest.approx(3.0)  # capped at (N - 1) / 3


def test_well_separated_clusters_score_better_than_overlapping():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 16))
    labels = np.repeat([0, 1], 100)
    shift = np.zeros(16)
    shift[0] = 1.0
    scores = {}
    for gap in (0.5, 8.0):
        x = base + np.outer(labels, shift * gap)
        scores[gap] = embedding_tsne.cluster_scores(x, labels)
        # two clusters: DB = (s_0 + s_1) / ||c_0 - c_1||
        assert scores[gap]['davies_bouldin'] == pytest.approx(_davies_bouldin_by_hand(x, labels), rel=1e-9)
    assert scores[8.0]['davies_bouldin'] < scores[0.5]['davies_bouldin']
    assert scores[8.0]['calinski_harabasz'] > scores[0.5]['calinski_harabasz']


def test_missing_checkpoint_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools/analysis_tools/embedding_tsne.py'), CONFIG,
         str(tmp_path / 'nope.pth')],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f'tools/analysis_tools/embedding_tsne.py: error: checkpoint file {tmp_path / "nope.pth"} does not exist'
    ]
