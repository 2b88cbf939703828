"""FERInferencer end to end on real pixels with a tiny ResNet config + checkpoint built here."""

from __future__ import annotations

import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from ferlab.apis import FERInferencer
from ferlab.inference.writers import read_rows, row_fields
from ferlab.utils.errors import FerlabInputError
from tests.test_inference.infer_utils import CLASSES7, astronaut_bgr, coffee_bgr, write_tiny_model
from tests.utils import make_fake_rafdb, read_prediction_dump


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp('model'))


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """astronaut, two astronauts side by side, a coffee cup, a truncated JPEG and a text file named .jpg."""
    d = tmp_path_factory.mktemp('photos')
    a = astronaut_bgr()
    cv2.imwrite(str(d / 'a_astronaut.png'), a)
    cv2.imwrite(str(d / 'b_two.png'), np.concatenate([a, a], axis=1))
    cv2.imwrite(str(d / 'c_coffee.png'), coffee_bgr())
    ok, jpg = cv2.imencode('.jpg', a)
    (d / 'd_truncated.jpg').write_bytes(jpg.tobytes()[: len(jpg) // 3])
    (d / 'e_text.jpg').write_text('not a picture\n')
    return d


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _probs(row):
    return np.array([float(row[c]) for c in CLASSES7])


def test_face_scores_equal_a_hand_cut_crop_through_the_model(tiny, photos):
    """Oracle: the box cut by slicing, resized with cv2 (mmcv Resize = bilinear), preprocessor, logits, numpy softmax."""
    from mmengine.dataset import pseudo_collate

    from ferlab.apis import init_model
    from ferlab.structures import FERDataSample

    inf = FERInferencer(*tiny, detector=dict(type='HaarFaceDetector', align_roll=False), margin=0.25)
    (row,) = inf(str(photos / 'a_astronaut.png'))
    x, y, w, h = row['x'], row['y'], row['w'], row['h']
    side = round(max(w, h) * 1.5)
    x0, y0 = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
    assert x0 >= 0 and y0 >= 0 and x0 + side <= 512 and y0 + side <= 512  # inside: no padding here
    crop = cv2.resize(
        astronaut_bgr()[y0 : y0 + side, x0 : x0 + side], (32, 32), interpolation=cv2.INTER_LINEAR
    )
    model = init_model(*tiny)
    batch = model.data_preprocessor(
        pseudo_collate([dict(inputs=torch.from_numpy(crop).permute(2, 0, 1), data_samples=FERDataSample())]),
        False,
    )
    with torch.no_grad():
        logits = model(batch['inputs'], mode='tensor')[0].double().numpy()  # (C,) of the one crop
    expected = _softmax(logits[None])[0]
    np.testing.assert_allclose(_probs(row), expected, atol=1e-6)
    assert row['label'] == CLASSES7[int(expected.argmax())]
    assert expected.max() - np.sort(expected)[-2] > 1e-3  # the label is not a tie


def test_rows_faces_no_face_and_unreadable_files(tiny, photos):
    inf = FERInferencer(*tiny, batch_size=2)
    rows = inf(str(photos))
    assert inf.fields == row_fields(CLASSES7) and all(list(r) == inf.fields for r in rows)
    names = [osp.basename(r['input']) for r in rows]
    assert names == [
        'a_astronaut.png',
        'b_two.png',
        'b_two.png',
        'c_coffee.png',
        'd_truncated.jpg',
        'e_text.jpg',
    ]
    astro, left, right, coffee, trunc, text = rows
    assert [r['face_found'] for r in rows] == [1, 1, 1, 0, 0, 0]
    assert (left['face_id'], right['face_id']) == (0, 1) and left['x'] < 512 <= right['x']
    for r in (astro, left, right):
        assert (
            _probs(r).sum() == pytest.approx(1.0, abs=1e-5)
            and r['label'] == CLASSES7[int(_probs(r).argmax())]
        )
        assert r['error'] is None and r['det_score'] > 0
    assert coffee['error'] is None and all(coffee[c] is None for c in [*CLASSES7, 'label', 'x', 'face_id'])
    assert 'd_truncated.jpg' in trunc['error'] and 'truncated' in trunc['error']
    assert 'e_text.jpg' in text['error'] and 'could not be decoded' in text['error']
    assert inf.summary == dict(
        inputs=5,
        frames=5,
        faces=3,
        frames_without_face=1,
        errors=2,
        failed_inputs=[str(photos / 'd_truncated.jpg'), str(photos / 'e_text.jpg')],
    )


def test_scores_do_not_depend_on_the_batch(tiny, photos, tmp_path):
    import shutil

    shutil.copy(photos / 'b_two.png', tmp_path / 'two_again.png')
    inputs = [str(photos / 'b_two.png'), str(photos / 'a_astronaut.png'), str(tmp_path / 'two_again.png')]
    one = FERInferencer(*tiny, batch_size=1)(inputs)
    many = FERInferencer(*tiny, batch_size=16)(inputs)
    assert len(one) == len(many) == 5
    for a, b in zip(one, many):
        assert (a['x'], a['y'], a['face_id'], a['label']) == (b['x'], b['y'], b['face_id'], b['label'])
        np.testing.assert_allclose(_probs(a), _probs(b), atol=1e-6)


def test_strict_stops_at_the_first_unreadable_file(tiny, photos):
    with pytest.raises(FerlabInputError, match=r'd_truncated\.jpg.*truncated.*--strict'):
        FERInferencer(*tiny)(str(photos), strict=True)


def test_max_faces_keeps_the_largest(tiny, tmp_path):
    a = astronaut_bgr()
    small = np.zeros_like(a)
    small[128:384, 128:384] = cv2.resize(a, (256, 256), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / 'big_small.png'), np.concatenate([small, a], axis=1))
    both = FERInferencer(*tiny)(str(tmp_path / 'big_small.png'))
    assert len(both) == 2 and both[0]['w'] < both[1]['w']
    (kept,) = FERInferencer(*tiny, max_faces=1)(str(tmp_path / 'big_small.png'))
    assert (kept['x'], kept['w'], kept['face_id']) == (both[1]['x'], both[1]['w'], 0)


def test_csv_and_json_files_hold_the_returned_rows(tiny, photos, tmp_path):
    inf = FERInferencer(*tiny)
    rows = inf(str(photos), out_dir=str(tmp_path / 'csv'), save_annotated=True)
    inf(str(photos), out_dir=str(tmp_path / 'json'), out_format='json')
    from_json = read_rows(str(tmp_path / 'json' / 'predictions.json'))
    assert from_json == rows
    from_csv = read_rows(str(tmp_path / 'csv' / 'predictions.csv'))
    assert [list(r) for r in from_csv] == [inf.fields] * len(rows)
    for c, r in zip(from_csv, rows):
        assert c == {
            k: '' if v is None else (repr(v) if isinstance(v, float) else str(v)) for k, v in r.items()
        }
    annotated = sorted(p for p in (tmp_path / 'csv' / 'annotated').iterdir())
    assert [p.name for p in annotated] == ['a_astronaut.png', 'b_two.png', 'c_coffee.png']
    img = cv2.imread(str(annotated[0]))
    assert img.shape == (512, 512, 3) and not np.array_equal(img, astronaut_bgr())


@pytest.mark.e2e
def test_whole_image_scores_equal_tools_test_on_aligned_faces(tmp_path):
    """WholeImage + the config's test pipeline = tools/test.py on the same RAF-DB aligned files."""
    from tools.test import main as test_main

    root = make_fake_rafdb(tmp_path / 'raf', n_train=1, n_test=6, size=45)
    cfg, ckpt = write_tiny_model(tmp_path, data_root=root)
    test_main([cfg, ckpt, '--work-dir', str(tmp_path / 'work'), '--out', str(tmp_path / 'preds.pkl')])
    dump = read_prediction_dump(tmp_path / 'preds.pkl')
    files = [osp.join(root, 'basic/Image/aligned', f'test_{i:04d}_aligned.jpg') for i in range(1, 7)]
    rows = FERInferencer(cfg, ckpt, detector='whole', batch_size=4)(files)
    assert [r['input'] for r in rows] == files
    assert [(r['x'], r['y'], r['w'], r['h'], r['det_score']) for r in rows] == [(0, 0, 45, 45, 1.0)] * 6
    np.testing.assert_allclose(np.stack([_probs(r) for r in rows]), dump['scores'], atol=1e-6)
    assert [CLASSES7.index(r['label']) for r in rows] == dump['labels'].tolist()


class _AUBackend:
    """A backend with an AU output: class scores and AU probabilities made from the crop's mean colour."""

    meta = dict(classes=['neg', 'pos'], input_size=(8, 8), au_names=['AU6', 'AU12'])

    def __call__(self, crops):
        m = np.array([c.mean() / 255.0 for c in crops], np.float32)
        return dict(scores=np.stack([1 - m, m], 1), au_scores=np.stack([m, m / 2], 1))


def test_au_outputs_get_one_column_each_after_the_label(tmp_path):
    img = np.full((30, 40, 3), 51, np.uint8)  # mean 51 / 255 = 0.2
    cv2.imwrite(str(tmp_path / 'grey.png'), img)
    inf = FERInferencer(_AUBackend(), detector='whole')
    (row,) = inf(str(tmp_path / 'grey.png'), out_dir=str(tmp_path / 'o'))
    assert inf.fields[11:] == ['neg', 'pos', 'label', 'AU6', 'AU12', 'error']
    assert row['label'] == 'neg' and row['pos'] == pytest.approx(0.2) and row['AU12'] == pytest.approx(0.1)
    (from_csv,) = read_rows(str(tmp_path / 'o' / 'predictions.csv'))
    assert float(from_csv['AU6']) == pytest.approx(0.2) and from_csv['error'] == ''


def test_camera_smoothing_is_causal_and_equals_smoothing_the_whole_stream(tiny, monkeypatch):
    """Live rows are smoothed as they come; the result equals causal SmoothPredicting over all rows at the end."""
    import ferlab.inference.video as video
    from ferlab.inference.smoothing import smooth_rows
    from ferlab.inference.sources import Frame

    a = astronaut_bgr()
    frames = [0, 1, 2, 4, 5, 8, 9, 10, 11, 13]  # the camera dropped some frames

    def fake_camera(index, every_n_frames=1):
        for k in frames:
            img = (
                np.roll(a, 3 * k, axis=1) if k % 3 else cv2.GaussianBlur(np.roll(a, 3 * k, axis=1), (5, 5), 2)
            )
            yield Frame(f'camera:{index}', k, k / 10.0, img, None, True)

    monkeypatch.setattr(video, 'iter_camera_frames', fake_camera)
    inf = FERInferencer(*tiny)
    raw = inf('camera:0')
    live = inf('camera:0', smooth=4)
    assert [r['frame'] for r in live] == frames and {r['face_id'] for r in live} == {0}
    expected = smooth_rows(raw, CLASSES7, 4, causal=True)
    for got, want in zip(live, expected):
        np.testing.assert_allclose(_probs(got), _probs(want), atol=1e-12)
        assert got['label'] == want['label']
    assert not np.allclose(_probs(live[-1]), _probs(raw[-1]))  # smoothing changed something
