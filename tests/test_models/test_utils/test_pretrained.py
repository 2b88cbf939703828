"""One behaviour for pretrained files: ``pretrained=`` and ``init_cfg=dict(type='Pretrained')``."""

import pytest
import torch
import torchvision

from ferlab.registry import MODELS
from ferlab.utils import atomic_save

RESNET = dict(type='ResNet', depth=18, num_stages=2, out_indices=(1,))


def build(entry: str, path: str):
    """A ResNet-18 that loads ``path`` through ``entry``: the ``pretrained`` argument or ``init_cfg``."""
    if entry == 'pretrained':
        return MODELS.build(dict(RESNET, pretrained=path))
    return MODELS.build(dict(RESNET, init_cfg=dict(type='Pretrained', checkpoint=path)))


ENTRIES = ['pretrained', 'init_cfg']


@pytest.mark.parametrize('entry', ENTRIES)
def test_file_matching_no_parameter_is_an_error(tmp_path, entry):
    path = str(tmp_path / 'unrelated.pth')
    atomic_save({'state_dict': {'encoder.w': torch.zeros(3), 'decoder.b': torch.ones(2)}}, path)
    model = build(entry, path)
    with pytest.raises(
        RuntimeError, match=r'unrelated\.pth.*none of its 2 tensors matches a parameter of ResNet'
    ):
        model.init_weights()


@pytest.mark.parametrize('entry', ENTRIES)
def test_shape_mismatch_everywhere_is_an_error(tmp_path, entry):
    """Right names, wrong shapes (e.g. a ResNet-50 file for a ResNet-18): nothing loads, so it is an error."""
    own = MODELS.build(RESNET).state_dict()
    path = str(tmp_path / 'wrong_width.pth')
    atomic_save({k: torch.zeros(v.numel() + 1) for k, v in own.items() if v.dim() > 0}, path)
    with pytest.raises(RuntimeError, match=r'wrong_width\.pth.*parameter of ResNet.*shape-mismatched'):
        build(entry, path).init_weights()


@pytest.mark.parametrize('entry', ENTRIES)
def test_empty_file_is_an_error(tmp_path, entry):
    path = str(tmp_path / 'empty.pth')
    atomic_save({'state_dict': {}}, path)
    with pytest.raises(RuntimeError, match=r'empty\.pth.*holds no tensors'):
        build(entry, path).init_weights()


@pytest.mark.parametrize('entry', ENTRIES)
def test_missing_file_names_it(tmp_path, entry):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        build(entry, str(tmp_path / 'nope.pth')).init_weights()


@pytest.mark.parametrize('entry', ENTRIES)
def test_partial_match_loads_the_matching_tensors(tmp_path, entry):
    """A torchvision ResNet-18 file (with its fc and stages 3-4) loads into the 2-stage ResNet."""
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        for p in tv.parameters():
            p.normal_()
    path = str(tmp_path / 'tv.pth')
    atomic_save(tv.state_dict(), path)
    model = build(entry, path)
    model.init_weights()
    torch.testing.assert_close(model.layer2[1].conv2.weight, tv.layer2[1].conv2.weight)
    torch.testing.assert_close(model.conv1.weight, tv.conv1.weight)


def test_init_cfg_prefix_selects_a_submodule(tmp_path):
    """``prefix`` takes a sub-model of a bigger checkpoint (mmengine's meaning: ``'backbone'`` == ``'backbone.'``)."""
    torch.manual_seed(1)
    src = MODELS.build(RESNET)
    with torch.no_grad():
        for p in src.parameters():
            p.normal_()
    path = str(tmp_path / 'classifier.pth')
    atomic_save({'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()}}, path)
    model = MODELS.build(dict(RESNET, init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone')))
    model.init_weights()
    torch.testing.assert_close(model.state_dict(), src.state_dict())
    wrong = MODELS.build(dict(RESNET, init_cfg=dict(type='Pretrained', checkpoint=path, prefix='head.')))
    with pytest.raises(RuntimeError, match=r"classifier\.pth.*no tensor under prefix 'head\.'"):
        wrong.init_weights()
