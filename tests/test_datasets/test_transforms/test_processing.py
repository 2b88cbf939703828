"""Tests of ferlab's uint8 augmentations (ferlab/datasets/transforms/processing.py)."""

import copy

import cv2
import numpy as np
import pytest
from mmcv.transforms import TRANSFORMS as MMCV_TRANSFORMS
from mmengine.registry import DefaultScope

from ferlab.datasets.transforms.processing import RandomGrayscale as FerRandomGrayscale
from ferlab.registry import TRANSFORMS

ALL_CFGS = [
    dict(type='RandomErasing', prob=1.0),
    dict(type='RandomErasing', prob=1.0, value='random'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1),
    dict(type='RandomRotate', degrees=30, prob=1.0),
    dict(type='RandomGrayscale', prob=1.0),
    dict(type='GaussianBlur', kernel_size=5, sigma=(0.5, 2.0), prob=1.0),
    dict(type='RandomCrop', size=24, padding=4),
    dict(type='RandomApply', transforms=[dict(type='RandomRotate', degrees=10, prob=1.0)], prob=1.0),
    dict(type='RandomChoice', transforms=[[dict(type='RandomErasing', prob=1.0)], dict(type='GaussianBlur')]),
]


def rand_img(h=32, w=32, c=3, seed=0):
    shape = (h, w) if c is None else (h, w, c)
    return np.random.RandomState(seed).randint(0, 256, shape, dtype=np.uint8)


def run(t, img):
    return t(dict(img=img.copy(), img_shape=img.shape[:2]))['img']


@pytest.mark.parametrize('cfg', ALL_CFGS, ids=lambda c: c['type'])
@pytest.mark.parametrize('channels', [3, None, 1])
def test_dtype_shape_kept_and_seeded(cfg, channels):
    t = TRANSFORMS.build(copy.deepcopy(cfg))
    img = rand_img(c=channels)
    np.random.seed(3)
    out = run(t, img)
    assert out.dtype == np.uint8
    expected = img.shape if cfg['type'] != 'RandomCrop' else (24, 24) + img.shape[2:]
    assert out.shape == expected
    np.random.seed(3)
    assert np.array_equal(run(t, img), out)  # numpy's global RNG drives everything
    assert repr(t).startswith(cfg['type'] + '(')


@pytest.mark.parametrize(
    'cfg',
    [
        dict(type='RandomErasing', prob=0.0),
        dict(type='RandomRotate', degrees=45, prob=0.0),
        dict(type='RandomGrayscale', prob=0.0),
        dict(type='GaussianBlur', prob=0.0),
        dict(type='ColorJitter'),
        dict(type='RandomApply', transforms=[dict(type='RandomGrayscale', prob=1.0)], prob=0.0),
        dict(type='RandomCrop', size=32),
    ],
    ids=lambda c: c['type'],
)
def test_identity_cases(cfg):
    t = TRANSFORMS.build(cfg)
    img = rand_img()
    for _ in range(5):
        assert np.array_equal(run(t, img), img)


@pytest.mark.parametrize(
    'cfg, match',
    [
        (dict(type='RandomErasing', prob=1.5), 'prob'),
        (dict(type='RandomErasing', scale=(0.5, 0.2)), 'scale'),
        (dict(type='RandomErasing', scale=(0.0, 0.2)), 'scale'),
        (dict(type='RandomErasing', ratio=(-1, 2)), 'ratio'),
        (dict(type='RandomErasing', value='noise'), 'value'),
        (dict(type='RandomErasing', value=300), 'value'),
        (dict(type='ColorJitter', brightness=-0.1), 'brightness'),
        (dict(type='ColorJitter', contrast=(1.5, 1.0)), 'contrast'),
        (dict(type='ColorJitter', hue=0.7), 'hue'),
        (dict(type='ColorJitter', saturation='a lot'), 'saturation'),
        (dict(type='RandomRotate', degrees=-5), 'degrees'),
        (dict(type='RandomRotate', degrees=(20, 10)), 'degrees'),
        (dict(type='RandomRotate', interpolation='cubic'), 'interpolation'),
        (dict(type='RandomRotate', border_value=-1), 'border_value'),
        (dict(type='RandomGrayscale', prob=-0.1), 'prob'),
        (dict(type='GaussianBlur', kernel_size=4), 'kernel_size'),
        (dict(type='GaussianBlur', sigma=0), 'sigma'),
        (dict(type='GaussianBlur', sigma=(2.0, 1.0)), 'sigma'),
        (dict(type='RandomCrop', size=0), 'size'),
        (dict(type='RandomCrop', size=8, padding=(1, 2, 3)), 'padding'),
        (dict(type='RandomCrop', size=8, padding=-1), 'padding'),
        (dict(type='RandomCrop', size=8, padding_mode='wrap'), 'padding_mode'),
        (dict(type='RandomApply', transforms=[dict(type='RandomGrayscale')], prob=2), 'prob'),
        (
            dict(type='RandomChoice', transforms=[dict(type='RandomGrayscale')] * 2, prob=[0.5, 0.6]),
            'sum to 1',
        ),
        (dict(type='RandomChoice', transforms=[dict(type='RandomGrayscale')] * 2, prob=[1.0]), 'prob'),
    ],
)
def test_bad_parameters(cfg, match):
    with pytest.raises(ValueError, match=match):
        TRANSFORMS.build(cfg)


