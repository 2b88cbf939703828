"""MVT stage 1 (MGN) and stage 2 (MVT classifier) models."""

import pytest
import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict

from ferlab.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from ferlab.structures import FERDataSample
from ferlab.utils import atomic_save

VIT = dict(img_size=32, patch_size=8, embed_dim=32, num_heads=2)
GEN = dict(type='MaskGenerator', num_blocks=1, **VIT)


def mgn_cfg(mask_ratio=0.15, **kw):
    return dict(
        type='MGN',
        mask_ratio=mask_ratio,
        generator=GEN,
        discriminator=dict(
            type='FERClassifier',
            backbone=dict(type='ViTBackbone', depth=1, **VIT),
            head=dict(type='LinearClsHead', num_classes=4, in_channels=32),
        ),
        **kw,
    )


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=g) for _ in range(n)]
    samples = [FERDataSample(metainfo=dict(sample_idx=i)).set_gt_label(i % 4) for i in range(n)]
    return dict(inputs=inputs, data_samples=samples)


def optim(model, lr_g=1e-2, lr_d=1e-3):
    ctor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='MGNOptimWrapperConstructor',
            optim_wrapper_cfg=dict(
                generator=dict(optimizer=dict(type='AdamW', lr=lr_g)),
                discriminator=dict(optimizer=dict(type='AdamW', lr=lr_d)),
            ),
        )
    )
    return ctor(model)


def test_mgn_train_step_alternates_and_logs():
    torch.manual_seed(0)
    model = MODELS.build(mgn_cfg())
    ow = optim(model)
    assert isinstance(ow, OptimWrapperDict) and set(ow.keys()) == {'generator', 'discriminator'}
    g0 = {k: v.clone() for k, v in model.generator.state_dict().items()}
    d0 = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    log = model.train_step(batch(), ow)
    for key in ('loss_d', 'loss_d_gen', 'loss_d_rand', 'loss_g', 'loss_var', 'loss_area', 'mask_area'):
        assert key in log and torch.isfinite(log[key])
    torch.testing.assert_close(log['loss_d'], log['loss_d_gen'] + log['loss_d_rand'])
    assert any(not torch.equal(v, model.generator.state_dict()[k]) for k, v in g0.items())
    assert any(not torch.equal(v, model.discriminator.state_dict()[k]) for k, v in d0.items())
    # D is unfrozen again and back in train mode after the G step
    assert all(p.requires_grad for p in model.discriminator.parameters())
    assert model.discriminator.training
    with pytest.raises(TypeError, match='OptimWrapperDict'):
        model.train_step(batch(), OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1)))


def test_g_step_does_not_touch_discriminator():
    """With a zero D learning rate the D step is a no-op, so any D change would come from the G step."""
    torch.manual_seed(0)
    model = MODELS.build(mgn_cfg())
    ow = optim(model, lr_d=0.0)
    d0 = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    for _ in range(2):
        model.train_step(batch(), ow)
    for k, v in model.discriminator.state_dict().items():
        assert torch.equal(v, d0[k]), k


@pytest.mark.parametrize('m', [0.1, 0.4])
def test_mask_area_moves_toward_target(m):
    torch.manual_seed(0)
    model = MODELS.build(mgn_cfg(mask_ratio=m))  # generator starts at area 0.5
    ow = optim(model, lr_g=3e-2)
    data = batch()
    first = model.train_step(data, ow)['mask_area'].item()
    for _ in range(6):
        last = model.train_step(data, ow)['mask_area'].item()
    assert abs(last - m) < abs(first - m) - 0.05, (first, last)


def test_mgn_forward_modes_and_predict_is_batch_independent():
    torch.manual_seed(0)
    model = MODELS.build(mgn_cfg(predict_on='generated')).eval()
    data = model.data_preprocessor(batch(6), False)
    assert model(data['inputs'], mode='tensor').shape == (6, 16)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert {'loss_d', 'loss_g'} <= set(losses)
    full = model(data['inputs'], data['data_samples'], mode='predict')
    single = model(data['inputs'][2:3], [FERDataSample()], mode='predict')
    torch.testing.assert_close(full[2].pred_score, single[0].pred_score, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match='predict_on'):
        MODELS.build(mgn_cfg(predict_on='masked'))


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
    assert model.last_train_batch['scores'].shape == (4, 4)

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
    with pytest.raises(FileNotFoundError, match='Run stage 1 first'):
        MODELS.build(mvt_cfg(str(tmp_path / 'missing.pth')))
    with pytest.raises(ValueError, match='no mgn_checkpoint'):
        MODELS.build(mvt_cfg(None))
    wrong = MODELS.build(dict(GEN, embed_dim=64))
    path = str(tmp_path / 'wrong.pth')
    atomic_save(dict(state_dict={f'generator.{k}': v for k, v in wrong.state_dict().items()}), path)
    with pytest.raises(RuntimeError, match='size mismatch|does not hold'):
        MODELS.build(mvt_cfg(path))
    baseline = MODELS.build(mvt_cfg(None, **{}) | dict(mgn=None))
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(baseline.mask_inputs(x), x)


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
    assert model.last_train_batch['scores'].shape == (4, 4)


def test_mgn_discriminator_from_a_classifier_checkpoint(tmp_path):
    torch.manual_seed(0)
    clf = MODELS.build(
        mvt_cfg(None) | dict(mgn=None, head=dict(type='LinearClsHead', num_classes=4, in_channels=32))
    )
    path = str(tmp_path / 'clf.pth')
    atomic_save(dict(state_dict=clf.state_dict()), path)
    mgn = MODELS.build(mgn_cfg(discriminator_checkpoint=path))
    mgn.init_weights()  # must keep the loaded D
    for k, v in clf.state_dict().items():
        if k.startswith(('backbone.', 'head.')):
            assert torch.equal(mgn.discriminator.state_dict()[k], v), k
    # an MGN checkpoint (discriminator.* keys) works as well
    mgn_path = str(tmp_path / 'mgn.pth')
    atomic_save(dict(state_dict=mgn.state_dict()), mgn_path)
    again = MODELS.build(mgn_cfg(discriminator_checkpoint=mgn_path))
    torch.testing.assert_close(again.discriminator.state_dict(), mgn.discriminator.state_dict())
    wrong = MODELS.build(
        mvt_cfg(None) | dict(mgn=None, head=dict(type='LinearClsHead', num_classes=5, in_channels=32))
    )
    atomic_save(dict(state_dict=wrong.state_dict()), path)
    with pytest.raises(RuntimeError, match='does not match'):
        MODELS.build(mgn_cfg(discriminator_checkpoint=path))
