import os.path as osp

import numpy as np
import pytest

from ferlab.datasets.transforms import ImageLoadError
from ferlab.registry import TRANSFORMS
from tests.test_datasets.fake_formats import write_image


def load(path, **kw):
    return TRANSFORMS.build(dict(type='LoadImageFromFile', **kw))(dict(img_path=str(path)))


@pytest.mark.parametrize('ext', ['.jpg', '.png'])
def test_reads_color_and_gray(tmp_path, ext):
    path = write_image(osp.join(str(tmp_path), 'a' + ext), size=12, value=77)
    out = load(path)
    assert out['img'].shape == (12, 12, 3) and out['img'].dtype == np.uint8
    assert out['ori_shape'] == out['img_shape'] == (12, 12)
    assert abs(int(out['img'][5, 5, 0]) - 77) <= 2
    assert load(path, color_type='grayscale')['img'].shape == (12, 12)


def test_in_memory_image_is_kept_and_gray_converted():
    t = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    out = t(dict(img=np.full((48, 48), 9, np.uint8), img_path='fer0000001.png'))
    assert out['img'].shape == (48, 48, 3) and int(out['img'][0, 0, 2]) == 9


@pytest.mark.parametrize('ext', ['.jpg', '.png'])
def test_truncated_image(tmp_path, ext):
    path = write_image(osp.join(str(tmp_path), 'a' + ext), size=32)
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match=rf"'.*a\{ext}' is truncated"):
        load(path)


def test_jpeg_with_bytes_after_end_marker_is_complete(tmp_path):
    path = write_image(osp.join(str(tmp_path), 'a.jpg'), size=16, value=50)
    with open(path, 'ab') as f:
        f.write(b'trailing metadata')
    assert load(path)['img'].shape == (16, 16, 3)
    data = open(path, 'rb').read()
    cut = data.rfind(b'\xff\xd9')  # drop the EOI and what follows: truncated
    with open(path, 'wb') as f:
        f.write(data[:cut])
    with pytest.raises(ImageLoadError, match='truncated'):
        load(path)


def test_missing_empty_and_corrupt(tmp_path):
    with pytest.raises(ImageLoadError, match=r"image file '.*nope.jpg' does not exist"):
        load(tmp_path / 'nope.jpg')
    (tmp_path / 'empty.jpg').write_bytes(b'')
    with pytest.raises(ImageLoadError, match=r"'.*empty.jpg' is empty"):
        load(tmp_path / 'empty.jpg')
    (tmp_path / 'text.bmp').write_bytes(b'this is not an image at all')
    with pytest.raises(ImageLoadError, match=r"'.*text.bmp' could not be decoded"):
        load(tmp_path / 'text.bmp')
    # a JPEG-named file whose content ends like a JPEG but is garbage
    (tmp_path / 'garbage.jpg').write_bytes(b'\x00\x01garbage\xff\xd9')
    with pytest.raises(ImageLoadError, match=r"'.*garbage.jpg' could not be decoded"):
        load(tmp_path / 'garbage.jpg')
    with pytest.raises(ValueError, match="color_type must be 'color' or 'grayscale'"):
        TRANSFORMS.build(dict(type='LoadImageFromFile', color_type='unchanged'))


# ----------------------------------------------------------------------------- formats by content
# Files are written with Pillow (and cv2 for 16-bit colour, which Pillow cannot write); the oracle
# is the source array: gray g -> (g, g, g), palette index i -> palette[i], 16-bit v -> v >> 8,
# alpha dropped (the stored colour kept). JPEG is lossy: its oracle is Pillow's own decode.
_RNG = np.random.default_rng(7)
H, W = 6, 10
RGB = _RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
ALPHA = _RNG.integers(0, 256, (H, W), dtype=np.uint8)
GRAY = RGB[..., 1].copy()
GRAY16 = _RNG.integers(0, 65536, (H, W), dtype=np.uint16)
RGB16 = _RNG.integers(0, 65536, (H, W, 3), dtype=np.uint16)
PAL_IDX = _RNG.integers(0, 16, (H, W)).astype(np.uint8)
PALETTE = _RNG.integers(0, 256, (16, 3), dtype=np.uint8)