@pytest.mark.parametrize('cfg', ALL_CFGS[:7], ids=lambda c: c['type'])
def test_bad_images(cfg):
    t = TRANSFORMS.build(cfg)
    with pytest.raises(TypeError, match='uint8'):
        t(dict(img=rand_img().astype(np.float32)))
    with pytest.raises(TypeError, match='numpy'):
        t(dict(img=[[1, 2], [3, 4]]))
    with pytest.raises(ValueError, match='shape'):
        t(dict(img=np.zeros((2, 8, 8, 3), np.uint8)))


def test_color_transforms_reject_four_channels():
    for cfg in (dict(type='ColorJitter', brightness=0.2), dict(type='RandomGrayscale', prob=1.0)):
        with pytest.raises(ValueError, match='channels'):
            TRANSFORMS.build(cfg)(dict(img=np.zeros((8, 8, 4), np.uint8)))


# --------------------------------------------------------------------------- RandomErasing
def test_random_erasing_area_within_scale():
    scale, ratio = (0.05, 0.2), (0.5, 2.0)
    t = TRANSFORMS.build(dict(type='RandomErasing', prob=1.0, scale=scale, ratio=ratio, value=0))
    h = w = 64
    img = np.full((h, w, 3), 200, np.uint8)
    np.random.seed(0)
    for _ in range(30):
        out = run(t, img)
        erased = (out == 0).all(2)
        assert ((out == 0) | (out == 200)).all()
        ys, xs = np.nonzero(erased)
        assert len(ys) > 0
        eh, ew = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert erased.sum() == eh * ew  # one solid rectangle
        # h, w are rounded to ints: allow half a pixel on each side
        lo = (np.sqrt(scale[0] * h * w * ratio[0]) - 0.5) * (np.sqrt(scale[0] * h * w / ratio[1]) - 0.5)
        assert lo <= eh * ew <= scale[1] * h * w + (eh + ew) / 2 + 0.25
        assert ratio[0] * 0.8 <= eh / ew <= ratio[1] * 1.25


def test_random_erasing_values():
    img = np.full((32, 32, 3), 100, np.uint8)
    t = TRANSFORMS.build(dict(type='RandomErasing', prob=1.0, value=(1, 2, 3)))
    out = run(t, img)
    changed = (out != 100).any(2)
    assert changed.any()
    assert (out[changed] == [1, 2, 3]).all()
    with pytest.raises(ValueError, match='channels'):
        run(TRANSFORMS.build(dict(type='RandomErasing', prob=1.0, value=(1, 2))), img)
    np.random.seed(1)
    out = run(TRANSFORMS.build(dict(type='RandomErasing', prob=1.0, value='random')), img)
    patch = out[(out != 100).any(2)]
    assert len(np.unique(patch)) > 50  # noise, not a constant


def test_random_erasing_prob():
    t = TRANSFORMS.build(dict(type='RandomErasing', prob=0.5))
    img = np.full((32, 32), 255, np.uint8)
    np.random.seed(0)
    n = sum(int((run(t, img) == 0).any()) for _ in range(200))
    assert 70 < n < 130


