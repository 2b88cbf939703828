"""SynthFER 68-point iBUG landmarks: geometry, AU/pose response, data info, flips, AffectNet export."""

import math

import numpy as np
import pytest

from ferlab.datasets.synthfer import AU_LIST, FaceRenderer, Identity, Pose, SynthFER, SynthFERGenerator
from ferlab.datasets.synthfer.expressions import AU_INDEX
from ferlab.datasets.transforms import IBUG68_FLIP_INDEX, hflip_landmarks
from ferlab.registry import TRANSFORMS

JAW, BROWS, NOSE, EYES, MOUTH = range(0, 17), range(17, 27), range(27, 36), range(36, 48), range(48, 68)


def _aus(**kw) -> np.ndarray:
    v = np.zeros(len(AU_LIST))
    for k, x in kw.items():
        v[AU_INDEX[int(k[2:])]] = x
    return v


def test_hand_checked_points_on_a_frontal_default_face():
    """Default identity, identity pose, 112 px: pixel = (56 + 38.08 x + 0.8*0*depth, 59.36 + 38.08 y)."""
    r = FaceRenderer(112)
    lm = r.landmarks68(Identity(), Pose())
    s = 112 * 0.34
    # nose tip (30): canonical (0, 0.28 * nose_len), nose_len = 1
    np.testing.assert_allclose(lm[30], [56.0, 59.36 + 0.28 * s], atol=1e-9)
    # image-left outer eye corner (36): (-0.36 - 0.17, -0.12 + 0.005); inner corner (39): (-0.36 + 0.17, -0.12)
    np.testing.assert_allclose(lm[36], [56 - 0.53 * s, 59.36 - 0.115 * s], atol=1e-9)
    np.testing.assert_allclose(lm[39], [56 - 0.19 * s, 59.36 - 0.12 * s], atol=1e-9)
    # chin (8): contour at t = pi/2: (0, face_h) = (0, 1.25), drawn at depth 0
    np.testing.assert_allclose(lm[8], [56.0, 59.36 + 1.25 * s], atol=1e-9)
    # mouth corners 48/54 = (-+0.3, 0.64)
    np.testing.assert_allclose(lm[48], [56 - 0.3 * s, 59.36 + 0.64 * s], atol=1e-9)
    np.testing.assert_allclose(lm[54], [56 + 0.3 * s, 59.36 + 0.64 * s], atol=1e-9)


def test_frontal_neutral_face_is_mirror_symmetric():
    """A frontal neutral face: the flip of its landmarks (x -> 111 - x, iBUG reorder) is itself."""
    r = FaceRenderer(112)
    lm = r.landmarks68(Identity(), Pose())
    # the renderer's mirror axis is x = 56 (not 55.5): mirror about it directly
    mirrored = lm.copy()
    mirrored[:, 0] = 112 - lm[:, 0]
    mirrored = mirrored[list(IBUG68_FLIP_INDEX)]
    # outer eye corners carry the +0.005 droop on both sides: symmetric too
    np.testing.assert_allclose(mirrored, lm, atol=1e-9)


def test_landmarks_sit_on_the_drawn_features():
    """Pixels of a plain render at the landmarks: open mouth dark, eye corners near the eye, nose tip skin-light."""
    r = FaceRenderer(224)
    idn = Identity()
    au = _aus(au26=1.0, au25=1.0)
    img = r.render(idn, Pose(), au, au).astype(int)
    lm = r.landmarks68(idn, Pose(), au, au)
    # the mouth interior (between inner upper 62 and inner lower 66) is the dark (40, 25, 70) cavity
    cx, cy = np.round((lm[62] + lm[66]) / 2).astype(int)
    assert np.abs(img[cy, cx] - [40, 25, 70]).max() <= 3
    # the midpoint of 37/41 (upper/lower lid) is inside the eye: eye white, iris or pupil, not skin
    ex, ey = np.round((lm[37] + lm[41]) / 2).astype(int)
    assert np.abs(img[ey, ex] - np.array(idn.skin)).max() > 40
    # the nose tip is the tip ellipse, skin blended 5 % towards white
    tip = np.array([int(a * 0.95 + 255 * 0.05) for a in idn.skin])
    tx, ty = np.round(lm[30]).astype(int)
    assert np.abs(img[ty, tx] - tip).max() <= 2


