"""FERInferencer on a CFC-SP cascade: the label column follows the cascade rule, not the argmax of the 8 scores."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from ferlab.apis import FERInferencer
from ferlab.datasets.categories import AFFWILD2_CLASSES
from ferlab.inference.writers import read_rows
from ferlab.utils import atomic_save
from tests.test_inference.infer_utils import astronaut_bgr
from tests.test_inference.video_utils import write_video
from tests.utils import REPO_ROOT

CONFIG = f'{REPO_ROOT}/configs/cfcsp/cfcsp_cascade-r18_neg-r18-48px-cpu_synthfervideo.py'
#: The docstring example of CascadeClassifier: p_coarse = (Neutral .3, Happiness, Surprise, Other 0,
#: Negative .7), p_neg = (Anger .4, Disgust .3, Fear .2, Sadness .1): the cascade says Anger
#: (p = .28), the argmax of the 8 scores Neutral (p = .3).
P_COARSE = (0.3, 1e-9, 1e-9, 1e-9, 0.7)
P_NEG = (0.4, 0.3, 0.2, 0.1)


@pytest.fixture(scope='module')
def cascade_ckpt(tmp_path_factory):
    """The shipped cascade config with heads that give P_COARSE and P_NEG whatever the face."""
    from mmengine.config import Config

    from ferlab.registry import MODELS

    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)  # reads no file (the sub-checkpoints load in init_weights)
    with torch.no_grad():
        for net, probs in ((model.coarse, P_COARSE), (model.negative, P_NEG)):
            net.head.fc.weight.zero_()
            net.head.fc.bias.copy_(torch.tensor([math.log(p) for p in probs]))
    path = str(tmp_path_factory.mktemp('cascade') / 'cascade.pth')
    meta = dict(dataset_meta=dict(classes=list(AFFWILD2_CLASSES)))
    atomic_save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path


def test_label_is_the_cascade_rule(cascade_ckpt, tmp_path):
    photo = str(tmp_path / 'face.png')
    cv2.imwrite(photo, cv2.resize(astronaut_bgr(), (48, 48), interpolation=cv2.INTER_AREA))
    inf = FERInferencer(CONFIG, cascade_ckpt, detector='whole')
    assert inf.backend.meta['decision'] == 'cascade'
    (row,) = inf(photo, out_dir=str(tmp_path / 'out'))
    probs = [row[c] for c in AFFWILD2_CLASSES]
    # hand computation: p(Neutral) = .3, p(Anger) = .7 * .4 = .28, ...
    expected = dict(Neutral=0.3, Anger=0.28, Disgust=0.21, Fear=0.14, Sadness=0.07)
    for name, p in expected.items():
        assert row[name] == pytest.approx(p, abs=1e-6)
    assert AFFWILD2_CLASSES[int(np.argmax(probs))] == 'Neutral'
    assert row['label'] == 'Anger'  # the model's pred_label, not the argmax
    assert read_rows(str(tmp_path / 'out' / 'predictions.csv'))[0]['label'] == 'Anger'


def test_smoothed_rows_apply_the_cascade_rule_too(cascade_ckpt, tmp_path):
    video = write_video(
        str(tmp_path / 'v.avi'),
        5,
        size=(48, 48),
        frame_fn=lambda i: cv2.resize(astronaut_bgr(), (48, 48), interpolation=cv2.INTER_AREA),
    )
    inf = FERInferencer(CONFIG, cascade_ckpt, detector='whole')
    rows = inf(video, smooth=3)
    assert len(rows) == 5
    for row in rows:  # the same vector every frame: smoothing keeps it, the rule still says Anger
        assert row['Neutral'] == pytest.approx(0.3, abs=1e-6) and row['Anger'] == pytest.approx(
            0.28, abs=1e-6
        )
        assert row['label'] == 'Anger'


@pytest.mark.slow
def test_onnx_export_of_the_cascade_keeps_the_rule(cascade_ckpt, tmp_path):
    pytest.importorskip('onnxruntime')
    import sys

    sys.path.insert(0, REPO_ROOT)
    from tools.deployment.pytorch2onnx import main as export

    onnx_path = str(tmp_path / 'cascade.onnx')
    export([CONFIG, cascade_ckpt, '--out', onnx_path])
    photo = str(tmp_path / 'face.png')
    cv2.imwrite(photo, cv2.resize(astronaut_bgr(), (48, 48), interpolation=cv2.INTER_AREA))
    (row,) = FERInferencer(onnx_path, detector='whole')(photo)
    assert row['Neutral'] == pytest.approx(0.3, abs=1e-5) and row['Anger'] == pytest.approx(0.28, abs=1e-5)
    assert row['label'] == 'Anger'