# --------------------------------------------------------------------------- ColorJitter
def test_color_jitter_brightness_only_scales():
    t = TRANSFORMS.build(dict(type='ColorJitter', brightness=0.5))
    img = np.random.RandomState(0).randint(20, 120, (16, 16, 3)).astype(np.uint8)
    np.random.seed(0)
    factors = []
    for _ in range(20):
        out = run(t, img).astype(np.float64)
        f = out.sum() / img.sum()
        assert 0.5 - 0.01 <= f <= 1.5 + 0.01
        assert np.abs(out - np.rint(img * f)).max() <= 1  # a uniform scale, no hue / contrast change
        factors.append(f)
    assert max(factors) - min(factors) > 0.3  # random factors


def test_color_jitter_saturation_zero_is_gray_and_hue_rotates():
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 2] = 200  # pure red in BGR
    out = run(TRANSFORMS.build(dict(type='ColorJitter', saturation=(0.0, 0.0))), img)
    assert (out == round(0.299 * 200)).all()
    # hue shift of +1/3 turn turns red into green
    out = run(TRANSFORMS.build(dict(type='ColorJitter', hue=(1 / 3, 1 / 3))), img)
    assert out[0, 0, 1] > 150 and out[0, 0, 0] < 30 and out[0, 0, 2] < 30
    # contrast 0 -> the mean gray everywhere
    out = run(TRANSFORMS.build(dict(type='ColorJitter', contrast=(0.0, 0.0))), img)
    assert (out == round(0.299 * 200)).all()


def test_color_jitter_random_order():
    t = TRANSFORMS.build(dict(type='ColorJitter', brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1))
    np.random.seed(0)
    orders = {tuple(op for op, _ in t._get_params()) for _ in range(50)}
    assert len(orders) > 5 and all(len(o) == 4 for o in orders)


def test_color_jitter_gray_skips_color_ops():
    img = rand_img(c=None)
    t = TRANSFORMS.build(dict(type='ColorJitter', saturation=0.9, hue=0.5))
    assert np.array_equal(run(t, img), img)


# --------------------------------------------------------------------------- RandomRotate
def test_random_rotate_90_known_pattern():
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    t = TRANSFORMS.build(dict(type='RandomRotate', degrees=(90, 90), prob=1.0, interpolation='nearest'))
    assert np.array_equal(run(t, img), np.rot90(img))  # counter-clockwise
    t = TRANSFORMS.build(dict(type='RandomRotate', degrees=(-90, -90), prob=1.0, interpolation='nearest'))
    assert np.array_equal(run(t, img[..., 0]), np.rot90(img[..., 0], k=-1))


def test_random_rotate_border_value_and_size():
    img = np.full((20, 30, 3), 255, np.uint8)
    t = TRANSFORMS.build(dict(type='RandomRotate', degrees=(45, 45), prob=1.0, border_value=(10, 20, 30)))
    out = run(t, img)
    assert out.shape == img.shape
    assert (out[0, 0] == [10, 20, 30]).all() and (out[10, 15] == 255).all()


# --------------------------------------------------------------------------- RandomGrayscale
def test_random_grayscale_keeps_three_equal_channels():
    img = rand_img()
    out = run(TRANSFORMS.build(dict(type='RandomGrayscale', prob=1.0)), img)
    assert out.shape == img.shape
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    np.testing.assert_allclose(out[..., 0], cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), atol=1)


def test_random_grayscale_is_ferlabs_not_mmcvs():
    assert TRANSFORMS.get('RandomGrayscale') is FerRandomGrayscale
    assert MMCV_TRANSFORMS.get('RandomGrayscale') is not FerRandomGrayscale


# --------------------------------------------------------------------------- GaussianBlur
def test_gaussian_blur_effect():
    img = np.zeros((15, 15), np.uint8)
    img[7, 7] = 255
    t = TRANSFORMS.build(dict(type='GaussianBlur', kernel_size=7, sigma=1.5, prob=1.0))
    out = run(t, img)
    assert out[7, 7] < 255 and out[7, 8] > 0 and out[7, 10] > 0
    assert out[7, 7] == out.max()
    assert abs(int(out.sum()) - 255) < 10
    np.testing.assert_array_equal(out, cv2.GaussianBlur(img, (7, 7), 1.5))
    const = np.full((9, 9, 3), 77, np.uint8)
    assert np.array_equal(run(t, const), const)


