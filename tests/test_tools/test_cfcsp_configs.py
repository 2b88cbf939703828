"""CFC-SP configs: paper settings, every config trains through tools/train.py, and the assembled
cascade tests through tools/test.py after its sub-checkpoints are deleted (figures checked against
the sub-nets run one frame at a time and the paper's rule written out by name)."""

import glob
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tests.test_datasets.test_affwild2 import make_video
from tests.utils import REPO_ROOT

CFG_DIR = osp.join(REPO_ROOT, 'configs', 'cfcsp')
PAPER_NETS = {  # config stem: (backbone type / timm name, input size, classes, label group)
    'cfcsp-coarse_ir152_affwild2': ('IResNet', 112, 5, 'affwild2_coarse'),
    'cfcsp-coarse_swin-s_affwild2': ('swin_small_patch4_window7_224', 224, 5, 'affwild2_coarse'),
    'cfcsp-coarse_hrnet_affwild2': ('hrnet_w18', 112, 5, 'affwild2_coarse'),
    'cfcsp-coarse_repvgg_affwild2': ('repvgg_b0', 112, 5, 'affwild2_coarse'),
    'cfcsp-negative_repvgg_affwild2': ('repvgg_b0', 112, 4, 'affwild2_negative'),
}
SEC41_AUGS = {'RandomRotate', 'RandomCrop', 'RandomFlip', 'ColorJitter', 'GaussianBlur', 'RandomErasing'}
CPU_TRAIN = ('cfcsp-baseline_r18', 'cfcsp-coarse_r18', 'cfcsp-coarse_mnv3s', 'cfcsp-negative_r18')
CPU = 'configs/cfcsp/{}-48px-cpu_synthfervideo.py'


def load(stem):
    return Config.fromfile(osp.join(CFG_DIR, stem + '.py'))


def backbone_name(bb):
    return bb.get('model_name', bb['type'])


@pytest.mark.parametrize('stem', sorted(PAPER_NETS))
def test_paper_settings(stem):
    name, size, classes, group = PAPER_NETS[stem]
    cfg = load(stem)
    assert backbone_name(cfg.model.backbone) == name
    if name == 'IResNet':
        assert cfg.model.backbone.depth == 152
    assert cfg.model.head.num_classes == classes
    assert cfg.model.head.loss.type == 'CrossEntropyLoss'
    assert cfg.train_dataloader.sampler.type == 'ClassBalancedSampler'  # oversampling, Sec. 4.1
    train = cfg.train_dataloader.dataset
    assert (
        train.type == 'AffWild2'
        and train.label_map == group
        and cfg.val_dataloader.dataset.label_map == group
    )
    assert SEC41_AUGS <= {t['type'] for t in train.pipeline}
    for pipe in (train.pipeline, cfg.test_dataloader.dataset.pipeline):
        assert next(t for t in pipe if t['type'] == 'Resize')['scale'] == (size, size)


def test_best_paper_cascade_config():
    cfg = load('cfcsp_ens-ir152-swin-s-hrnet_neg-repvgg_sp256_affwild2')
    m = cfg.model
    assert m.type == 'CascadeClassifier' and m.coarse.type == 'EnsembleClassifier'
    assert [backbone_name(x.backbone) for x in m.coarse.members] == [
        'IResNet', 'swin_small_patch4_window7_224', 'hrnet_w18',
    ]  # fmt: skip
    assert m.coarse.combine == 'softmax_sum' and list(m.coarse.input_sizes) == [112, 224, 112]
    assert backbone_name(m.negative.backbone) == 'repvgg_b0' and m.negative.head.num_classes == 4
    assert all(x.head.num_classes == 5 for x in m.coarse.members)
    ev = cfg.test_evaluator
    assert ev.type == 'VideoMetric' and ev.window == 256 and ev.decision == 'cascade'
    assert {0, 32, 64, 128, 512} <= set(ev.extra_windows)
    assert cfg.test_dataloader.dataset.get('label_map') is None  # the 8 classes
    # the parts named there are the checkpoints the per-net configs write
    for path in [*m.coarse.checkpoints, m.negative_checkpoint]:
        stem = path.split('/')[1]
        assert osp.isfile(osp.join(CFG_DIR, stem + '.py')), path


