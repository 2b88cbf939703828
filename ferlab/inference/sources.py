"""Inference inputs: image files, folders, globs, videos and cameras, as a stream of :class:`Frame`.

:func:`expand_inputs` turns what a user typed (files, folders searched
recursively by extension, glob patterns, video files, ``camera:N``) into an
ordered list of inputs; :func:`iter_frames` reads them one frame at a time.
Images are decoded here (EXIF orientation applied, see :func:`load_image`);
videos and cameras are read by :mod:`ferlab.inference.video`
(``iter_video_frames`` / ``iter_camera_frames``), which stream frames from a
background thread and yield the same :class:`Frame` records.

An input that cannot be read never raises from :func:`iter_frames`: it yields
a :class:`Frame` with ``image=None`` and a one-line ``error`` naming the file,
so a batch run goes on and its summary counts the failure.
"""

from __future__ import annotations

import glob
import os
import os.path as osp
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from ferlab.datasets.transforms.loading import ImageLoadError, read_image

#: Image file extensions picked up from folders (lower case, with the dot).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.gif')
#: Video file extensions picked up from folders; any file with one of them is read as a video.
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg', '.wmv', '.flv')
_GLOB_CHARS = ('*', '?', '[')


@dataclass
class Frame:
    """One image or video frame to run inference on.

    Attributes:
        input: The input as given (a path, or ``'camera:N'``).
        frame: ``0`` for images; the index of the frame in the video.
        timestamp_s: ``0.0`` for images; ``frame / fps`` for videos.
        image: BGR uint8 ``(H, W, 3)``, EXIF orientation applied; ``None``
            when the input could not be read.
        error: One-line reason when the input could not be read, else ``None``.
        is_video: The frame comes from a video file or a camera.
    """

    input: str
    frame: int
    timestamp_s: float
    image: np.ndarray | None
    error: str | None = None
    is_video: bool = False


def is_camera(name: str) -> bool:
    """``'camera:N'`` (N a device index)."""
    return isinstance(name, str) and name.startswith('camera:') and name[len('camera:') :].isdigit()


def is_video_file(path: str) -> bool:
    """The path's extension is one of :data:`VIDEO_EXTENSIONS`."""
    return osp.splitext(str(path))[1].lower() in VIDEO_EXTENSIONS


def _is_media(path: str) -> bool:
    return osp.splitext(path)[1].lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS


def expand_inputs(inputs: str | Iterable[str]) -> list[str]:
    """The inputs a run reads, in order.

    Args:
        inputs: One or several of: an image or video file, a folder (searched
            recursively for :data:`IMAGE_EXTENSIONS` and
            :data:`VIDEO_EXTENSIONS`, in sorted order), a glob pattern
            (``**`` recurses; sorted), ``'camera:N'``.

    Returns:
        The files (and cameras) in order, duplicates removed. A path that does
        not exist, a folder without media files and a glob without matches are
        kept as they are, so that :func:`iter_frames` reports each as an
        error frame instead of silently dropping it.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out: list[str] = []
    seen: set[str] = set()

    def add(name: str) -> None:
        if name not in seen:
            seen.add(name)
            out.append(name)

    for item in inputs:
        item = os.fspath(item)
        if is_camera(item) or osp.isfile(item):
            add(item)
        elif osp.isdir(item):
            found = []
            for root, dirs, files in os.walk(item):
                dirs.sort()
                found.extend(osp.join(root, f) for f in files if _is_media(f))
            for path in sorted(found) or [item]:
                add(path)
        elif any(c in item for c in _GLOB_CHARS):
            matches = sorted(p for p in glob.glob(item, recursive=True) if osp.isfile(p))
            for path in matches or [item]:
                add(path)
        else:
            add(item)
    return out


def load_image(path: str) -> np.ndarray:
    """Decode an image file to upright BGR uint8 ``(H, W, 3)``.

    Decoding is :func:`ferlab.datasets.transforms.loading.read_image`
    (missing, empty, truncated and undecodable files raise
    :class:`ImageLoadError` naming the file). Its decoders apply the EXIF
    orientation tag (0x0112) themselves: OpenCV 4.x for JPEG, PNG, WebP and
    TIFF (``cv2.IMREAD_COLOR`` without ``IMREAD_IGNORE_ORIENTATION``), Pillow
    for the TIFFs with alpha it decodes; all eight orientations of the four
    formats are tested against the upright picture
    (``tests/test_inference/test_sources.py``).

    Raises:
        ImageLoadError: The file cannot be read as an image.
    """
    return read_image(path, 'color')


def _missing_reason(name: str) -> str:
    if osp.isdir(name):
        exts = ', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
        return f'folder {name!r} holds no image or video files ({exts})'
    if any(c in name for c in _GLOB_CHARS):
        return f'pattern {name!r} matches no file'
    return f'input {name!r} does not exist'


def iter_frames(inputs: str | Iterable[str], every_n_frames: int = 1) -> Iterator[Frame]:
    """Yield every frame of ``inputs`` (see :func:`expand_inputs`), in order.

    Args:
        inputs: Files, folders, globs, videos, ``'camera:N'``.
        every_n_frames: For videos and cameras, keep one frame in this many
            (frame indices ``0, n, 2n, ...``); images always give one frame.

    Yields:
        :class:`Frame` records. An unreadable input gives one frame with
        ``image=None`` and ``error`` set; the iteration goes on.
    """
    if every_n_frames < 1:
        raise ValueError(f'every_n_frames must be >= 1, got {every_n_frames}')
    for name in expand_inputs(inputs):
        if is_camera(name):
            from ferlab.inference.video import iter_camera_frames

            yield from iter_camera_frames(int(name.split(':', 1)[1]), every_n_frames)
        elif not osp.isfile(name):
            yield Frame(name, 0, 0.0, None, _missing_reason(name))
        elif is_video_file(name):
            from ferlab.inference.video import iter_video_frames

            yield from iter_video_frames(name, every_n_frames)
        else:
            try:
                yield Frame(name, 0, 0.0, load_image(name))
            except ImageLoadError as err:
                yield Frame(name, 0, 0.0, None, str(err))