def _pil_bytes(img, fmt, **kw):
    import io

    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _palette_image():
    from PIL import Image

    img = Image.fromarray(PAL_IDX, 'P')
    img.putpalette(PALETTE.ravel().tolist())
    return img


def _cv2_bytes(ext, arr):
    import cv2

    ok, buf = cv2.imencode(ext, arr)
    assert ok, ext
    return buf.tobytes()


def _gray3(g):
    return np.repeat(g[..., None], 3, axis=2)


def _cases():
    """``(id, format, file bytes, expected BGR uint8 (H, W, 3) or None for 'decode with Pillow')``."""
    from PIL import Image

    rgb, rgba = Image.fromarray(RGB), Image.fromarray(np.dstack([RGB, ALPHA]))
    gray, pal = Image.fromarray(GRAY), _palette_image()
    gray_alpha = Image.merge('LA', [gray, Image.fromarray(ALPHA)])
    bgr, pal_bgr = RGB[..., ::-1], PALETTE[PAL_IDX][..., ::-1]
    rgb16_bgr = RGB16[..., ::-1]  # cv2 writes BGR order; the oracle is in BGR too
    return [
        ('jpeg-rgb', 'JPEG', _pil_bytes(rgb, 'JPEG', quality=95), None),
        ('jpeg-gray', 'JPEG', _pil_bytes(gray, 'JPEG', quality=95), None),
        ('png-rgb', 'PNG', _pil_bytes(rgb, 'PNG'), bgr),
        ('png-gray', 'PNG', _pil_bytes(gray, 'PNG'), _gray3(GRAY)),
        ('png-gray16', 'PNG', _pil_bytes(Image.fromarray(GRAY16), 'PNG'), _gray3(GRAY16 >> 8)),
        ('png-rgb16', 'PNG', _cv2_bytes('.png', rgb16_bgr), (RGB16 >> 8)[..., ::-1]),
        ('png-palette', 'PNG', _pil_bytes(pal, 'PNG'), pal_bgr),
        ('png-palette-trns', 'PNG', _pil_bytes(pal, 'PNG', transparency=0), pal_bgr),
        ('png-rgba', 'PNG', _pil_bytes(rgba, 'PNG'), bgr),
        ('png-gray-alpha', 'PNG', _pil_bytes(gray_alpha, 'PNG'), _gray3(GRAY)),
        ('bmp-rgb', 'BMP', _pil_bytes(rgb, 'BMP'), bgr),
        ('bmp-gray', 'BMP', _pil_bytes(gray, 'BMP'), _gray3(GRAY)),
        ('bmp-palette', 'BMP', _pil_bytes(pal, 'BMP'), pal_bgr),
        (
            'bmp-1bit',
            'BMP',
            _pil_bytes(Image.fromarray(GRAY > 127), 'BMP'),
            _gray3(np.where(GRAY > 127, 255, 0)),
        ),
        ('bmp-rgba', 'BMP', _pil_bytes(rgba, 'BMP'), bgr),
        ('tiff-rgb', 'TIFF', _pil_bytes(rgb, 'TIFF'), bgr),
        ('tiff-gray', 'TIFF', _pil_bytes(gray, 'TIFF'), _gray3(GRAY)),
        ('tiff-gray16', 'TIFF', _pil_bytes(Image.fromarray(GRAY16), 'TIFF'), _gray3(GRAY16 >> 8)),
        ('tiff-rgb16', 'TIFF', _cv2_bytes('.tif', rgb16_bgr), (RGB16 >> 8)[..., ::-1]),
        ('tiff-palette', 'TIFF', _pil_bytes(pal, 'TIFF'), pal_bgr),
        ('tiff-rgba', 'TIFF', _pil_bytes(rgba, 'TIFF'), bgr),
        ('webp-rgb', 'WEBP', _pil_bytes(rgb, 'WEBP', lossless=True), bgr),
        ('webp-rgba', 'WEBP', _pil_bytes(rgba, 'WEBP', lossless=True), bgr),
        ('webp-gray', 'WEBP', _pil_bytes(gray, 'WEBP', lossless=True), _gray3(GRAY)),
        ('webp-palette', 'WEBP', _pil_bytes(pal, 'WEBP', lossless=True), pal_bgr),
        ('gif-palette', 'GIF', _pil_bytes(pal, 'GIF'), pal_bgr),
        ('gif-palette-transparent', 'GIF', _pil_bytes(pal, 'GIF', transparency=0), pal_bgr),
        ('gif-gray', 'GIF', _pil_bytes(gray, 'GIF'), _gray3(GRAY)),
    ]


