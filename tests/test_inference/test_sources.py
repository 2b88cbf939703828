"""Inference inputs: folders, globs, EXIF orientation, unreadable files, videos handed to the video reader."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from ferlab.inference import Frame, expand_inputs, iter_frames, load_image
from tests.test_inference.infer_utils import astronaut_bgr, save_with_orientation


@pytest.fixture(scope='module')
def upright():
    """A non-square real photo (the astronaut, 160 x 128) so transposing orientations change the shape."""
    return cv2.resize(astronaut_bgr()[:, 56:456], (128, 160), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize('ext', ['png', 'tiff', 'jpg', 'webp'])
@pytest.mark.parametrize('orientation', range(1, 9))
def test_exif_orientation_is_applied(tmp_path, upright, ext, orientation):
    path = save_with_orientation(str(tmp_path / f'o{orientation}.{ext}'), upright, orientation)
    img = load_image(path)
    assert img.shape == upright.shape
    err = np.abs(img.astype(int) - upright).mean()
    if ext in ('png', 'tiff'):  # lossless: exact
        assert err == 0
    else:  # lossy: close to the upright picture, far from every other layout
        assert err < 4
        if orientation != 1:
            stored = cv2.imdecode(
                np.fromfile(path, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
            )
            if stored.shape == img.shape:
                assert np.abs(stored.astype(int) - upright).mean() > 20


def test_expand_inputs_folders_globs_and_missing(tmp_path):
    a = tmp_path / 'photos'
    (a / 'sub').mkdir(parents=True)
    for name in ['b.jpg', 'a.PNG', 'sub/c.jpeg', 'notes.txt', 'clip.mp4']:
        (a / name).write_bytes(b'x')
    got = expand_inputs([str(a), str(tmp_path / 'photos' / 'sub' / '*.jpeg'), str(a / 'b.jpg'), 'camera:0'])
    # recursive, sorted, by extension (case-insensitive), .txt left out, duplicates dropped, cameras kept
    assert got == [
        str(a / 'a.PNG'),
        str(a / 'b.jpg'),
        str(a / 'clip.mp4'),
        str(a / 'sub' / 'c.jpeg'),
        'camera:0',
    ]
    empty = tmp_path / 'empty'
    empty.mkdir()
    missing = [str(tmp_path / 'gone.jpg'), str(empty), str(tmp_path / 'none_*.png')]
    assert expand_inputs(missing) == missing  # kept, so that each becomes an error row


def test_unreadable_inputs_give_error_frames_and_the_run_goes_on(tmp_path):
    good = str(tmp_path / 'a_good.png')
    cv2.imwrite(good, astronaut_bgr())
    ok, jpg = cv2.imencode('.jpg', astronaut_bgr())
    (tmp_path / 'b_truncated.jpg').write_bytes(jpg.tobytes()[: len(jpg) // 2])
    (tmp_path / 'c_text.jpg').write_text('this is not a picture\n')
    (tmp_path / 'empty_dir').mkdir()
    inputs = [
        str(tmp_path),
        str(tmp_path / 'gone.png'),
        str(tmp_path / 'empty_dir'),
        str(tmp_path / 'z*.png'),
    ]
    frames = list(iter_frames(inputs))
    assert [os.path.basename(f.input) for f in frames] == [
        'a_good.png',
        'b_truncated.jpg',
        'c_text.jpg',
        'gone.png',
        'empty_dir',
        'z*.png',
    ]
    assert frames[0].error is None and np.array_equal(frames[0].image, astronaut_bgr())
    errors = [f.error for f in frames[1:]]
    assert all(f.image is None for f in frames[1:])
    assert 'b_truncated.jpg' in errors[0] and 'truncated' in errors[0]
    assert 'c_text.jpg' in errors[1] and 'could not be decoded' in errors[1]
    assert errors[2] == f'input {str(tmp_path / "gone.png")!r} does not exist'
    assert 'holds no image or video files' in errors[3]
    assert errors[4] == f'pattern {str(tmp_path / "z*.png")!r} matches no file'
    assert all('\n' not in e for e in errors)


def test_videos_and_cameras_go_to_the_video_reader(tmp_path, monkeypatch):
    import ferlab.inference.video as video

    calls = []

    def fake_video(path, every_n_frames=1):
        calls.append(('video', path, every_n_frames))
        yield Frame(path, 0, 0.0, np.zeros((4, 4, 3), np.uint8), None, True)

    def fake_camera(index, every_n_frames=1):
        calls.append(('camera', index, every_n_frames))
        yield Frame(f'camera:{index}', 0, 0.0, np.zeros((4, 4, 3), np.uint8), None, True)

    monkeypatch.setattr(video, 'iter_video_frames', fake_video)
    monkeypatch.setattr(video, 'iter_camera_frames', fake_camera)
    clip = tmp_path / 'clip.avi'
    clip.write_bytes(b'x')
    frames = list(iter_frames([str(clip), 'camera:2'], every_n_frames=3))
    assert calls == [('video', str(clip), 3), ('camera', 2, 3)]
    assert all(f.is_video for f in frames)
    with pytest.raises(ValueError, match='every_n_frames'):
        list(iter_frames([str(clip)], every_n_frames=0))
