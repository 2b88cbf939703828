"""MVT stage 2: a classifier on images masked by the frozen stage-1 generator."""

import pytest
import torch
from mmengine.runner.checkpoint import load_checkpoint

from ferlab.registry import MODELS
from ferlab.utils import atomic_save
from tests.test_models.test_classifiers.test_mgn import GEN, VIT, batch, mgn_cfg


def mvt_cfg(ckpt, **kw):
    return dict(
        type='MVT',
        mgn=GEN,
        mgn_checkpoint=ckpt,
        backbone=dict(type='ViTBackbone', depth=1, **VIT),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=32),
        **kw,
    )


def test_mvt_loads_frozen_mgn_from_checkpoint(tmp_path):
    torch.manual_seed(0)
    stage1 = MODELS.build(mgn_cfg())
    ckpt = str(tmp_path / 'epoch_1.pth')
    atomic_save(dict(meta=dict(epoch=1), state_dict=stage1.state_dict()), ckpt)

    model = MODELS.build(mvt_cfg(ckpt))
    model.init_weights()  # must not re-initialise the loaded generator
    for k, v in stage1.generator.state_dict().items():
        assert torch.equal(model.mgn.state_dict()[k], v), k
    assert not any(p.requires_grad for p in model.mgn.parameters())
    model.train()
    assert model.training and not model.mgn.training

    data = model.data_preprocessor(batch(4), True)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    losses['loss_cls'].backward()
    assert all(p.grad is None for p in model.mgn.parameters())
    assert model.backbone.vit.patch_embed.proj.weight.grad is not None
    assert torch.stack([s.train_score for s in losses['data_samples']]).shape == (4, 4)

    # the masked image is what the backbone sees: masked pixels are black; the default
    # stage2_mask='complement' keeps M_p (paper Sec. 3.2), not the stage-1 keep-mask 1 - M_p
    assert model.stage2_mask == 'complement'
    masked = model.mask_inputs(data['inputs'])
    keep = 1.0 - model.mgn.keep_mask(model.mgn(data['inputs']))
    mean = model.data_preprocessor.mean.view(1, 3, 1, 1)
    std = model.data_preprocessor.std.view(1, 3, 1, 1)
    torch.testing.assert_close(
        masked * std + mean, (data['inputs'] * std + mean) * keep, atol=1e-3, rtol=1e-4
    )

    model.eval()
    full = model(data['inputs'], mode='predict')
    one = model(data['inputs'][1:2], mode='predict')
    torch.testing.assert_close(full[1].pred_score, one[0].pred_score, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('fill', ['black', 'mean'])
def test_mvt_stage2_mask_polarity_on_a_known_patch(tmp_path, fill):
    """M_p = 1 on patch 5 (row 1, col 1 of the 4x4 grid), 0 elsewhere: 'complement' keeps only that
    patch (I * M_p), 'same' hides only that patch (I * (1 - M_p), as in stage 1)."""
    torch.manual_seed(0)
    ckpt = str(tmp_path / 'epoch_1.pth')
    atomic_save(dict(state_dict=MODELS.build(mgn_cfg()).state_dict()), ckpt)
    data = None
    mp = torch.zeros(4, 16)
    mp[:, 5] = 1.0
    patch = torch.zeros(32, 32, dtype=torch.bool)
    patch[8:16, 8:16] = True
    out = {}
    for polarity in ('complement', 'same'):
        model = MODELS.build(mvt_cfg(ckpt, stage2_mask=polarity, fill=fill)).eval()
        model.mgn.forward = lambda x: mp[: x.shape[0]]  # the constructed generator output
        data = data or model.data_preprocessor(batch(4), False)
        x = data['inputs']
        masked = model.mask_inputs(x)
        mean = model.data_preprocessor.mean.view(1, 3, 1, 1)
        std = model.data_preprocessor.std.view(1, 3, 1, 1)
        # 'black': pixels (0-255) become 0; 'mean': normalised values become 0
        pix = masked * std + mean if fill == 'black' else masked
        ref = x * std + mean if fill == 'black' else x
        kept = patch if polarity == 'complement' else ~patch
        torch.testing.assert_close(pix[..., kept], ref[..., kept], atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(pix[..., ~kept], torch.zeros_like(pix[..., ~kept]), atol=1e-3, rtol=0)
        out[polarity] = pix
        # the backbone sees exactly this image
        seen = []
        model.backbone.register_forward_hook(lambda mod, args, o: seen.append(args[0]))
        model(x, mode='tensor')
        torch.testing.assert_close(seen[0], masked)
    # the two polarities split the image: their pixel sum is the original image
    ref = data['inputs'] * std + mean if fill == 'black' else data['inputs']
    torch.testing.assert_close(out['complement'] + out['same'], ref, atol=1e-3, rtol=1e-4)
    with pytest.raises(ValueError, match='stage2_mask'):
        MODELS.build(mvt_cfg(ckpt, stage2_mask='inverse'))


def test_mvt_checkpoint_errors(tmp_path):
    """Problems with the stage-1 file surface in init_weights, the step the Runner runs before training."""
    missing = MODELS.build(mvt_cfg(str(tmp_path / 'missing.pth')))
    with pytest.raises(FileNotFoundError, match=r'missing\.pth.*Run stage 1 first'):
        missing.init_weights()
    unset = MODELS.build(mvt_cfg(None))
    with pytest.raises(ValueError, match='no mgn_checkpoint'):
        unset.init_weights()
    wrong = MODELS.build(dict(GEN, embed_dim=64))
    path = str(tmp_path / 'wrong.pth')
    atomic_save(dict(state_dict={f'generator.{k}': v for k, v in wrong.state_dict().items()}), path)
    with pytest.raises(RuntimeError, match='size mismatch|does not hold'):
        MODELS.build(mvt_cfg(path)).init_weights()
    baseline = MODELS.build(mvt_cfg(None, **{}) | dict(mgn=None))
    baseline.init_weights()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(baseline.mask_inputs(x), x)


def stage1_checkpoint(path, seed=0):
    torch.manual_seed(seed)
    stage1 = MODELS.build(mgn_cfg())
    atomic_save(dict(meta=dict(epoch=1), state_dict=stage1.state_dict()), str(path))
    return stage1


def test_mvt_constructor_reads_no_file(tmp_path):
    """Building the model does not open mgn_checkpoint; init_weights loads it."""
    ckpt = tmp_path / 'epoch_1.pth'
    stage1 = stage1_checkpoint(ckpt)
    torch.manual_seed(1)
    model = MODELS.build(mvt_cfg(str(ckpt)))
    gen = stage1.generator.state_dict()
    assert not torch.equal(model.mgn.state_dict()['mask_head.weight'], gen['mask_head.weight'])
    # frozen from construction on, whatever fills its weights later
    assert not any(p.requires_grad for p in model.mgn.parameters())
    assert not model.train().mgn.training
    model.init_weights()
    for k, v in gen.items():
        assert torch.equal(model.mgn.state_dict()[k], v), k


def test_stage2_checkpoint_restores_without_the_stage1_file(tmp_path):
    """A stage-2 checkpoint holds mgn.*: it loads (as the Runner's load_from does) after the stage-1 file is gone."""
    ckpt1 = tmp_path / 's1' / 'epoch_1.pth'
    ckpt1.parent.mkdir()
    stage1 = stage1_checkpoint(ckpt1)
    torch.manual_seed(2)
    trained = MODELS.build(mvt_cfg(str(ckpt1)))
    trained.init_weights()
    ckpt2 = str(tmp_path / 'stage2.pth')
    atomic_save(dict(meta=dict(epoch=1), state_dict=trained.state_dict()), ckpt2)
    ckpt1.unlink()
    ckpt1.parent.rmdir()

    torch.manual_seed(3)
    model = MODELS.build(mvt_cfg(str(ckpt1)))  # the config still names the deleted file
    load_checkpoint(model, ckpt2, map_location='cpu', strict=True)
    for k, v in stage1.generator.state_dict().items():
        assert torch.equal(model.mgn.state_dict()[k], v), k
    assert not any(p.requires_grad for p in model.mgn.parameters())
    model.train()
    assert model.training and not model.mgn.training
    model.eval()
    trained.eval()
    x = model.data_preprocessor(batch(3), False)['inputs']
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode='tensor'), trained(x, mode='tensor'), rtol=0, atol=0)


