"""dataset_bias.py: known mean AU vectors / cosine distances / mean images, SynthFER domain bias."""

import csv
import os.path as osp

import numpy as np
import pytest

from ferlab.datasets import BaseFERDataset
from ferlab.registry import DATASETS
from tools.analysis_tools import dataset_bias


@DATASETS.register_module(force=True)
class BiasToyDataset(BaseFERDataset):
    """In-memory rows ``(label, au_values, au_mask, pixel_value)``."""

    def __init__(self, rows, classes_native, aus, **kwargs):
        self.rows = rows
        metainfo = dict(classes=tuple(classes_native), au_names=tuple(aus))
        super().__init__(metainfo=metainfo, **kwargs)

    def check_root(self):
        return None

    def load_annotations(self):
        return [
            dict(img=np.full((20, 20, 3), v, np.uint8), gt_label=y, gt_aus=np.asarray(a, np.float32),
                 gt_au_mask=np.asarray(m, np.float32), img_path=f'toy{i}')
            for i, (y, a, m, v) in enumerate(self.rows)
        ]  # fmt: skip


def write_cfg(path, rows, classes, aus):
    ds = dict(type='BiasToyDataset', rows=rows, classes_native=classes, aus=aus)
    with open(path, 'w') as f:
        f.write(f'train_dataloader = dict(dataset={ds!r})\n')
    return str(path)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_known_cosine_distances_and_mean_images(tmp_path):
    full = [1, 1, 1]
    a = write_cfg(tmp_path / 'a.py', [
        (0, [1, 0, 9], full, 10),  # Happiness; AU14 (outside the 13 shared AUs) is ignored
        (0, [1, 0, 9], full, 30),
        (1, [0, 1, 0], full, 100),  # Sadness
        (1, [5, 5, 5], [0, 0, 0], 200),  # no AU annotated: counts as an image, not in the AU mean
    ], ('Happiness', 'Sadness'), ('AU01', 'AU02', 'AU14'))  # fmt: skip
    b = write_cfg(tmp_path / 'b.py', [
        (1, [1, 1, 0], full, 50),  # 'Happy' (index 1 of B's class order); AUs in order AU02, AU01, AU12
        (1, [0, 1, 0], full, 50),
        (0, [0, 1, 0], full, 0),  # 'Sad'
    ], ('Sad', 'Happy'), ('AU02', 'AU01', 'AU12'))  # fmt: skip
    out = str(tmp_path / 'out')
    summary = dataset_bias.main([a, b, '--names', 'A', 'B', '--out-dir', out])
    rows = {r['expression']: r for r in read_csv(osp.join(out, 'au_distance.csv'))}
    # happiness: A = (AU01 1, AU02 0), B = (AU01 1, AU02 0.5), AU12 unknown in A -> not compared
    assert float(rows['happiness']['cosine_distance']) == pytest.approx(1 - 1 / np.sqrt(1.25), abs=1e-6)
    # sadness: A = (0, 1), B = (1, 0) -> orthogonal
    assert float(rows['sadness']['cosine_distance']) == pytest.approx(1.0, abs=1e-6)
    assert (rows['sadness']['n_a'], rows['sadness']['n_b']) == ('2', '1')
    means = {(r['dataset'], r['expression']): r for r in read_csv(osp.join(out, 'au_means.csv'))}
    assert means[('B', 'happiness')]['AU02'] == '0.500000' and means[('A', 'happiness')]['AU12'] == ''
    assert means[('A', 'sadness')]['AU01'] == '0.000000'  # the unannotated image is not a 0 either way
    grid = dataset_bias.cv2.imread(osp.join(out, 'mean_images.png'))
    # row A (top 24 px title), column happiness (left 120 px): mean of 10 and 30 = 20
    cell = grid[24 + 50, 120 + 50]
    assert cell.tolist() == [20, 20, 20]
    cell = grid[24 + 116 + 50, 120 + 116 + 50]  # row B, column sadness: mean of 0 only
    assert cell.tolist() == [0, 0, 0]
    assert osp.isfile(osp.join(out, 'au_distance.png')) and summary['expressions'] == ['happiness', 'sadness']