CASES = {c[0]: c for c in _cases()}
RIGHT_EXT = {'JPEG': '.jpg', 'PNG': '.png', 'BMP': '.bmp', 'TIFF': '.tif', 'WEBP': '.webp', 'GIF': '.gif'}
WRONG_EXT = {'JPEG': '.png', 'PNG': '.jpg', 'BMP': '.jpg', 'TIFF': '.png', 'WEBP': '.jpg', 'GIF': '.png'}


def _oracle(fmt, data, expected):
    if expected is not None:
        return expected, 0
    import io

    from PIL import Image

    # JPEG: Pillow's decode (libjpeg) as the reference; decoders may differ by rounding only.
    return np.asarray(Image.open(io.BytesIO(data)).convert('RGB'))[..., ::-1], 2


@pytest.mark.parametrize('which', ['right', 'wrong'])
@pytest.mark.parametrize('case', list(CASES))
def test_every_format_loads_as_three_channel_uint8(tmp_path, case, which):
    _, fmt, data, expected = CASES[case]
    ext = (RIGHT_EXT if which == 'right' else WRONG_EXT)[fmt]
    path = tmp_path / f'img{ext}'
    path.write_bytes(data)
    img = load(path)['img']
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    want, tol = _oracle(fmt, data, expected)
    assert np.abs(img.astype(int) - want.astype(int)).max() <= tol
    gray = load(path, color_type='grayscale')['img']
    assert gray.shape == (H, W) and gray.dtype == np.uint8
    if np.array_equal(want[..., 0], want[..., 1]) and np.array_equal(want[..., 0], want[..., 2]):
        assert np.abs(gray.astype(int) - want[..., 0]).max() <= tol  # gray sources: the same values


@pytest.mark.parametrize('which', ['right', 'wrong'])
@pytest.mark.parametrize('case', ['jpeg-rgb', 'png-rgb', 'bmp-rgb', 'tiff-rgb', 'webp-rgb', 'gif-palette'])
def test_truncated_file_of_every_format(tmp_path, case, which):
    _, fmt, data, _ = CASES[case]
    ext = (RIGHT_EXT if which == 'right' else WRONG_EXT)[fmt]
    path = tmp_path / f'cut{ext}'
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match=rf"'.*cut\{ext}' is truncated"):
        load(path)


def test_format_is_detected_from_magic_bytes():
    from ferlab.datasets.transforms.loading import detect_format

    found = {fmt: detect_format(data) for _, fmt, data, _ in CASES.values()}
    assert found == {'JPEG': 'JPEG', 'PNG': 'PNG', 'BMP': 'BMP', 'TIFF': 'TIFF', 'WEBP': 'WebP', 'GIF': 'GIF'}
    assert detect_format(b'not an image') is None


def test_png_with_bytes_after_iend_is_complete(tmp_path):
    _, _, data, expected = CASES['png-rgb']
    path = tmp_path / 'a.png'
    path.write_bytes(data + b'trailing bytes')
    assert np.array_equal(load(path)['img'], expected)
