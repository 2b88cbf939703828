"""Face detectors (FACE_DETECTORS) and face alignment on real pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ferlab.inference import Face, align_face, build_detector, load_image
from ferlab.inference.detectors import ARCFACE_TEMPLATE, YUNET_URL, HaarFaceDetector, haar_cascade_path
from ferlab.registry import FACE_DETECTORS
from ferlab.utils.errors import FerlabInputError
from tests.test_inference.infer_utils import astronaut_bgr, coffee_bgr, save_with_orientation

#: Where the astronaut's face is in skimage.data.astronaut() (read off the picture by hand:
#: eyes near (205, 105) and (245, 100), chin near (225, 160)).
FACE_CENTRE_BOX = (195, 90, 260, 140)  # x0, y0, x1, y1 that the detected box centre must fall in


@pytest.fixture(scope='module')
def haar():
    return FACE_DETECTORS.build(dict(type='HaarFaceDetector'))


def _centre(face):
    x, y, w, h = face.box
    return x + w / 2, y + h / 2


def _in_face(face, dx=0):
    cx, cy = _centre(face)
    x0, y0, x1, y1 = FACE_CENTRE_BOX
    return x0 + dx <= cx <= x1 + dx and y0 <= cy <= y1


def test_haar_finds_exactly_the_astronauts_face(haar):
    faces = haar(astronaut_bgr())
    assert len(faces) == 1
    assert _in_face(faces[0])
    assert 60 <= faces[0].box[2] <= 140 and faces[0].box[2] == faces[0].box[3]
    assert faces[0].score > 0


def test_haar_two_copies_side_by_side_left_to_right(haar):
    faces = haar(np.concatenate([astronaut_bgr(), astronaut_bgr()], axis=1))
    assert len(faces) == 2
    assert _in_face(faces[0]) and _in_face(faces[1], dx=512)


def test_haar_no_face_in_a_cup_of_coffee(haar):
    assert haar(coffee_bgr()) == []


def test_haar_finds_the_face_of_an_exif_rotated_photo(haar, tmp_path):
    path = save_with_orientation(str(tmp_path / 'rot.jpg'), astronaut_bgr(), 6)
    stored = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    assert haar(stored) == []  # lying on its side the face is not found: the orientation matters
    faces = haar(load_image(path))
    assert len(faces) == 1 and _in_face(faces[0])


@pytest.mark.parametrize('angle', [-10, 10])
def test_haar_roll_follows_an_in_plane_rotation(haar, angle):
    img = astronaut_bgr()
    upright = haar(img)[0]
    m = cv2.getRotationMatrix2D(_centre(upright), angle, 1.0)  # the picture turned counter-clockwise
    faces = [f for f in haar(cv2.warpAffine(img, m, (512, 512))) if _in_face(f)]
    assert len(faces) == 1
    assert faces[0].roll - upright.roll == pytest.approx(-angle, abs=3.0)


def test_align_face_square_margin_and_black_padding():
    img = np.arange(60 * 80 * 3, dtype=np.uint32).reshape(60, 80, 3).astype(np.uint8)
    img[..., 0] = np.arange(80)[None, :] + 1  # channel 0 = column + 1, never 0 inside the image
    img[..., 1] = np.arange(60)[:, None] + 1
    crop = align_face(img, Face(box=(-4, 10, 20, 10), score=1.0), margin=0.5)
    # square side max(20, 10) = 20, with 50 % margin: 40; centre (6, 15) -> top-left (-14, -5)
    assert crop.shape == (40, 40, 3)
    assert (crop[:, :14] == 0).all() and (crop[:5] == 0).all()  # outside the image: black
    assert crop[5, 14, 0] == 1 and crop[5, 14, 1] == 1  # image pixel (0, 0)
    assert crop[39, 39, 0] == 26 and crop[39, 39, 1] == 35  # image pixel (x=25, y=34)
    rect = align_face(img, Face(box=(10, 10, 20, 10), score=1.0), margin=0.0, square=False)
    np.testing.assert_array_equal(rect, img[10:20, 10:30])
    whole = Face(box=(0, 0, 80, 60), score=1.0, whole=True)
    assert align_face(img, whole) is img


def test_align_face_roll_makes_the_eye_line_level(haar):
    img = astronaut_bgr()
    upright = haar(img)[0]
    m = cv2.getRotationMatrix2D(_centre(upright), -12, 1.0)
    tilted = [f for f in haar(cv2.warpAffine(img, m, (512, 512))) if _in_face(f)][0]
    crop = align_face(cv2.warpAffine(img, m, (512, 512)), tilted, margin=0.5)
    again = haar(crop)
    assert len(again) == 1 and abs(again[0].roll - upright.roll) < 4.0


def test_align_face_similarity_from_five_landmarks():
    """Landmarks moved by a known similarity are mapped back onto the ArcFace template."""
    canvas = np.zeros((112, 112, 3), np.uint8)
    for k, (x, y) in enumerate(ARCFACE_TEMPLATE):
        cv2.circle(canvas, (int(round(x)), int(round(y))), 3, (50 * (k + 1), 255, 0), -1)
    angle, scale, shift = 25.0, 1.7, (40.0, 30.0)
    m = cv2.getRotationMatrix2D((56, 56), angle, scale)
    m[:, 2] += shift
    photo = cv2.warpAffine(canvas, m, (300, 300))
    landmarks = np.c_[ARCFACE_TEMPLATE, np.ones(5)] @ m.T
    side = 112 * scale
    face = Face(box=(0, 0, int(side), int(side)), score=0.9, landmarks=landmarks)
    crop = align_face(photo, face, margin=0.0)
    assert crop.shape == (190, 190, 3)
    for k, (x, y) in enumerate(ARCFACE_TEMPLATE * 190 / 112):
        assert crop[int(round(y)), int(round(x)), 1] > 200, k  # each dot is back on its template point
        assert abs(int(crop[int(round(y)), int(round(x)), 0]) - 50 * (k + 1)) < 30, k


def test_yunet_missing_model_names_the_path_and_where_to_get_it(tmp_path):
    missing = str(tmp_path / 'face_detection_yunet_2023mar.onnx')
    with pytest.raises(FileNotFoundError) as err:
        build_detector(dict(type='YuNetFaceDetector', model=missing))
    assert missing in str(err.value) and YUNET_URL in str(err.value)
    (tmp_path / 'bad.onnx').write_bytes(b'not a model')
    with pytest.raises(FerlabInputError, match='could not be loaded by OpenCV'):
        build_detector(dict(type='yunet', model=str(tmp_path / 'bad.onnx')))


def test_registry_short_names_and_unknown_type():
    assert type(build_detector('haar')).__name__ == 'HaarFaceDetector'
    assert type(build_detector('whole')).__name__ == 'WholeImage'
    faces = build_detector('whole')(np.zeros((7, 9, 3), np.uint8))
    assert [(f.box, f.score, f.whole) for f in faces] == [((0, 0, 9, 7), 1.0, True)]
    with pytest.raises(KeyError, match="registry 'face detector'.*HaarFaceDetector"):
        FACE_DETECTORS.build(dict(type='HaarFaceDetectr'))


def test_missing_haar_cascade_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(cv2.data, 'haarcascades', str(tmp_path) + '/')
    with pytest.raises(FerlabInputError, match=r'does not ship the Haar cascade .*opencv-python>=4.8,<5'):
        haar_cascade_path('haarcascade_frontalface_default.xml')
    with pytest.raises(FerlabInputError, match='haarcascade_frontalface_default.xml'):
        build_detector('haar')


@pytest.mark.parametrize('angle', [-10, 10, 20])
def test_roll_on_a_shrunk_face_box_matches_full_resolution(angle):
    """A 2x enlarged, rotated astronaut (face about 200 px): the eye cascade on the box shrunk to
    128 px gives the full-resolution roll within 1.5 degrees, and the aligned crops nearly agree."""
    img = cv2.resize(astronaut_bgr(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    m = cv2.getRotationMatrix2D((450, 230), angle, 1.0)
    img = cv2.warpAffine(img, m, (1024, 1024), borderMode=cv2.BORDER_REFLECT)
    full_res = HaarFaceDetector(roll_max_side=None)
    faces = [f for f in full_res(img) if f.box[2] > 150]
    assert len(faces) == 1 and faces[0].roll - full_res(astronaut_bgr())[0].roll == pytest.approx(
        -angle, abs=4
    )
    face = faces[0]
    gray = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    shrunk = HaarFaceDetector()._roll(gray, face.box)  # the default roll_max_side=128
    assert face.box[2] > 128 and shrunk == pytest.approx(face.roll, abs=1.5)
    a = align_face(img, face).astype(float)
    b = align_face(img, Face(box=face.box, score=face.score, roll=shrunk)).astype(float)
    upright = align_face(img, Face(box=face.box, score=face.score)).astype(float)  # no roll: 27-50 apart
    assert a.shape == b.shape and np.abs(a - b).mean() < min(6.0, 0.25 * np.abs(a - upright).mean())


def test_roll_max_side_below_two_eye_windows_is_one_clear_error():
    with pytest.raises(FerlabInputError, match='roll_max_side must be >= 40'):
        HaarFaceDetector(roll_max_side=30)
