"""Image loading with clear errors.

The format of a file is read from its first bytes, not from its name (scraped
datasets hold PNGs named ``.jpg``): JPEG, PNG, BMP, TIFF, WebP and GIF are
recognised and checked for completeness by their own structure before
decoding, because OpenCV silently returns a partial image for a truncated
file. Every image decodes to 8-bit BGR (or gray):

* grayscale -> the gray value in all three channels;
* palette -> the palette colours;
* 16 bits per sample -> the high byte, ``v >> 8`` (= ``floor(v / 256)``;
  65535 -> 255, 256 -> 1, 255 -> 0);
* alpha -> dropped; the stored colour is kept (no compositing). OpenCV's
  TIFF reader premultiplies unassociated alpha, so a TIFF with an alpha
  channel is decoded with Pillow instead;
* animated GIF -> its first frame.
"""

from __future__ import annotations

import io
import os.path as osp
import struct

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from ferlab.registry import TRANSFORMS
from ferlab.utils.errors import FerlabInputError

#: Formats recognised by :func:`detect_format` (in that function's spelling).
FORMATS = ('JPEG', 'PNG', 'BMP', 'TIFF', 'WebP', 'GIF')


class ImageLoadError(FerlabInputError, OSError):
    """An image file is missing, unreadable or truncated."""


def detect_format(data: bytes) -> str | None:
    """The image format from the file's magic bytes, or None if not one of :data:`FORMATS`."""
    if data[:3] == b'\xff\xd8\xff':
        return 'JPEG'
    if data[:8] == b'\x89PNG\r\n\x1a\n':
        return 'PNG'
    if data[:2] == b'BM':
        return 'BMP'
    if data[:4] in (b'II*\x00', b'MM\x00*', b'II+\x00', b'MM\x00+'):
        return 'TIFF'
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return 'WebP'
    if data[:6] in (b'GIF87a', b'GIF89a'):
        return 'GIF'
    return None


# ----------------------------------------------------------------------------- completeness
# Each checker returns None for a complete file, else why it is truncated.
def _jpeg_truncated(data: bytes) -> str | None:
    if data.rstrip(b'\x00').endswith(b'\xff\xd9'):
        return None
    # Some encoders append bytes after the end-of-image marker; the file is
    # complete as long as an end-of-image marker follows the last start-of-scan.
    if b'\xff\xd9' not in data or data.rfind(b'\xff\xd9') < max(data.rfind(b'\xff\xda'), 0):
        return 'no end-of-image marker'
    return None


def _png_truncated(data: bytes) -> str | None:
    pos, n = 8, len(data)
    while pos + 8 <= n:
        length = int.from_bytes(data[pos : pos + 4], 'big')
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length  # length, type, data, CRC
        if end > n:
            return f'chunk {kind.decode("latin-1")!r} at byte {pos} needs {end} bytes, the file has {n}'
        if kind == b'IEND':
            return None
        pos = end
    return 'no IEND chunk'


def _bmp_truncated(data: bytes) -> str | None:
    n = len(data)
    if n < 26:
        return f'a {n}-byte file cannot hold a BMP header'
    offset, header = struct.unpack_from('<II', data, 10)
    if header == 12:  # OS/2 BITMAPCOREHEADER
        width, height, _, bpp = struct.unpack_from('<HHHH', data, 18)
        compression, size_image = 0, 0
    elif n >= 38:
        width, height, _, bpp, compression, size_image = struct.unpack_from('<iiHHII', data, 18)
    else:
        return f'a {n}-byte file cannot hold a BMP info header'
    if compression in (0, 3, 6):  # uncompressed rows (BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS)
        need = offset + (abs(width) * bpp + 31) // 32 * 4 * abs(height)
    else:  # RLE / embedded JPEG or PNG: the header states the size
        need = offset + size_image
    return None if n >= need else f'the pixel data needs {need} bytes, the file has {n}'


_TIFF_TYPE_SIZE = {1: 1, 3: 2, 4: 4, 16: 8}  # BYTE, SHORT, LONG, LONG8


def _tiff_tags(data: bytes) -> tuple[dict[int, list[int]] | None, str | None]:
    """``({tag: values}, None)`` for the first IFD of a classic TIFF, or ``(None, why truncated)``.

    BigTIFF returns ``({}, None)`` (not inspected).
    """
    order = '<' if data[:2] == b'II' else '>'
    n = len(data)
    if n < 8:
        return None, f'a {n}-byte file cannot hold a TIFF header'
    if struct.unpack_from(order + 'H', data, 2)[0] != 42:
        return {}, None
    ifd = struct.unpack_from(order + 'I', data, 4)[0]
    if ifd + 2 > n:
        return None, f'the first IFD at byte {ifd} is past the end ({n} bytes)'
    count = struct.unpack_from(order + 'H', data, ifd)[0]
    if ifd + 2 + 12 * count > n:
        return None, f'the first IFD needs {ifd + 2 + 12 * count} bytes, the file has {n}'
    tags: dict[int, list[int]] = {}
    for i in range(count):
        tag, kind, num = struct.unpack_from(order + 'HHI', data, ifd + 2 + 12 * i)
        size = _TIFF_TYPE_SIZE.get(kind)
        if size is None:
            continue
        at = ifd + 2 + 12 * i + 8
        if num * size > 4:
            at = struct.unpack_from(order + 'I', data, at)[0]
        if at + num * size > n:
            return None, f'tag {tag} needs {at + num * size} bytes, the file has {n}'
        fmt = {1: 'B', 2: 'H', 4: 'I', 8: 'Q'}[size]
        tags[tag] = list(struct.unpack_from(f'{order}{num}{fmt}', data, at))
    return tags, None