def test_au_threshold_and_errors(tmp_path):
    a = write_cfg(
        tmp_path / 'a.py', [(0, [0.2, 0.9, 0], [1, 1, 1], 0)], ('Happiness',), ('AU01', 'AU02', 'AU14')
    )
    b = write_cfg(
        tmp_path / 'b.py', [(0, [0.8, 0.1, 0], [1, 1, 1], 0)], ('Happiness',), ('AU01', 'AU02', 'AU14')
    )
    out = str(tmp_path / 'o')
    s = dataset_bias.main([a, b, '--au-threshold', '0.5', '--out-dir', out])
    assert s['distances'][0]['distance'] == pytest.approx(1.0)  # (0, 1) vs (1, 0)
    with pytest.raises(dataset_bias.BiasInputError, match="a.py' does not exist|does not exist"):
        dataset_bias.main([str(tmp_path / 'none.py'), b])
    with pytest.raises(dataset_bias.BiasInputError, match='3 --names for 2 datasets'):
        dataset_bias.main([a, b, '--names', 'x', 'y', 'z', '--out-dir', out])
    c = write_cfg(tmp_path / 'c.py', [(0, [0.8], [1], 0)], ('Happiness',), ())
    with pytest.raises(
        dataset_bias.BiasInputError, match=r'c \(BiasToyDataset\) names no AU list.*--images-only'
    ):
        dataset_bias.main([a, c, '--out-dir', out])
    noau = tmp_path / 'rafdb_like.py'
    noau.write_text(
        "train_dataloader = dict(dataset=dict(type='SynthFER', num_samples=7, img_size=16, "
        'metainfo=dict(au_names=None)))\n'
    )
    s = dataset_bias.main([str(noau), str(noau), '--images-only', '--out-dir', out])
    assert 'distances' not in s and osp.isfile(osp.join(out, 'mean_images.png'))


def test_synthfer_domains_single_out_the_changed_classes(tmp_path):
    """alt_convention draws fear, disgust and sadness with other AUs; the distance must single them out."""
    cfg = 'configs/_base_/datasets/synthfer.py'
    common = '::train_dataloader.dataset.num_samples=210::train_dataloader.dataset.img_size=48'
    alt = '::train_dataloader.dataset.domain=alt_convention::train_dataloader.dataset.seed=1'
    s = dataset_bias.main([cfg + common, cfg + common + alt, '--au-threshold', '0.3',
                           '--out-dir', str(tmp_path)])  # fmt: skip
    dist = {r['expression']: r['distance'] for r in s['distances']}
    changed = {'fear', 'disgust', 'sadness'}
    assert dist['neutral'] is None  # no AU active in either domain: undefined, not 0
    defined = {e: d for e, d in dist.items() if d is not None}
    assert min(defined[e] for e in changed) > 10 * max(d for e, d in defined.items() if e not in changed)


def test_a_multi_source_config_counts_once_per_source(tmp_path):
    cfg = 'configs/_base_/datasets/joint_synthfer-au.py'
    opts = ''.join(f'::train_dataloader.dataset.sources.{s}.dataset.{k}={v}'
                   for s in (0, 1) for k, v in (('num_samples', 140), ('img_size', 32)))  # fmt: skip
    s = dataset_bias.main([cfg + opts, '--au-threshold', '0.3', '--out-dir', str(tmp_path)])
    assert s['datasets'] == ['joint_synthfer-au-0', 'joint_synthfer-au-1']
    assert sum(s['counts']['joint_synthfer-au-1'].values()) == 140
    dist = {r['expression']: r['distance'] for r in s['distances'] if r['distance'] is not None}
    top3 = sorted(dist, key=dist.get)[-3:]
    assert set(top3) == {'fear', 'disgust', 'sadness'}
