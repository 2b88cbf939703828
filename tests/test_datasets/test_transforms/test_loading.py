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
