"""ferlab's registries: hierarchy, scope, aliases, helpful errors, the listing CLI."""

import os
import subprocess
import sys

import mmengine.registry as mm_reg
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import ferlab.registry as fr
from ferlab.utils import register_all_modules

ISSUE_REGISTRIES = [
    'BACKBONES', 'NECKS', 'HEADS', 'LOSSES', 'DATASETS', 'TRANSFORMS', 'DATA_SAMPLERS', 'METRICS', 'HOOKS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'PARAM_SCHEDULERS', 'LOOPS', 'VISUALIZERS', 'VISBACKENDS',
    'WEIGHT_INITIALIZERS',
]  # fmt: skip
MMENGINE_ROOT = {name: name for name in ISSUE_REGISTRIES}
MMENGINE_ROOT.update(BACKBONES='MODELS', NECKS='MODELS', HEADS='MODELS', LOSSES='MODELS')


@pytest.mark.parametrize('name', ISSUE_REGISTRIES)
def test_registry_is_ferlab_child_of_mmengine_root(name):
    reg = getattr(fr, name)
    assert isinstance(reg, fr.FerRegistry)
    assert reg.scope == 'ferlab'
    assert reg.parent is getattr(mm_reg, MMENGINE_ROOT[name])
    assert reg.parent.children['ferlab'] is reg
    assert reg._locations and all(loc.startswith('ferlab.') for loc in reg._locations)


def test_model_aliases_are_models():
    for alias in ('BACKBONES', 'NECKS', 'HEADS', 'LOSSES', 'CLASSIFIERS'):
        assert getattr(fr, alias) is fr.MODELS


def test_type_resolves_from_config_under_default_scope(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        "default_scope = 'ferlab'\n"
        "model = dict(type='FERClassifier', backbone=dict(type='ResNet', depth=18, num_stages=1, out_indices=(0,)),\n"
        "             neck=dict(type='GlobalAveragePooling'),\n"
        "             head=dict(type='LinearClsHead', num_classes=3, in_channels=64))\n"
        "metric = dict(type='FERMetric')\n"
        "transform = dict(type='PackFERInputs')\n"
    )
    cfg = Config.fromfile(str(cfg_file))
    register_all_modules()  # what the tools do: import ferlab, default scope 'ferlab'
    assert DefaultScope.get_current_instance().scope_name == 'ferlab'
    # Built through mmengine's ROOT registries (as the Runner does): the default scope picks ferlab's child.
    model = mm_reg.MODELS.build(cfg.model)
    assert type(model).__module__.startswith('ferlab.models')
    assert type(model.backbone).__name__ == 'ResNet'
    assert type(mm_reg.METRICS.build(cfg.metric)).__module__.startswith('ferlab.evaluation')
    assert type(mm_reg.TRANSFORMS.build(cfg.transform)).__module__.startswith('ferlab.datasets')
    # mmengine's own modules stay reachable from ferlab's child (fallback to the parent).
    hook = fr.HOOKS.build(dict(type='IterTimerHook'))
    assert type(hook).__name__ == 'IterTimerHook'


def test_get_still_returns_none_for_unknown_names():
    assert fr.MODELS.get('NoSuchModuleAtAll') is None
    assert fr.MODELS.get('ResNet') is not None


def _closest(msg):
    return msg.split('closest registered names: ')[1]


def test_unknown_type_names_registry_and_closest():
    with pytest.raises(KeyError) as info:
        fr.BACKBONES.build(dict(type='ResNett'))
    msg = info.value.args[0]
    assert "type='ResNett'" in msg and "registry 'model'" in msg and "scope 'ferlab'" in msg
    assert 'ResNet' in _closest(msg)


def test_unknown_nested_type_inside_classifier():
    cfg = dict(
        type='FERClassifier',
        backbone=dict(type='ResNet', depth=18, num_stages=1, out_indices=(0,)),
        head=dict(type='LinearClsHaed', num_classes=3, in_channels=64),
    )
    for registry in (fr.MODELS, mm_reg.MODELS):  # ferlab's child and mmengine's root
        with pytest.raises(KeyError) as info:
            registry.build(cfg)
        msg = info.value.args[0]
        assert "type='LinearClsHaed'" in msg and "registry 'model'" in msg
        assert 'LinearClsHead' in _closest(msg)


def test_unknown_type_in_other_registries():
    with pytest.raises(KeyError) as info:
        mm_reg.METRICS.build(dict(type='FERMetrik'))
    assert "registry 'metric'" in info.value.args[0] and 'FERMetric' in _closest(info.value.args[0])
    with pytest.raises(KeyError) as info:
        fr.DATASETS.build(dict(type='RAFDb'))
    assert "registry 'dataset'" in info.value.args[0] and 'RAFDB' in _closest(info.value.args[0])


def test_runner_from_cfg_unknown_type(tmp_path):
    from mmengine.runner import Runner

    cfg = Config(
        dict(
            default_scope='ferlab',
            work_dir=str(tmp_path),
            model=dict(type='FERClassifier', backbone=dict(type='ResNett', depth=18)),
        )
    )
    with pytest.raises(KeyError) as info:
        Runner.from_cfg(cfg)
    msg = info.value.args[0]
    assert "type='ResNett'" in msg and "registry 'model'" in msg and 'ResNet' in _closest(msg)

    cfg.model = dict(type='FERClasifier', backbone=dict(type='ResNet'))  # top-level: mmengine's root path
    with pytest.raises(KeyError) as info:
        Runner.from_cfg(cfg)
    msg = info.value.args[0]
    assert "type='FERClasifier'" in msg and "scope 'ferlab'" in msg and 'FERClassifier' in _closest(msg)


def test_other_key_errors_are_untouched():
    with pytest.raises(KeyError, match='must contain the key "type"'):
        fr.MODELS.build(dict(depth=18))


def test_list_modules_covers_every_registry():
    listing = fr.list_modules()
    models = listing['MODELS (BACKBONES, NECKS, HEADS, LOSSES, CLASSIFIERS)']
    for name in ('ResNet', 'IResNet', 'TimmBackbone', 'FERClassifier', 'LinearClsHead', 'CrossEntropyLoss'):
        assert name in models
    for title in ('DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS', 'DATA_SAMPLERS', 'WEIGHT_INITIALIZERS'):
        assert title in listing
    assert 'RAFDB' in listing['DATASETS'] and 'FERMetric' in listing['METRICS']


@pytest.mark.slow
@pytest.mark.parametrize('cmd', [['-m', 'ferlab.registry'], ['tools/misc/list_modules.py']])
def test_cli_prints_every_registry_and_members(repo_root, cmd):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    out = subprocess.run(
        [sys.executable, *cmd],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for title in fr.ALL_REGISTRIES:
        assert f'{title} (' in out, title
    for name in ('  ResNet\n', '  IResNet\n', '  FERDataPreprocessor\n', '  RAFDB\n', '  PackFERInputs\n'):
        assert name in out
