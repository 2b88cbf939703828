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


def classifier_cfg(num_classes=4):
    return dict(
        type='FERClassifier',
        backbone=dict(type='ViTBackbone', depth=1, **VIT),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=32),
    )


def test_mgn_discriminator_from_a_classifier_checkpoint(tmp_path):
    torch.manual_seed(0)
    clf = MODELS.build(classifier_cfg())
    path = str(tmp_path / 'clf.pth')
    atomic_save(dict(state_dict=clf.state_dict()), path)
    mgn = MODELS.build(mgn_cfg(discriminator_checkpoint=path))
    mgn.init_weights()
    for k, v in clf.state_dict().items():
        assert torch.equal(mgn.discriminator.state_dict()[k], v), k
    # an MGN checkpoint (discriminator.* keys) works as well
    mgn_path = str(tmp_path / 'mgn.pth')
    atomic_save(dict(state_dict=mgn.state_dict()), mgn_path)
    again = MODELS.build(mgn_cfg(discriminator_checkpoint=mgn_path))
    again.init_weights()
    torch.testing.assert_close(again.discriminator.state_dict(), mgn.discriminator.state_dict())
    atomic_save(dict(state_dict=MODELS.build(classifier_cfg(num_classes=5)).state_dict()), path)
    wrong = MODELS.build(mgn_cfg(discriminator_checkpoint=path))
    with pytest.raises(RuntimeError, match=r'clf\.pth does not match the MGN discriminator'):
        wrong.init_weights()


def test_mgn_constructor_reads_no_discriminator_checkpoint(tmp_path):
    """discriminator_checkpoint is read by init_weights, not by the constructor."""
    torch.manual_seed(0)
    clf = MODELS.build(classifier_cfg())
    path = tmp_path / 'clf.pth'
    atomic_save(dict(state_dict=clf.state_dict()), str(path))
    torch.manual_seed(1)
    mgn = MODELS.build(mgn_cfg(discriminator_checkpoint=str(path)))
    head = clf.state_dict()['head.fc.weight']
    assert not torch.equal(mgn.discriminator.state_dict()['head.fc.weight'], head)
    mgn.init_weights()
    assert torch.equal(mgn.discriminator.state_dict()['head.fc.weight'], head)
    missing = MODELS.build(mgn_cfg(discriminator_checkpoint=str(tmp_path / 'gone.pth')))
    with pytest.raises(FileNotFoundError, match='gone.pth'):
        missing.init_weights()
