"""A tiny real model (config + checkpoint) and real-pixel pictures for the inference tests."""

from __future__ import annotations

import os.path as osp

import cv2
import numpy as np

from tests.utils import REPO_ROOT

CLASSES7 = ['Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral']

TINY_CONFIG = """_base_ = ['{base}']
model = dict(
    backbone=dict(pretrained=None, num_stages=2, out_indices=(1,)),
    head=dict(num_classes=7, in_channels=128),
)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=({size}, {size})),
    dict(type='PackFERInputs'),
]
test_dataloader = dict(
    batch_size=4, num_workers=0, dataset=dict(data_root='{data_root}', pipeline=test_pipeline)
)
val_dataloader = test_dataloader
"""


def write_tiny_model(
    out_dir, data_root: str = 'data/RAF-DB', size: int = 32, seed: int = 0
) -> tuple[str, str]:
    """A two-stage ResNet on RAF-DB's config at ``size`` px with random weights, and its checkpoint.

    The head weights are drawn with std 0.5 (not the init's 0.01) so the seven
    probabilities differ visibly between faces; the checkpoint records the
    RAF-DB class names in ``meta.dataset_meta`` as ``tools/train.py`` does.

    Returns:
        ``(config path, checkpoint path)``.
    """
    import torch

    from ferlab.apis import init_model
    from ferlab.utils import atomic_save

    cfg_path = osp.join(str(out_dir), 'tiny_resnet_rafdb.py')
    with open(cfg_path, 'w', encoding='utf-8') as f:
        f.write(
            TINY_CONFIG.format(
                base=osp.join(REPO_ROOT, 'configs/baseline/resnet18_rafdb.py'), size=size, data_root=data_root
            )
        )
    torch.manual_seed(seed)
    model = init_model(cfg_path)
    with torch.no_grad():
        model.head.fc.weight.normal_(0, 0.5)
        model.head.fc.bias.normal_(0, 0.5)
    ckpt = osp.join(str(out_dir), 'tiny_resnet_rafdb.pth')
    atomic_save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=CLASSES7))), ckpt)
    return cfg_path, ckpt


def astronaut_bgr() -> np.ndarray:
    """scikit-image's public-domain portrait, BGR uint8 ``(512, 512, 3)``: one frontal face."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def coffee_bgr() -> np.ndarray:
    """scikit-image's cup of coffee, BGR uint8 ``(400, 600, 3)``: no face."""
    from skimage import data

    return cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)


#: The eight EXIF 2.3 orientations (tag 0x0112, Sec. 4.6.4): what a viewer does to the stored pixels.
EXIF_DISPLAY = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirror left-right
    3: lambda a: a[::-1, ::-1],  # rotate 180
    4: lambda a: a[::-1],  # mirror top-bottom
    5: lambda a: np.swapaxes(a, 0, 1),  # transpose (0th row = visual left side)
    6: lambda a: np.rot90(a, -1),  # rotate 90 clockwise
    7: lambda a: np.rot90(np.swapaxes(a, 0, 1), 2),  # transverse (0th row = visual right side)
    8: lambda a: np.rot90(a, 1),  # rotate 90 counter-clockwise
}


def exif_display(stored: np.ndarray, orientation: int) -> np.ndarray:
    """The upright picture a viewer shows for ``stored`` pixels tagged ``orientation``."""
    return np.ascontiguousarray(EXIF_DISPLAY[orientation](stored))


def stored_for(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels that display as ``upright`` under ``orientation`` (found by search over the 8 maps)."""
    for k in range(4):
        for flip in (False, True):
            cand = np.rot90(upright, k)
            cand = np.ascontiguousarray(cand[:, ::-1] if flip else cand)
            if np.array_equal(exif_display(cand, orientation), upright):
                return cand
    raise AssertionError(f'no stored layout for orientation {orientation}')


def save_with_orientation(path: str, upright_bgr: np.ndarray, orientation: int) -> str:
    """Write ``upright_bgr`` stored as EXIF ``orientation`` requires (Pillow writes the tag)."""
    from PIL import Image

    stored = stored_for(upright_bgr, orientation)
    im = Image.fromarray(np.ascontiguousarray(stored[..., ::-1]))
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes(), quality=95)  # quality: JPEG and WebP
    return path
