"""CascadeClassifier: the decision rule on constructed probabilities, the 8-class scores, the
pred_label / argmax relation, batch independence, the training losses and a self-contained checkpoint."""

import os

import pytest
import torch
import torch.nn.functional as F

from ferlab.datasets.categories import AFFWILD2_CLASSES
from ferlab.models.classifiers import cascade_decision, cascade_scores
from ferlab.registry import MODELS
from ferlab.structures import FERDataSample

COARSE = ('Neutral', 'Happiness', 'Surprise', 'Other', 'Negative')
NEG = ('Anger', 'Disgust', 'Fear', 'Sadness')


def paper_rule(p_coarse, p_neg):
    """Sec. 3.2 written out by name: Negative → the negative net decides, else the coarse class."""
    c = COARSE[max(range(5), key=lambda i: (p_coarse[i], -i))]
    name = NEG[max(range(4), key=lambda j: (p_neg[j], -j))] if c == 'Negative' else c
    return AFFWILD2_CLASSES.index(name)


def hand_scores(p_coarse, p_neg):
    out = {}
    for i, name in enumerate(COARSE[:4]):
        out[name] = p_coarse[i]
    for j, name in enumerate(NEG):
        out[name] = p_coarse[4] * p_neg[j]
    return [out[n] for n in AFFWILD2_CLASSES]


def random_probs(n, k, seed):
    g = torch.Generator().manual_seed(seed)
    return F.softmax(3 * torch.randn(n, k, generator=g, dtype=torch.float64), dim=1)


def test_constructed_probabilities():
    cases = [  # (p_coarse, p_neg, expected Aff-Wild2 label)
        ((0.6, 0.1, 0.1, 0.1, 0.1), (0.1, 0.7, 0.1, 0.1), 0),  # Neutral
        ((0.1, 0.5, 0.1, 0.1, 0.2), (0.9, 0.0, 0.0, 0.1), 4),  # Happiness
        ((0.1, 0.1, 0.5, 0.1, 0.2), (0.25, 0.25, 0.25, 0.25), 6),  # Surprise
        ((0.1, 0.1, 0.1, 0.6, 0.1), (0.0, 0.0, 1.0, 0.0), 7),  # Other
        ((0.1, 0.1, 0.1, 0.1, 0.6), (0.7, 0.1, 0.1, 0.1), 1),  # Negative → Anger
        ((0.1, 0.1, 0.1, 0.1, 0.6), (0.1, 0.7, 0.1, 0.1), 2),  # Negative → Disgust
        ((0.1, 0.1, 0.1, 0.1, 0.6), (0.1, 0.1, 0.7, 0.1), 3),  # Negative → Fear
        ((0.1, 0.1, 0.1, 0.1, 0.6), (0.1, 0.1, 0.1, 0.7), 5),  # Negative → Sadness
        ((0.3, 0.0, 0.0, 0.0, 0.7), (0.4, 0.3, 0.2, 0.1), 1),  # docstring example: cascade ≠ argmax
    ]
    pc = torch.tensor([c[0] for c in cases], dtype=torch.float64)
    pn = torch.tensor([c[1] for c in cases], dtype=torch.float64)
    scores = cascade_scores(pc, pn)
    torch.testing.assert_close(
        scores, torch.tensor([hand_scores(a, b) for a, b, _ in cases], dtype=torch.float64)
    )
    assert cascade_decision(scores).tolist() == [c[2] for c in cases]
    assert int(scores[-1].argmax()) == 0  # the example's argmax is Neutral


def test_rule_scores_and_argmax_relation_on_random_probabilities():
    pc, pn = random_probs(4000, 5, 0), random_probs(4000, 4, 1)
    scores = cascade_scores(pc, pn)
    torch.testing.assert_close(scores.sum(1), torch.ones(4000, dtype=torch.float64))
    labels = cascade_decision(scores)
    assert labels.tolist() == [paper_rule(a.tolist(), b.tolist()) for a, b in zip(pc, pn)]
    # documented relation: argmax agrees iff the coarse net says non-negative, or
    # p_coarse(Negative) * max p_neg >= max of the other coarse classes
    agree = labels == scores.argmax(1)
    predicted_negative = pc.argmax(1) == 4
    condition = ~predicted_negative | (pc[:, 4] * pn.max(1).values >= pc[:, :4].max(1).values)
    assert torch.equal(agree, condition)
    assert (~agree).sum() > 50 and agree.sum() > 50  # both cases occur


def sub(num_classes):
    return dict(
        type='FERClassifier',
        backbone=dict(type='ResNet', depth=18, num_stages=1, out_indices=(0,)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=64),
    )


def cascade(**kw):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='CascadeClassifier', coarse=sub(5), negative=sub(4), **kw))
    model.init_weights()
    return model.eval()


def batch(n=6, size=24, seed=1, labels=None):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g) for _ in range(n)]
    labels = labels if labels is not None else [i % 8 for i in range(n)]
    return dict(inputs=inputs, data_samples=[FERDataSample().set_gt_label(y) for y in labels])