def test_jaw_drop_moves_lower_lip_and_chin_only():
    r = FaceRenderer(112)
    idn = Identity()
    base = r.landmarks68(idn, Pose())
    open_ = r.landmarks68(idn, Pose(), _aus(au26=1.0), _aus(au26=1.0))
    dy = open_[:, 1] - base[:, 1]
    s = 112 * 0.34
    # lower inner lip centre (66) moves down by the gap 0.26 canonical units
    assert dy[66] == pytest.approx(0.26 * s, abs=1e-9)
    assert dy[57] == pytest.approx(0.26 * s, abs=1e-9)
    # chin (8) moves by the jaw drop 0.16 (the contour at y = face_h moves by the full drop)
    assert dy[8] == pytest.approx(0.16 * s, abs=1e-9)
    # eyes, brows, nose and the upper lip do not move
    still = list(BROWS) + list(NOSE) + list(EYES) + [48, 49, 50, 51, 52, 53, 54, 60, 61, 62, 63, 64]
    np.testing.assert_allclose(open_[still], base[still], atol=1e-12)


def test_smile_raises_and_widens_corners_one_sided():
    r = FaceRenderer(112)
    idn = Identity()
    base = r.landmarks68(idn, Pose())
    # AU12 on the subject's left only (image right): corner 54 moves up and out, 48 stays
    lm = r.landmarks68(idn, Pose(), _aus(au12=1.0), _aus())
    s = 112 * 0.34
    np.testing.assert_allclose(lm[54] - base[54], [0.09 * s, -0.14 * s], atol=1e-9)
    np.testing.assert_allclose(lm[48], base[48], atol=1e-12)


def test_brow_raise_moves_brows_up():
    r = FaceRenderer(112)
    base = r.landmarks68(Identity(), Pose())
    lm = r.landmarks68(Identity(), Pose(), _aus(au1=1.0, au2=1.0), _aus(au1=1.0, au2=1.0))
    dy = lm[:, 1] - base[:, 1]
    assert (dy[list(BROWS)] < -1.0).all()
    others = [i for i in range(68) if i not in BROWS]
    np.testing.assert_allclose(lm[others], base[others], atol=1e-12)


def test_pose_moves_points_as_the_renderer_maps_them():
    r = FaceRenderer(112)
    idn = Identity()
    base = r.landmarks68(idn, Pose())
    shifted = r.landmarks68(idn, Pose(tx=0.1, ty=-0.05))
    np.testing.assert_allclose(shifted - base, np.tile([11.2, -5.6], (68, 1)), atol=1e-9)
    # yaw: a point at depth d shifts by 0.8 d sin(yaw) canonical units; the nose tip (depth 0.65)
    # moves more than the jaw contour (depth 0), and to the image right for a positive yaw
    yawed = r.landmarks68(idn, Pose(yaw=30))
    s = 112 * 0.34
    assert yawed[30, 0] - base[30, 0] == pytest.approx(0.8 * 0.65 * math.sin(math.radians(30)) * s, abs=1e-9)
    assert yawed[8, 0] == pytest.approx(56.0, abs=1e-9)  # chin x = 0 at depth 0: only foreshortened
    # roll by 90 degrees: (x, y) offsets from the centre rotate to (-y, x)
    rolled = r.landmarks68(idn, Pose(roll=90))
    c = np.array([56.0, 59.36])
    np.testing.assert_allclose(rolled - c, np.stack([-(base - c)[:, 1], (base - c)[:, 0]], 1), atol=1e-9)


def test_generator_landmarks_match_render_free_path_and_dataset_info():
    gen = SynthFERGenerator('rafdb', 'default', 64, seed=3)
    data = gen.generate('train', 6)
    assert data['landmarks'].shape == (6, 68, 2) and data['landmarks'].dtype == np.float32
    np.testing.assert_array_equal(gen.landmarks('train', 6), data['landmarks'])
    one = gen.sample('train', 4, 6)
    idn = gen.identity(one['identity'])
    yaw, roll, scale, tx, ty = one['pose']
    ref = gen.renderer.landmarks68(
        idn, Pose(*map(float, (yaw, roll, scale, tx, ty))), one['au_l'], one['au_r']
    )
    np.testing.assert_allclose(data['landmarks'][4], ref, atol=1e-4)
    ds = SynthFER(split='train', num_samples=6, img_size=64, seed=3, pipeline=[])
    info = ds[4]
    assert info['landmarks'].shape == (68, 2)
    np.testing.assert_array_equal(info['landmarks'], data['landmarks'][4])