# --------------------------------------------------------------------------- RandomCrop
def test_random_crop_padding_border_sometimes():
    img = np.full((16, 16, 3), 200, np.uint8)
    t = TRANSFORMS.build(dict(type='RandomCrop', size=16, padding=4, pad_val=0))
    np.random.seed(0)
    with_border, offsets = 0, set()
    for _ in range(40):
        res = t(dict(img=img.copy()))
        out = res['img']
        assert out.shape == (16, 16, 3) and res['img_shape'] == (16, 16)
        with_border += int((out == 0).any())
        # the image part is one solid block of the original value
        assert ((out == 0) | (out == 200)).all()
        offsets.add(tuple(np.argwhere(out == 200)[0][:2]))
    assert 0 < with_border <= 40 and len(offsets) > 5


def test_random_crop_modes_and_tuples():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    # (left, top, right, bottom): only the left gets 2 columns, crop full padded size -> deterministic
    t = TRANSFORMS.build(dict(type='RandomCrop', size=(4, 6), padding=(2, 0, 0, 0), padding_mode='edge'))
    out = run(t, img)
    assert np.array_equal(out[:, :2], np.repeat(img[:, :1], 2, 1)) and np.array_equal(out[:, 2:], img)
    t = TRANSFORMS.build(dict(type='RandomCrop', size=(4, 6), padding=(2, 0, 0, 0), padding_mode='reflect'))
    assert np.array_equal(run(t, img)[:, :2], img[:, [2, 1]])
    t = TRANSFORMS.build(dict(type='RandomCrop', size=(4, 6), padding=(2, 0, 0, 0), padding_mode='symmetric'))
    assert np.array_equal(run(t, img)[:, :2], img[:, [1, 0]])
    color = np.zeros((4, 4, 3), np.uint8)
    t = TRANSFORMS.build(dict(type='RandomCrop', size=(4, 6), padding=(1, 0), pad_val=(5, 6, 7)))
    out = run(t, color)
    assert (out[:, 0] == [5, 6, 7]).all() and (out[:, -1] == [5, 6, 7]).all()


def test_random_crop_too_small():
    img = rand_img(8, 8)
    with pytest.raises(ValueError, match='pad_if_needed'):
        run(TRANSFORMS.build(dict(type='RandomCrop', size=12)), img)
    out = run(TRANSFORMS.build(dict(type='RandomCrop', size=(12, 10), pad_if_needed=True)), img)
    assert out.shape == (12, 10, 3)


# --------------------------------------------------------------------------- wrappers
def test_wrappers_build_ferlab_names_without_default_scope():
    cfg = dict(
        type='RandomChoice',
        transforms=[[dict(type='RandomErasing', prob=1.0)], dict(type='Resize', scale=(8, 8))],
        prob=[0.5, 0.5],
    )
    # Other tests in the same worker may have created several DefaultScope
    # instances (e.g. a Runner); hide all of them so there is no current scope.
    saved_scopes = dict(DefaultScope._instance_dict)
    DefaultScope._instance_dict.clear()
    try:
        assert DefaultScope.get_current_instance() is None
        t = TRANSFORMS.build(cfg)
        apply = TRANSFORMS.build(dict(type='RandomApply', transforms=dict(type='RandomGrayscale', prob=1.0)))
    finally:
        DefaultScope._instance_dict.clear()
        DefaultScope._instance_dict.update(saved_scopes)
    assert type(t.transforms[0].transforms[0]).__module__ == 'ferlab.datasets.transforms.processing'
    assert type(apply.transforms.transforms[0]) is FerRandomGrayscale
    # and through mmcv's own Compose under default_scope='ferlab'
    assert type(MMCV_TRANSFORMS.build(dict(type='RandomGrayscale', prob=1.0))) is FerRandomGrayscale


def test_wrapper_probabilities():
    img = np.full((8, 8, 3), 255, np.uint8)
    t = TRANSFORMS.build(
        dict(
            type='RandomChoice',
            transforms=[dict(type='RandomErasing', prob=1.0, value=0), []],
            prob=[0.2, 0.8],
        )
    )
    np.random.seed(0)
    n = sum(int((run(t, img) == 0).any()) for _ in range(300))
    assert 30 < n < 90
    t = TRANSFORMS.build(
        dict(type='RandomApply', transforms=[dict(type='RandomErasing', prob=1.0)], prob=1.0)
    )
    assert all((run(t, img) == 0).any() for _ in range(10))
