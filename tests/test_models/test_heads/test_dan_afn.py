"""DAN's AttentionFusionHead (AFN) and the composed DAN model."""

import pytest
import torch
import torch.nn.functional as F

from ferlab.registry import MODELS
from ferlab.structures import FERDataSample
from ferlab.visualization import head_overlap


def _samples(labels):
    return [FERDataSample().set_gt_label(int(v)) for v in labels]


def _head(**kw):
    cfg = dict(type='AttentionFusionHead', num_classes=3, in_channels=8)
    cfg.update(kw)
    return MODELS.build(cfg)


def test_forward_matches_equations():
    torch.manual_seed(0)
    head = _head().eval()
    x = torch.randn(2, 8, 3, 3)
    heads = torch.randn(2, 4, 8)
    maps = torch.rand(2, 4, 3, 3)
    logits = head((x, heads, maps))
    expected = head.bn(head.fc(F.log_softmax(heads, dim=1).sum(dim=1)))
    torch.testing.assert_close(logits, expected)
    assert head.get_attention_maps((x, heads, maps)) is maps
    # k = 1: no log-softmax (it would zero the features), as in the public code
    one = torch.randn(2, 1, 8)
    torch.testing.assert_close(head((x, one, maps[:, :1])), head.bn(head.fc(one[:, 0])))


def test_loss_terms_and_centers_are_model_parameters():
    torch.manual_seed(0)
    head = _head()
    assert 'affinity_loss.centers' in dict(head.named_parameters())
    assert head.affinity_loss.centers.shape == (3, 8)
    feats = (torch.randn(4, 8, 3, 3), torch.randn(4, 4, 8, requires_grad=True), torch.rand(4, 4, 3, 3))
    losses = head.loss(feats, _samples([0, 1, 2, 0]))
    assert set(losses) == {'loss_cls', 'loss_pt', 'loss_af'}
    sum(losses.values()).backward()
    assert head.affinity_loss.centers.grad.abs().sum() > 0
    assert feats[1].grad.abs().sum() > 0
    ablated = _head(partition_loss=None, affinity_loss=dict(type='CenterLoss'))
    assert set(ablated.loss(feats, _samples([0, 1, 2, 0]))) == {'loss_cls', 'loss_af'}
    assert set(_head(partition_loss=None, affinity_loss=None).loss(feats, _samples([0, 1, 2, 0]))) == {
        'loss_cls'
    }


def test_affinity_num_classes_tied_to_head():
    with pytest.raises(ValueError, match="dataset's number of classes"):
        _head(affinity_loss=dict(type='AffinityLoss', num_classes=8))
    head = _head()
    feats = (torch.randn(2, 8, 3, 3), torch.randn(2, 4, 8), torch.rand(2, 4, 3, 3))
    with pytest.raises(ValueError, match='0..2'):
        head.loss(feats, _samples([0, 3]))
    with pytest.raises(ValueError, match='MultiHeadCrossAttention'):
        head((torch.randn(2, 8),))


DAN_TINY = dict(
    type='FERClassifier',
    backbone=dict(type='ResNet', depth=18, num_stages=2, out_indices=(1,)),
    neck=dict(type='MultiHeadCrossAttention', in_channels=128, num_heads=4),
    head=dict(type='AttentionFusionHead', num_classes=7, in_channels=128),
)


def test_dan_model_batch_invariant_in_eval():
    torch.manual_seed(0)
    model = MODELS.build(DAN_TINY)
    model.init_weights()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(2):  # a couple of steps so running stats are not the defaults
        inputs = torch.randn(6, 3, 32, 32)
        losses = model(inputs, _samples(range(6)), mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)  # mmengine's rule; 'data_samples' is no loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        full = model(x)
        alone = model(x[3:4])
        other = model(torch.cat([torch.randn(7, 3, 32, 32) * 3, x[3:4]]))
        preds = model(x, None, mode='predict')
    torch.testing.assert_close(alone[0], full[3], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(other[-1], full[3], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(preds[3].pred_score, F.softmax(full[3], 0), atol=1e-5, rtol=1e-5)


def test_same_neck_head_on_timm_backbone_by_config():
    cfg = dict(DAN_TINY)
    cfg['backbone'] = dict(
        type='TimmBackbone', model_name='convnext_atto', features_only=True, out_indices=(3,)
    )
    cfg['neck'] = dict(type='MultiHeadCrossAttention', in_channels=320, num_heads=4)
    cfg['head'] = dict(type='AttentionFusionHead', num_classes=7, in_channels=320)
    model = MODELS.build(cfg)
    losses = model(torch.randn(2, 3, 64, 64), _samples([1, 5]), mode='loss')
    assert set(losses) == {'loss_cls', 'loss_pt', 'loss_af', 'data_samples'}
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.head.affinity_loss.centers.shape == (7, 320)
    assert model.head.affinity_loss.centers.grad is not None


def _train_toy(partition: bool, seed: int) -> float:
    torch.manual_seed(seed)
    neck = MODELS.build(dict(type='MultiHeadCrossAttention', in_channels=16, num_heads=4, hidden_channels=8))
    pt = dict(type='PartitionLoss') if partition else None
    head = _head(in_channels=16, affinity_loss=None, partition_loss=pt)
    g = torch.Generator().manual_seed(123)
    x = torch.randn(32, 16, 6, 6, generator=g).relu()
    samples = _samples(torch.arange(32) % 3)
    opt = torch.optim.SGD(list(neck.parameters()) + list(head.parameters()), lr=0.05, momentum=0.9)
    for _ in range(40):
        loss = sum(head.loss(neck((x,)), samples).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    neck.eval()
    with torch.no_grad():
        return head_overlap(neck((x,))[2]).mean().item()


@pytest.mark.slow
def test_partition_loss_lowers_head_overlap_on_toy_problem():
    for seed in (0, 1):
        without, with_pt = _train_toy(False, seed), _train_toy(True, seed)
        assert with_pt < without - 0.1, (seed, without, with_pt)