def test_mvt_with_a_cnn_classifier_sees_the_masked_image(tmp_path):
    """The stage-2 classifier is any ferlab backbone (+ neck): here ResNet-18 cut after stage 2."""
    torch.manual_seed(0)
    stage1 = MODELS.build(mgn_cfg())
    ckpt = str(tmp_path / 'epoch_1.pth')
    atomic_save(dict(state_dict=stage1.state_dict()), ckpt)
    cfg = mvt_cfg(ckpt) | dict(
        backbone=dict(type='ResNet', depth=18, num_stages=2, out_indices=(1,)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=128),
    )
    model = MODELS.build(cfg)
    model.init_weights()
    for k, v in stage1.generator.state_dict().items():
        assert torch.equal(model.mgn.state_dict()[k], v), k
    seen = []
    model.backbone.register_forward_hook(lambda mod, args, out: seen.append((args[0].detach(), out[0].shape)))
    model.train()
    data = model.data_preprocessor(batch(4), True)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    losses['loss_cls'].backward()
    # (B, 3, 32, 32) -> ResNet stage 1 output (B, 128, 4, 4)
    assert seen[0][1] == (4, 128, 4, 4)
    torch.testing.assert_close(seen[0][0], model.mask_inputs(data['inputs']))
    assert not torch.equal(seen[0][0], data['inputs'])  # some patches are masked
    assert model.backbone.conv1.weight.grad is not None
    assert all(p.grad is None for p in model.mgn.parameters())
    assert torch.stack([s.train_score for s in losses['data_samples']]).shape == (4, 4)