def test_dataset_backfills_landmarks_of_an_old_cache(tmp_path):
    ds = SynthFER(split='val', num_samples=5, img_size=48, seed=1, cache_dir=str(tmp_path), pipeline=[])
    want = ds.arrays()['landmarks'].copy()
    # rewrite the cache file without landmarks, as a cache from before they existed
    from ferlab.datasets.synthfer import dataset as dmod

    (path,) = list(tmp_path.glob('synthfer_img_*.npz'))
    with np.load(path) as f:
        old = {k: f[k] for k in f.files if k != 'landmarks'}
    np.savez(path, **old)
    dmod._MEMORY_CACHE.clear()
    ds2 = SynthFER(split='val', num_samples=5, img_size=48, seed=1, cache_dir=str(tmp_path), pipeline=[])
    np.testing.assert_array_equal(ds2[2]['landmarks'], want[2])


def test_flip_index_is_an_involution_with_the_midline_fixed():
    idx = np.array(IBUG68_FLIP_INDEX)
    np.testing.assert_array_equal(idx[idx], np.arange(68))
    fixed = sorted(np.flatnonzero(idx == np.arange(68)).tolist())
    assert fixed == [8, 27, 28, 29, 30, 33, 51, 57, 62, 66]
    # hand-listed pairs
    for a, b in [(0, 16), (17, 26), (21, 22), (31, 35), (36, 45), (39, 42), (37, 44), (41, 46), (48, 54),
                 (59, 55), (60, 64), (67, 65)]:  # fmt: skip
        assert idx[a] == b and idx[b] == a


def test_random_flip_flips_image_and_landmarks_consistently():
    """Flipping a rendered face = rendering the mirrored face: the landmarks agree with the mirrored pose."""
    r = FaceRenderer(112)
    idn = Identity()
    au_l, au_r = _aus(au12=1.0, au2=0.7), _aus()
    pose = Pose(yaw=20, roll=10, tx=0.05)
    img = r.render(idn, pose, au_l, au_r)
    lm = r.landmarks68(idn, pose, au_l, au_r)
    flip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0, direction='horizontal'))
    out = flip(dict(img=img.copy(), landmarks=lm.copy(), img_shape=img.shape[:2]))
    np.testing.assert_array_equal(out['img'], img[:, ::-1])
    # the mirror face: yaw, roll, tx negated, AU sides swapped; the renderer's axis is x = 56,
    # the image flip's is 55.5: the mirrored render's landmarks sit 1 px to the right
    mirror = r.landmarks68(idn, Pose(yaw=-20, roll=-10, tx=-0.05), au_r, au_l)
    np.testing.assert_allclose(out['landmarks'], mirror - [1.0, 0.0], atol=1e-4)
    # smiling corner: image-right (54) before, image-left (48) after
    assert out['landmarks'][48, 0] == pytest.approx(111 - lm[54, 0], abs=1e-4)
    # a flip twice is the identity
    back = hflip_landmarks(out['landmarks'], 112)
    np.testing.assert_allclose(back, lm, atol=1e-4)


def test_flip_rejects_vertical_with_landmarks_and_resize_scales():
    lm = FaceRenderer(64).landmarks68(Identity(), Pose())
    img = np.zeros((64, 64, 3), np.uint8)
    vflip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0, direction='vertical'))
    with pytest.raises(ValueError, match="horizontal' only"):
        vflip(dict(img=img.copy(), landmarks=lm.copy(), img_shape=(64, 64)))
    resize = TRANSFORMS.build(dict(type='Resize', scale=(128, 32)))
    out = resize(dict(img=img.copy(), landmarks=lm.copy(), img_shape=(64, 64)))
    # x scale 2, y scale 0.5, pixel centres at integers: x' = 2x + 0.5, y' = 0.5y - 0.25
    np.testing.assert_allclose(
        out['landmarks'], np.stack([2 * lm[:, 0] + 0.5, 0.5 * lm[:, 1] - 0.25], 1), atol=1e-4
    )