def test_predict_combines_the_sub_models_and_is_batch_independent():
    model = cascade(negative_input_size=16)
    x = model.data_preprocessor(batch(), False)['inputs']
    with torch.no_grad():
        pc = F.softmax(model.coarse(x, mode='tensor'), 1)
        pn = F.softmax(
            model.negative(F.interpolate(x, size=(16, 16), mode='bilinear', antialias=True), mode='tensor'), 1
        )
        samples = model(x, mode='predict')
        alone = [model(x[i : i + 1], mode='predict')[0] for i in range(len(x))]
    expected = torch.tensor([hand_scores(a.tolist(), b.tolist()) for a, b in zip(pc, pn)])
    torch.testing.assert_close(torch.stack([s.pred_score for s in samples]), expected)
    assert [int(s.pred_label) for s in samples] == [
        paper_rule(a.tolist(), b.tolist()) for a, b in zip(pc, pn)
    ]
    torch.testing.assert_close(torch.stack([s.coarse_score for s in samples]), pc)
    for s, a in zip(samples, alone):
        torch.testing.assert_close(s.pred_score, a.pred_score, atol=1e-6, rtol=0)


def test_loss_maps_labels_for_both_nets():
    model = cascade().train()
    labels = [0, 1, 2, 3, 4, 5, 6, 7]
    data = model.data_preprocessor(batch(n=8, labels=labels), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'coarse.loss_cls', 'negative.loss_cls'}
    x = data['inputs']
    coarse_target = torch.tensor([0, 4, 4, 4, 1, 4, 2, 3])
    torch.testing.assert_close(
        losses['coarse.loss_cls'], F.cross_entropy(model.coarse(x, mode='tensor'), coarse_target)
    )
    keep = torch.tensor([1, 2, 3, 5])  # Anger, Disgust, Fear, Sadness → 0..3
    neg_logits = model.negative(x[keep], mode='tensor')
    torch.testing.assert_close(
        losses['negative.loss_cls'], F.cross_entropy(neg_logits, torch.tensor([0, 1, 2, 3]))
    )
    # a batch without negatives: zero negative loss, gradients still reach (as zeros) every parameter
    data = model.data_preprocessor(batch(n=4, labels=[0, 4, 6, 7]), True)
    losses = model(**data, mode='loss')
    assert losses['negative.loss_cls'].item() == 0.0
    losses['negative.loss_cls'].backward()
    assert all(p.grad is not None for p in model.negative.parameters())


def test_checkpoint_is_self_contained(tmp_path):
    from tools.model_converters.assemble_cascade import main as assemble

    torch.manual_seed(5)
    paths = {}
    for name, n in (('coarse', 5), ('negative', 4)):
        m = MODELS.build(sub(n))
        paths[name] = str(tmp_path / f'{name}.pth')
        torch.save(dict(state_dict=m.state_dict()), paths[name])
    cfg_path = tmp_path / 'cascade.py'
    cfg_path.write_text(
        f'model = dict(type="CascadeClassifier", coarse={sub(5)!r}, negative={sub(4)!r}, '
        f'coarse_checkpoint={paths["coarse"]!r}, negative_checkpoint={paths["negative"]!r})\n'
    )
    out = str(tmp_path / 'cascade.pth')
    meta = assemble([str(cfg_path), out])
    assert meta['sources'] == [paths['coarse'], paths['negative']]
    for p in paths.values():
        os.remove(p)
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint

    model = MODELS.build(Config.fromfile(str(cfg_path)).model)  # builds without the deleted files
    load_checkpoint(model, out, strict=True)
    reference = {k: v for k, v in torch.load(out, weights_only=True)['state_dict'].items()}
    assert any(k.startswith('negative.') for k in reference)
    for k, v in model.state_dict().items():
        assert torch.equal(v, reference[k]), k
    with pytest.raises(FileNotFoundError, match='coarse.pth'):
        model.init_weights()  # the sub-checkpoints are gone: only training would need them


def test_video_metric_applies_the_cascade_rule():
    from ferlab.evaluation.metrics import VideoMetric

    pc = torch.tensor([[0.3, 0.0, 0.0, 0.0, 0.7], [0.1, 0.6, 0.1, 0.1, 0.1], [0.2, 0.0, 0.0, 0.0, 0.8]])
    pn = torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25], [0.1, 0.1, 0.1, 0.7]])
    scores = cascade_scores(pc, pn)
    gt = [1, 4, 5]  # Anger (argmax of the 8 scores says Neutral), Happiness, Sadness
    samples = [
        dict(pred_score=s, video_id='v', frame_idx=i, gt_label=torch.tensor([y]))
        for i, (s, y) in enumerate(zip(scores, gt))
    ]
    out = {}
    for decision in ('cascade', 'argmax'):
        metric = VideoMetric(window=0, smooth_on='score', decision=decision, num_classes=8)
        metric.process(None, samples)
        out[decision] = metric.compute_metrics(metric.results)
    assert out['cascade']['accuracy'] == pytest.approx(100.0)
    assert out['argmax']['accuracy'] == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="needs smooth_on='score'"):
        VideoMetric(decision='cascade')
