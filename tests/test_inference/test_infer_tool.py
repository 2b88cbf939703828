"""tools/infer.py: same CSV as FERInferencer, exit codes, one-line errors, the published-DAN path."""

from __future__ import annotations

import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ferlab.apis import FERInferencer
from ferlab.inference.writers import read_rows, write_rows
from tests.test_inference.infer_utils import CLASSES7, astronaut_bgr, coffee_bgr, write_tiny_model
from tests.utils import REPO_ROOT


def _cli(argv):
    sys.path.insert(0, REPO_ROOT)
    from tools.infer import cli

    return cli(argv)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp('model'))


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp('photos')
    a = astronaut_bgr()
    cv2.imwrite(str(d / 'astronaut.jpg'), a)
    cv2.imwrite(str(d / 'two.png'), np.concatenate([a, a], axis=1))
    cv2.imwrite(str(d / 'coffee.png'), coffee_bgr())
    return d


def _exit_code(argv, capsys=None):
    with pytest.raises(SystemExit) as info:
        _cli(argv)
    return info.value.code


def test_cli_csv_is_byte_identical_to_the_api(tiny, photos, tmp_path):
    summary = _cli(
        [*tiny, str(photos), '--out-dir', str(tmp_path / 'cli'), '--batch-size', '3', '--no-progress']
    )
    inf = FERInferencer(*tiny, batch_size=5)
    write_rows(str(tmp_path / 'api.csv'), inf(str(photos)), inf.fields)
    with open(tmp_path / 'cli' / 'predictions.csv', 'rb') as f, open(tmp_path / 'api.csv', 'rb') as g:
        cli_bytes, api_bytes = f.read(), g.read()
    assert cli_bytes == api_bytes
    rows = read_rows(str(tmp_path / 'cli' / 'predictions.csv'))
    assert [(osp.basename(r['input']), r['face_found'], r['face_id']) for r in rows] == [
        ('astronaut.jpg', '1', '0'),
        ('coffee.png', '0', ''),
        ('two.png', '1', '0'),
        ('two.png', '1', '1'),
    ]
    assert list(rows[0])[11:18] == CLASSES7
    with open(tmp_path / 'cli' / 'summary.json') as f:
        assert json.load(f) == dict(summary, predictions=str(tmp_path / 'cli' / 'predictions.csv'))
    assert (summary['inputs'], summary['faces'], summary['frames_without_face'], summary['errors']) == (
        3,
        3,
        1,
        0,
    )


def test_cli_exit_code_is_1_when_an_input_failed_and_the_run_goes_on(tiny, photos, tmp_path, capsys):
    bad = tmp_path / 'broken.jpg'
    bad.write_text('not a picture')
    code = _exit_code([*tiny, str(photos / 'astronaut.jpg'), str(bad), str(photos / 'two.png'),
                       '--out-dir', str(tmp_path / 'o'), '--format', 'json', '--no-progress'])  # fmt: skip
    assert code == 1
    rows = read_rows(str(tmp_path / 'o' / 'predictions.json'))
    assert [r['face_found'] for r in rows] == [1, 0, 1, 1]
    assert str(bad) in rows[1]['error']
    out = capsys.readouterr()
    assert '3 inputs, 3 frames, 3 faces, 0 frames without a face, 1 unreadable' in out.out
    assert f'failed: {bad}' in out.err


def test_cli_strict_stops_with_one_line(tiny, photos, tmp_path, capsys):
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'\xff\xd8\xff\xe0' + b'\0' * 40)
    code = _exit_code(
        [*tiny, str(bad), str(photos / 'astronaut.jpg'), '--out-dir', str(tmp_path / 'o'), '--strict']
    )
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith('[')]  # bar
    assert code == 2 and len(err) == 1
    assert err[0].startswith('tools/infer.py: error: ') and str(bad) in err[0] and '--strict' in err[0]