def fake_affwild2(root, n_train=2, n_val=1, frames=(0, 1, 2, 3, 4, 5, 6, 7)):
    """Videos of the 8 classes (one frame each) in both splits, 8 px images."""
    for split, folder, n in (('train', 'Train_Set', n_train), ('val', 'Validation_Set', n_val)):
        for v in range(n):
            make_video(
                root, f'EXPR_Set/{folder}', f'{split}{v}', list(frames), frames=range(1, len(frames) + 1)
            )
    return str(root)


def paper_tiny_options(root, size):
    opts = [f'data_root={root}', 'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
            'default_hooks.checkpoint.save_best=None', 'train_dataloader.sampler.num_samples=2']  # fmt: skip
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.batch_size=2', f'{loader}.num_workers=0', f'{loader}.dataset.data_root={root}']
    opts.append('train_dataloader.persistent_workers=False')
    return opts


@pytest.mark.e2e
@pytest.mark.parametrize('stem', sorted(PAPER_NETS))
def test_paper_configs_train_through_train_py(tmp_path, stem):
    from tools.train import main

    root = fake_affwild2(tmp_path / 'aw2', n_train=1, n_val=1)
    runner = main([osp.join(CFG_DIR, stem + '.py'), '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                   *paper_tiny_options(root, PAPER_NETS[stem][1])])  # fmt: skip
    assert osp.isfile(tmp_path / 'w' / 'epoch_1.pth')
    assert runner.train_dataloader.dataset.num_classes == PAPER_NETS[stem][2]


def cpu_options(root):
    opts = [f'data_root={root}', 'default_hooks.logger.interval=1', 'train_dataloader.sampler.num_samples=8']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.batch_size=4', f'{loader}.dataset.data_root={root}']
    return opts


def oracle_cascade_macro_f1(coarse_ckpts, negative_ckpt, cfg):
    """Macro-F1 (%) of the cascade computed without CascadeClassifier / VideoMetric."""
    from mmengine.dataset import pseudo_collate
    from sklearn.metrics import f1_score

    from ferlab.registry import DATASETS, MODELS
    from ferlab.utils import safe_torch_load

    def net(mcfg, path):
        m = MODELS.build(mcfg)
        m.load_state_dict(safe_torch_load(path)['state_dict'], strict=True)
        return m.eval()

    members = (
        cfg.model.coarse.members if cfg.model.coarse.type == 'EnsembleClassifier' else [cfg.model.coarse]
    )
    coarse = [net(mc, p) for mc, p in zip(members, coarse_ckpts)]
    negative = net(cfg.model.negative, negative_ckpt)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    names5 = ('Neutral', 'Happiness', 'Surprise', 'Other', 'Negative')
    names4 = ('Anger', 'Disgust', 'Fear', 'Sadness')
    classes = dataset.metainfo['classes']
    pred, gt = [], []
    with torch.no_grad():
        for i in range(len(dataset)):
            item = dataset[i]
            x = coarse[0].data_preprocessor(pseudo_collate([item]), False)['inputs']
            pc = sum(torch.softmax(m(x, mode='tensor')[0], 0) for m in coarse)
            pn = torch.softmax(negative(x, mode='tensor')[0], 0)
            c = names5[int(pc.argmax())]
            pred.append(classes.index(names4[int(pn.argmax())] if c == 'Negative' else c))
            gt.append(int(item['data_samples'].gt_label))
    return 100 * f1_score(gt, pred, labels=range(8), average='macro', zero_division=0), len(gt)


@pytest.mark.e2e
def test_cpu_pipeline_train_assemble_delete_test(tmp_path):
    from tools.dataset_converters.make_synthfer import export_affwild2
    from tools.model_converters.assemble_cascade import main as assemble
    from tools.test import main as test
    from tools.train import main as train

    root = osp.join(str(tmp_path), 'aw2')
    export_affwild2(root, num_train=2, num_val=2, frames=24, domain='lab')
    ckpts = {}
    for stem in CPU_TRAIN:
        work = str(tmp_path / stem)
        train([CPU.format(stem), '--work-dir', work, '--cfg-options', *cpu_options(root)])
        ckpts[stem] = osp.join(work, 'epoch_1.pth')
        assert osp.isfile(ckpts[stem])
    metrics = test([CPU.format('cfcsp-baseline_r18'), ckpts['cfcsp-baseline_r18'], '--work-dir',
                    str(tmp_path / 't0'), '--cfg-options', *cpu_options(root)])  # fmt: skip
    assert {'macro_f1', 'sp/macro_f1', 'sp_w0/macro_f1'} <= set(metrics)
    assert metrics['sp_w0/macro_f1'] == pytest.approx(metrics['macro_f1'])  # w = 0: SP off

    cfg_path = CPU.format('cfcsp_cascade-ens-r18-mnv3s_neg-r18')
    coarse = [ckpts['cfcsp-coarse_r18'], ckpts['cfcsp-coarse_mnv3s']]
    parts = [f'model.negative_checkpoint={ckpts["cfcsp-negative_r18"]}',
             'model.coarse.checkpoints=[{}]'.format(','.join(repr(p) for p in coarse))]  # fmt: skip
    out = str(tmp_path / 'cascade.pth')
    assemble([cfg_path, out, '--cfg-options', *parts, *cpu_options(root)])
    from ferlab.utils import apply_cfg_options
    from tests.utils import parse_cfg_options

    cfg = apply_cfg_options(Config.fromfile(cfg_path), parse_cfg_options(cpu_options(root)))
    expected, n_frames = oracle_cascade_macro_f1(coarse, ckpts['cfcsp-negative_r18'], cfg)
    for p in glob.glob(str(tmp_path / 'cfcsp-*' / '*.pth')):
        os.remove(p)
    metrics = test(
        [cfg_path, out, '--work-dir', str(tmp_path / 't1'), '--cfg-options', *parts, *cpu_options(root)]
    )
    assert metrics['macro_f1'] == pytest.approx(expected, abs=1e-6)
    assert metrics['num_frames'] == n_frames
    assert {'sp/macro_f1', 'sp_w32/macro_f1'} <= set(metrics)


@pytest.mark.e2e
@pytest.mark.parametrize('stem', ['cfcsp_cascade-r18_neg-r18', 'cfcsp_cascade-ens-r18-mnv3s_neg-r18'])
def test_cpu_cascade_configs_train_through_train_py(tmp_path, stem):
    """Training a cascade config reads the parts in init_weights and runs both nets' losses.

    Two AdamW steps at lr <= 1e-3 move a weight by at most ~2e-3 (an Adam step is bounded by lr),
    so the trained weights lie within that of the parts' files: the Runner loaded them (the parts
    are seeded differently from the model's own initialisation).
    """
    from ferlab.registry import MODELS
    from ferlab.utils import atomic_save
    from tools.dataset_converters.make_synthfer import export_affwild2
    from tools.train import main as train

    root = osp.join(str(tmp_path), 'aw2')
    export_affwild2(root, num_train=1, num_val=1, frames=24, domain='lab')
    cfg = Config.fromfile(CPU.format(stem))
    members = (
        cfg.model.coarse.members if cfg.model.coarse.type == 'EnsembleClassifier' else [cfg.model.coarse]
    )
    paths = []
    for i, m in enumerate([*members, cfg.model.negative]):
        torch.manual_seed(100 + i)  # not the Runner's seed: the parts differ from a fresh initialisation
        paths.append(str(tmp_path / f'part{i}.pth'))
        atomic_save(dict(state_dict=MODELS.build(m).state_dict()), paths[-1])
    parts = [f'model.negative_checkpoint={paths[-1]}']
    if len(members) > 1:
        parts.append('model.coarse.checkpoints=[{}]'.format(','.join(repr(p) for p in paths[:-1])))
    else:
        parts.append(f'model.coarse_checkpoint={paths[0]}')
    work = str(tmp_path / 'w')
    opts = [*parts, *cpu_options(root)]
    runner = train([CPU.format(stem), '--work-dir', work, '--cfg-options', *opts])
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    log = open(glob.glob(osp.join(work, '*', '*.log'))[0]).read()
    assert 'coarse.' in log and 'negative.loss_cls' in log
    for path, net in zip(
        paths, [*getattr(runner.model.coarse, 'members', [runner.model.coarse]), runner.model.negative]
    ):
        saved = torch.load(path, weights_only=True)['state_dict']
        for k, v in net.named_parameters():
            assert (v.detach() - saved[k]).abs().max() <= 2.5e-3, (path, k)
