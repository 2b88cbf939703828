"""TimmBackbone: features_only/out_indices, local pretrained files, clear errors."""

import pytest
import torch
from safetensors.torch import save_file

from ferlab.registry import MODELS

VIT = dict(model_name='vit_tiny_patch16_224', img_size=32, depth=2)


def build(**kwargs):
    return MODELS.build(dict(type='TimmBackbone', **kwargs))


def test_resnet18_features_only_out_indices():
    model = build(model_name='resnet18', features_only=True, out_indices=(1, 2, 3, 4))
    outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4), (2, 512, 2, 2)]
    assert model.out_channels == [64, 128, 256, 512]


def test_resnet18_forward_features_and_pooled():
    assert build(model_name='resnet18')(torch.randn(1, 3, 64, 64))[0].shape == (1, 512, 2, 2)
    assert build(model_name='resnet18', pooled=True)(torch.randn(1, 3, 64, 64))[0].shape == (1, 512)


def test_tiny_vit_tokens_pooled_and_features_only():
    tokens = build(**VIT)(torch.randn(2, 3, 32, 32))
    assert len(tokens) == 1 and tokens[0].shape == (2, 1 + 4, 192)  # CLS + 2x2 patches
    assert build(**VIT, pooled=True)(torch.randn(2, 3, 32, 32))[0].shape == (2, 192)
    maps = build(**VIT, features_only=True, out_indices=(0, 1))(torch.randn(2, 3, 32, 32))
    assert [tuple(m.shape) for m in maps] == [(2, 192, 2, 2), (2, 192, 2, 2)]


def _reference_state(**kwargs):
    import timm

    torch.manual_seed(123)
    ref = timm.create_model(pretrained=False, **kwargs)  # local, random: never downloads
    return {k: v.clone() for k, v in ref.state_dict().items()}


@pytest.mark.parametrize('fmt', ['timm_pth', 'wrapped_pth', 'safetensors'])
def test_local_pretrained_file_changes_weights(tmp_path, fmt):
    state = _reference_state(model_name='resnet18', num_classes=10)  # has fc.*: ignored
    if fmt == 'timm_pth':
        path = tmp_path / 'resnet18.pth'
        torch.save(state, path)
    elif fmt == 'wrapped_pth':
        path = tmp_path / 'resnet18_wrapped.pth'
        torch.save({'state_dict': state, 'meta': {'epoch': 3}}, path)
    else:
        path = tmp_path / 'resnet18.safetensors'
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    model = build(model_name='resnet18', pretrained=str(path))
    before = model.timm_model.conv1.weight.clone()
    model.init_weights()
    assert not torch.equal(before, model.timm_model.conv1.weight)
    for key, value in model.timm_model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_pretrained_into_features_only_vit(tmp_path):
    # features_only ViTs are wrapped (keys gain a 'model.' prefix); a plain timm file still loads.
    state = _reference_state(**VIT)
    path = tmp_path / 'vit_tiny.pth'
    torch.save(state, path)
    model = build(**VIT, features_only=True, out_indices=(1,), pretrained=str(path))
    model.init_weights()
    torch.testing.assert_close(
        model.timm_model.model.patch_embed.proj.weight, state['patch_embed.proj.weight']
    )
    torch.testing.assert_close(
        model.timm_model.model.blocks[1].mlp.fc1.weight, state['blocks.1.mlp.fc1.weight']
    )


def test_missing_pretrained_file_names_path(tmp_path):
    path = tmp_path / 'missing_resnet18.pth'
    model = build(model_name='resnet18', pretrained=str(path))
    with pytest.raises(FileNotFoundError, match='missing_resnet18.pth'):
        model.init_weights()


def test_unrelated_file_is_an_error(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'foo.weight': torch.zeros(3)}, path)
    model = build(model_name='resnet18', pretrained=str(path))
    with pytest.raises(RuntimeError, match='none of its 1 tensors matches'):
        model.init_weights()


def test_unknown_model_name_lists_close_names():
    with pytest.raises(ValueError, match=r"no model 'resnet181'.*resnet18"):
        build(model_name='resnet181')


def test_tagged_name_is_accepted_without_download():
    model = build(model_name='resnet18.a1_in1k')
    assert model(torch.randn(1, 3, 64, 64))[0].shape == (1, 512, 2, 2)