@pytest.mark.parametrize(
    'args,message',
    [
        (['CFG'], 'a config needs a CHECKPOINT after it'),
        (['CFG', 'CKPT'], 'no INPUT given'),
        (['CFG', 'CKPT', 'x.jpg', '--detector', 'yunet'], '--detector yunet needs --yunet-model PATH'),
        (['CFG', 'CKPT', 'x.jpg', '--backend', 'onnxruntime'], '--backend onnxruntime takes an .onnx file'),
        (['CFG', 'CKPT', 'x.jpg', '--batch-size', '0'], '--batch-size must be >= 1, got 0'),
        (['CFG', 'gone.pth', 'x.jpg'], 'checkpoint file gone.pth does not exist'),
        (['CFG', 'CKPT', 'x.jpg', '--detect-every', '0'], '--detect-every must be >= 1, got 0'),
        (['CFG', 'CKPT', 'x.jpg', '--detect-max-side', '10'], '--detect-max-side must be >= 24'),
        (
            ['CFG', 'CKPT', 'x.jpg', '--detect-max-side', '256', '--detector', 'whole'],
            '--detect-max-side applies to --detector haar',
        ),
    ],
)
def test_cli_usage_errors_are_one_line(tiny, tmp_path, capsys, args, message):
    args = [tiny[0] if a == 'CFG' else tiny[1] if a == 'CKPT' else a for a in args]
    code = _exit_code([*args, '--out-dir', str(tmp_path / 'o')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err


def test_cli_detect_max_side_reaches_the_detector(tiny, photos, tmp_path):
    from ferlab.inference.detectors import HaarFaceDetector

    photo = str(photos / 'astronaut.jpg')
    _cli([*tiny, photo, '--out-dir', str(tmp_path / 's'), '--detect-max-side', '256', '--no-progress'])
    rows = read_rows(str(tmp_path / 's' / 'predictions.csv'))
    image = cv2.imread(photo)
    # oracle: the detector with max_side=256 called directly; at full resolution the box differs
    shrunk = [f.box for f in HaarFaceDetector(max_side=256)(image)]
    full = [f.box for f in HaarFaceDetector()(image)]
    assert [tuple(int(r[k]) for k in 'xywh') for r in rows] == shrunk and shrunk != full and len(full) == 1


def test_cli_no_overlap_runs_everything_in_the_calling_thread(tiny, photos, tmp_path, monkeypatch):
    import ferlab.apis.inferencer as inferencer_module

    _cli([*tiny, str(photos), '--out-dir', str(tmp_path / 'on'), '--no-progress'])

    def no_worker(*args, **kwargs):
        raise AssertionError('the worker thread was started')

    monkeypatch.setattr(inferencer_module, '_in_background', no_worker)
    _cli([*tiny, str(photos), '--out-dir', str(tmp_path / 'off'), '--no-overlap', '--no-progress'])
    with pytest.raises(AssertionError, match='worker thread was started'):
        _cli([*tiny, str(photos), '--out-dir', str(tmp_path / 'again'), '--no-progress'])
    with (
        open(tmp_path / 'on' / 'predictions.csv', 'rb') as f,
        open(tmp_path / 'off' / 'predictions.csv', 'rb') as g,
    ):
        assert f.read() == g.read()


def test_cli_detect_every_matches_the_api(tiny, tmp_path):
    from tests.test_inference.video_utils import astronaut_frame, write_video

    video = write_video(tmp_path / 'clip.avi', 9, frame_fn=lambda i: astronaut_frame(7 + i))
    _cli(
        [*tiny, video, '--out-dir', str(tmp_path / 'o'), '--detect-every', '3', '--no-progress', '--no-plots']
    )
    inf = FERInferencer(*tiny, detect_every=3)
    write_rows(str(tmp_path / 'api.csv'), inf(video), inf.fields)
    with open(tmp_path / 'o' / 'predictions.csv', 'rb') as f, open(tmp_path / 'api.csv', 'rb') as g:
        assert f.read() == g.read()
    rows = read_rows(str(tmp_path / 'o' / 'predictions.csv'))
    assert len(rows) == 9 and rows[0]['detected'] == '1' and '0' in {r['detected'] for r in rows}


@pytest.mark.slow
def test_cli_subprocess_exit_code(tiny, photos, tmp_path):
    """The real command line: exit code 1 when one input of three is unreadable, the others in the CSV."""
    (tmp_path / 'text.jpg').write_text('hello')
    proc = subprocess.run(
        [
            sys.executable,
            'tools/infer.py',
            *tiny,
            str(photos / 'astronaut.jpg'),
            str(tmp_path / 'text.jpg'),
            '--out-dir',
            str(tmp_path / 'o'),
        ],  # fmt: skip
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(__import__('os').environ, OMP_NUM_THREADS='1'),
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    rows = read_rows(str(tmp_path / 'o' / 'predictions.csv'))
    assert [r['face_found'] for r in rows] == ['1', '0'] and 'text.jpg' in rows[1]['error']


@pytest.mark.e2e
def test_published_dan_checkpoint_path(tmp_path):
    """docs/inference.md: official DAN layout -> dan_to_ferlab.py -> tools/infer.py on a photo and a video."""
    import torch

    from ferlab.utils import atomic_save
    from tests.test_inference.video_utils import write_video
    from tests.test_tools.test_dan_converter import PublicDAN, _randomise
    from tools.model_converters.dan_to_ferlab import main as convert

    torch.manual_seed(0)
    public = PublicDAN(7, 4)
    _randomise(public, seed=4)
    public.eval()
    src, dst = tmp_path / 'rafdb_epoch21_acc0.897_bacc0.8275.pth', tmp_path / 'dan_rafdb_ferlab.pth'
    atomic_save({'iter': 21, 'model_state_dict': public.state_dict(), 'optimizer_state_dict': {}}, src)
    convert([str(src), str(dst)])
    photo = tmp_path / 'astronaut.jpg'
    cv2.imwrite(str(photo), astronaut_bgr())
    video = write_video(tmp_path / 'clip.avi', 4, fps=4.0)
    config = osp.join(REPO_ROOT, 'configs/dan/dan_r18_rafdb.py')
    out = tmp_path / 'out'
    summary = _cli(
        [config, str(dst), str(photo), video, '--out-dir', str(out), '--save-annotated', '--no-progress']
    )
    rows = read_rows(str(out / 'predictions.csv'))
    assert summary['errors'] == 0 and [r['input'] for r in rows][:1] == [str(photo)]
    assert len([r for r in rows if r['input'] == video]) == 4  # one row per frame
    face = rows[0]
    assert face['face_found'] == '1' and list(face)[11:18] == CLASSES7  # RAF-DB classes from the config
    # oracle: the public model itself on the tool's crop (the face box, 20 % margin, eye-level roll)
    from ferlab.apis import init_model
    from ferlab.inference import build_detector
    from ferlab.inference.detectors import align_face

    (det,) = build_detector('haar')(astronaut_bgr())
    crop = cv2.resize(align_face(astronaut_bgr(), det, 0.2), (224, 224), interpolation=cv2.INTER_LINEAR)
    rgb = torch.from_numpy(crop[..., ::-1].copy()).permute(2, 0, 1).float()[None]
    model = init_model(config, str(dst))
    pre = model.data_preprocessor
    x = (rgb - pre.mean.view(1, 3, 1, 1)) / pre.std.view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.softmax(public(x)[0].double(), 1)[0].numpy()
    np.testing.assert_allclose([float(face[c]) for c in CLASSES7], expected, atol=1e-5)
    assert (out / 'annotated' / 'astronaut.png').is_file()
    assert any(p.name.startswith('clip_annotated') for p in (out / 'annotated').iterdir())
    assert (out / 'plots' / 'clip_probabilities.png').is_file()