def test_face_box_crop_shifts_landmarks_and_names_bad_boxes():
    lm = FaceRenderer(64).landmarks68(Identity(), Pose())
    img = np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3)
    crop = TRANSFORMS.build(dict(type='FaceBoxCrop', margin=0.1))
    out = crop(dict(img=img, landmarks=lm, face_box=(10, 20, 30, 40), img_path='a.jpg'))
    # box enlarged by 3 / 4 px per side: x 7..43, y 16..64
    np.testing.assert_array_equal(out['img'], img[16:64, 7:43])
    np.testing.assert_allclose(out['landmarks'], lm - [7, 16], atol=1e-5)
    with pytest.raises(KeyError, match='a.jpg has no face_box'):
        crop(dict(img=img, img_path='a.jpg'))
    with pytest.raises(ValueError, match='positive width'):
        crop(dict(img=img, face_box=(1, 1, 0, 5), img_path='a.jpg'))


def test_pack_serves_gt_landmarks():
    ds = SynthFER(split='test', num_samples=3, img_size=48, seed=0,
                  pipeline=[dict(type='RandomFlip', prob=1.0), dict(type='PackFERInputs')])  # fmt: skip
    raw = SynthFER(split='test', num_samples=3, img_size=48, seed=0, pipeline=[])[1]['landmarks']
    sample = ds[1]['data_samples']
    assert sample.gt_landmarks.shape == (68, 2)
    np.testing.assert_allclose(sample.gt_landmarks.numpy(), hflip_landmarks(raw, 48), atol=1e-5)


def test_make_synthfer_affectnet_csv_carries_the_drawn_landmarks(tmp_path):
    from ferlab.datasets import AffectNet
    from tools.dataset_converters.make_synthfer import export_affectnet

    export_affectnet(str(tmp_path), num_train=4, num_val=3, seed=0)
    gen = SynthFERGenerator('affectnet8', 'wild', 112, 0)
    want = gen.landmarks('val', 3)
    ds = AffectNet(data_root=str(tmp_path), split='val', num_classes=8, pipeline=[])
    assert len(ds) == 3
    for i in range(3):
        info = ds.get_data_info(i)
        np.testing.assert_allclose(info['landmarks'], want[i], atol=0.006)  # written with 2 decimals
        x, y, w, h = info['face_box']
        assert x <= want[i][:, 0].min() and x + w >= want[i][:, 0].max()
        assert y <= want[i][:, 1].min() and y + h >= want[i][:, 1].max()
    # the AU-deformed points, not the neutral face's (a neutral-expression sample may match it)
    moved = []
    for i in range(3):
        s = gen.sample('val', i, 3, render=False)
        neutral = gen.renderer.landmarks68(gen.identity(int(s['identity'])), Pose(*map(float, s['pose'])))
        moved.append(np.abs(want[i] - neutral).max())
    assert max(moved) > 0.5


@pytest.mark.parametrize(
    'field, what',
    [('1;2;3', '136 numbers'), (';'.join(['1.5'] * 135 + ['x']), "non-number 'x'"), ('', '136 numbers'),
     (';'.join(['1.5'] * 135 + ['nan']), 'finite')],
)  # fmt: skip
def test_affectnet_malformed_landmarks_one_line_error(tmp_path, field, what):
    from ferlab.datasets import AffectNet
    from ferlab.datasets.base_fer_dataset import DatasetFormatError

    lists = tmp_path / 'Manually_Annotated_file_lists'
    lists.mkdir()
    header = 'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal'
    good = ';'.join(['10.5'] * 136)
    rows = [header, f'1/a.jpg,1,2,30,30,{good},1,0.1,0.2', f'1/b.jpg,1,2,30,30,"{field}",2,0.1,0.2']
    (lists / 'training.csv').write_text('\n'.join(rows) + '\n')
    with pytest.raises(DatasetFormatError, match=f'training.csv, line 3: expected .*{what}') as err:
        AffectNet(data_root=str(tmp_path), split='train', pipeline=[])
    assert '\n' not in str(err.value)
    # with_landmarks=False ignores the field
    ds = AffectNet(data_root=str(tmp_path), split='train', pipeline=[], with_landmarks=False)
    assert 'landmarks' not in ds.get_data_info(1)