def _tiff_truncated(data: bytes) -> str | None:
    tags, why = _tiff_tags(data)
    if why is not None:
        return why
    for offsets, counts in ((273, 279), (324, 325)):  # strips, tiles
        if offsets in tags and counts in tags:
            need = max((o + c for o, c in zip(tags[offsets], tags[counts])), default=0)
            if need > len(data):
                return f'the image data needs {need} bytes, the file has {len(data)}'
    return None


def _webp_truncated(data: bytes) -> str | None:
    n = len(data)
    need = 8 + struct.unpack_from('<I', data, 4)[0]
    return None if n >= need else f'the RIFF header announces {need} bytes, the file has {n}'


def _gif_skip_sub_blocks(data: bytes, pos: int) -> int | None:
    while pos < len(data):
        size = data[pos]
        pos += 1
        if size == 0:
            return pos
        pos += size
    return None


def _gif_truncated(data: bytes) -> str | None:
    n = len(data)
    if n < 13:
        return f'a {n}-byte file cannot hold a GIF header'
    pos = 13 + (3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0)  # global colour table
    while pos is not None and pos < n:
        block = data[pos]
        if block == 0x3B:  # trailer
            return None
        if block == 0x21:  # extension: label, sub-blocks
            pos = _gif_skip_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image: descriptor, local colour table, LZW code size, sub-blocks
            if pos + 10 > n:
                break
            flags = data[pos + 9]
            pos += 10 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0) + 1
            pos = _gif_skip_sub_blocks(data, pos)
        else:  # not a GIF block: corrupt rather than short; the decoder decides
            return None
    return 'no trailer (0x3B) after the last block'


_TRUNCATED = dict(
    JPEG=_jpeg_truncated,
    PNG=_png_truncated,
    BMP=_bmp_truncated,
    TIFF=_tiff_truncated,
    WebP=_webp_truncated,
    GIF=_gif_truncated,
)


# ----------------------------------------------------------------------------- decoding
def _to_uint8(img: np.ndarray, path: str) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    raise ImageLoadError(
        f'image file {path!r} has {img.dtype} samples; only 8- and 16-bit integer images are supported'
    )


def _decode_with_pillow(data: bytes, color_type: str) -> np.ndarray | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as pil:
            pil.seek(0)
            if color_type == 'grayscale':
                return np.asarray(pil.convert('L'))
            return np.ascontiguousarray(np.asarray(pil.convert('RGB'))[..., ::-1])
    except Exception:  # noqa: BLE001 - any failure means "could not be decoded"
        return None


def read_image(path: str, color_type: str = 'color') -> np.ndarray:
    """Decode an image file to ``(H, W, 3)`` BGR (or ``(H, W)`` gray) uint8.

    The format comes from the file's magic bytes (see the module docstring
    for grayscale, palette, 16-bit and alpha files).

    Args:
        path: The image file.
        color_type: ``'color'`` (3-channel BGR) or ``'grayscale'``.

    Raises:
        ImageLoadError: the file is missing, empty, truncated (for the format
            its bytes show, whatever its extension), cannot be decoded, or
            holds samples other than 8- or 16-bit integers.
    """
    if not osp.isfile(path):
        raise ImageLoadError(f'image file {path!r} does not exist')
    with open(path, 'rb') as f:
        data = f.read()
    if not data:
        raise ImageLoadError(f'image file {path!r} is empty')
    fmt = detect_format(data)
    if fmt is not None:
        why = _TRUNCATED[fmt](data)
        if why is not None:
            raise ImageLoadError(f'image file {path!r} is truncated ({fmt}: {why})')
    img = None
    if fmt == 'TIFF' and 338 in (_tiff_tags(data)[0] or {}):  # ExtraSamples: an alpha channel
        img = _decode_with_pillow(data, color_type)
    if img is None:
        flag = cv2.IMREAD_GRAYSCALE if color_type == 'grayscale' else cv2.IMREAD_COLOR
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flag | cv2.IMREAD_ANYDEPTH)
    if img is None and fmt == 'GIF':  # OpenCV builds without a GIF reader (before 4.11)
        img = _decode_with_pillow(data, color_type)
    if img is None:
        kind = f'a {fmt} file' if fmt else f'not a {"/".join(FORMATS)} file'
        raise ImageLoadError(f'image file {path!r} could not be decoded ({kind}; corrupt or unsupported)')
    return _to_uint8(img, path)


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Read ``results['img_path']`` into ``results['img']`` (BGR uint8).

    Unlike mmcv's transform of the same name, a missing, corrupt or truncated
    file raises :class:`ImageLoadError` naming the file, instead of failing
    later inside another transform; the format is judged by the file's bytes
    (see :func:`read_image`). If ``results`` already holds ``img``
    (in-memory datasets such as SynthFER) it is kept.

    Args:
        color_type: ``'color'`` (3-channel BGR) or ``'grayscale'``.
    """

    def __init__(self, color_type: str = 'color'):
        if color_type not in ('color', 'grayscale'):
            raise ValueError(f"color_type must be 'color' or 'grayscale', got {color_type!r}")
        self.color_type = color_type

    def transform(self, results: dict) -> dict:
        if results.get('img') is None:
            results['img'] = read_image(results['img_path'], self.color_type)
        elif self.color_type == 'color' and results['img'].ndim == 2:
            results['img'] = cv2.cvtColor(results['img'], cv2.COLOR_GRAY2BGR)
        results['ori_shape'] = results['img'].shape[:2]
        results['img_shape'] = results['img'].shape[:2]
        return results
