"""``tools/analysis_tools/arbex_confidence.py``: PD / CD of chosen samples equal a recomputation through the model."""

from __future__ import annotations

import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ferlab.registry import DATASETS, MODELS
from ferlab.utils import apply_cfg_options, atomic_save, safe_torch_load
from ferlab.utils.errors import CliUsageError
from tests.utils import REPO_ROOT, parse_cfg_options
from tools.analysis_tools import arbex_confidence

CONFIG = osp.join(REPO_ROOT, 'configs/arbex/arbex_r18-48px-cpu_synthfer.py')
LINEAR = osp.join(REPO_ROOT, 'configs/arbex/r18-48px-cpu_synthfer_linear.py')
OPTIONS = ['test_dataloader.dataset.num_samples=12', 'model.head.num_anchors=3']


def _cfg(config=CONFIG, options=OPTIONS):
    return apply_cfg_options(Config.fromfile(config), parse_cfg_options(options))


def _save(model, path):
    atomic_save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """ARBEx weights with anchors near the embeddings (so t_g is far from uniform) and BN statistics set."""
    torch.manual_seed(0)
    model = MODELS.build(_cfg().model)
    model.init_weights()
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    with torch.no_grad():
        model.head.anchors.mul_(0.05)
    return _save(model, str(tmp_path_factory.mktemp('arbex') / 'model.pth'))


def _recompute(ckpt, index):
    """Distributions of one test sample: strict state dict, preprocessor, extract_feat, head.distributions."""
    cfg = _cfg()
    model = MODELS.build(cfg.model)
    model.load_state_dict(safe_torch_load(ckpt)['state_dict'], strict=True)
    model.eval()
    item = DATASETS.build(cfg.test_dataloader.dataset)[index]
    with torch.no_grad():
        x = model.data_preprocessor({'inputs': [item['inputs']]}, False)['inputs']
        out = model.head.distributions(model.extract_feat(x))
    return {k: v[0].double().numpy() for k, v in out.items()}, int(item['data_samples'].gt_label)


def test_distributions_equal_a_recomputation_through_the_model(checkpoint, tmp_path):
    out = str(tmp_path / 'conf')
    result = arbex_confidence.main(
        [CONFIG, checkpoint, '--indices', '3', '0', '11', '--out', out, '--cfg-options', *OPTIONS]
    )
    assert [r['index'] for r in result['samples']] == [3, 0, 11]
    for rec in result['samples']:
        ref, gt = _recompute(checkpoint, rec['index'])
        assert rec['gt_label'] == gt
        np.testing.assert_allclose(rec['primary'], ref['primary'], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(rec['corrected'], ref['final'], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(rec['anchor'], ref['anchor'], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(rec['attention'], ref['attn'], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(
            list(rec['confidences'].values()), ref['confidences'], rtol=1e-5, atol=1e-7
        )
        # std over the 7 classes by hand: sqrt(mean (p - 1/7)^2), the mean of a distribution being 1/7
        for key, p in (('primary_std', ref['primary']), ('corrected_std', ref['final'])):
            assert rec[key] == pytest.approx(np.sqrt(np.mean((p - 1 / 7) ** 2)), rel=1e-5)
        assert rec['primary_label'] == int(ref['primary'].argmax())
        assert rec['corrected_label'] == int(ref['final'].argmax())
    assert json.load(open(osp.join(out, 'confidence.json'))) == json.loads(json.dumps(result))
    assert open(osp.join(out, 'confidence.png'), 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    assert len(result['classes']) == 7


def test_std_of_uniform_and_one_hot():
    assert arbex_confidence.distribution_std(np.full(4, 0.25)) == 0.0
    # one-hot over 4: values (3/4, -1/4, -1/4, -1/4) around the mean -> sqrt(12/16 / 4)
    assert arbex_confidence.distribution_std([1, 0, 0, 0]) == pytest.approx(np.sqrt(3) / 4)


def test_plain_head_and_bad_indices_are_refused(checkpoint, tmp_path):
    torch.manual_seed(0)
    small = ['test_dataloader.dataset.num_samples=4']
    linear = _save(MODELS.build(_cfg(LINEAR, small).model), str(tmp_path / 'linear.pth'))
    with pytest.raises(CliUsageError, match='head LinearClsHead does not write primary_score'):
        arbex_confidence.main(
            [LINEAR, linear, '--indices', '0', '--out', str(tmp_path), '--cfg-options', *small]
        )
    with pytest.raises(CliUsageError, match=r'--indices \[12\] outside the test split .* \(0\.\.11\)'):
        arbex_confidence.main([CONFIG, checkpoint, '--indices', '1', '12', '--cfg-options', *OPTIONS])


def test_first_changed_takes_the_first_samples_whose_label_the_correction_changes(checkpoint, tmp_path):
    changed = []
    for i in range(12):
        ref, _ = _recompute(checkpoint, i)
        if ref['primary'].argmax() != ref['final'].argmax():
            changed.append(i)
    assert changed, 'the fixture must give the correction something to change'
    n = min(2, len(changed))
    result = arbex_confidence.main(
        [CONFIG, checkpoint, '--first-changed', str(n), '--out', str(tmp_path), '--cfg-options', *OPTIONS]
    )
    assert [r['index'] for r in result['samples']] == changed[:n]
