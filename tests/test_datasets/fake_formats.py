"""Writers of tiny fake datasets in the owners' exact file formats (see docs/datasets.md).

Import as ``from tests.test_datasets.fake_formats import write_image``.
"""

from __future__ import annotations

import csv
import os
import os.path as osp

import cv2
import numpy as np

FERPLUS_HEADER = 'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF'
AFFECTNET_HEADER = (
    'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal'
)
AFFWILD2_HEADER = 'Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other'


def write_image(path: str, size: int = 16, value: int | None = None, seed: int = 0) -> str:
    """Write a small random (or solid ``value``) colour image with cv2; returns ``path``."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    if value is None:
        img = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    else:
        img = np.full((size, size, 3), value, dtype=np.uint8)
    if not cv2.imwrite(path, img):
        raise OSError(f'could not write {path}')
    return path


def write_text(path: str, lines: list[str]) -> str:
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def pixels(value: int) -> str:
    """FER2013 ``pixels`` cell: 2,304 space-separated ints (a solid image)."""
    return ' '.join([str(value)] * 2304)


def write_ferplus_csv(root: str, rows: list[tuple[str, str, list[int]]]) -> None:
    """Write ``fer2013.csv`` + ``fer2013new.csv``.

    Args:
        root: Output folder.
        rows: ``(usage, image_name, votes)``; ``votes`` are the 10 counts;
            row ``i``'s image is solid gray ``i``.
    """
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, 'fer2013.csv'), 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['emotion', 'pixels', 'Usage'])
        for i, (usage, _, _) in enumerate(rows):
            w.writerow([0, pixels(i), usage])
    with open(osp.join(root, 'fer2013new.csv'), 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(FERPLUS_HEADER.split(','))
        for usage, name, votes in rows:
            w.writerow([usage, name, *votes])


def write_ferplus_folder(root: str, folder: str, rows: list[tuple[str, list[int]]]) -> None:
    """Write ``<folder>/label.csv`` (``name,"(0, 0, 48, 48)",<10 counts>``) and the PNGs."""
    d = osp.join(root, folder)
    os.makedirs(d, exist_ok=True)
    with open(osp.join(d, 'label.csv'), 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        for i, (name, votes) in enumerate(rows):
            w.writerow([name, '(0, 0, 48, 48)', *votes])
            cv2.imwrite(osp.join(d, name), np.full((48, 48), i, dtype=np.uint8))


def affectnet_row(path: str, code: int, valence: float = 0.1, arousal: float = -0.2) -> str:
    landmarks = ';'.join(['10.5'] * 136)
    return f'{path},1,2,30,30,{landmarks},{code},{valence},{arousal}'


def write_affectnet_csv(root: str, split_file: str, rows: list[tuple[str, int]], header: bool = True) -> None:
    """Write ``Manually_Annotated_file_lists/<split_file>`` and the images it names."""
    lines = [AFFECTNET_HEADER] if header else []
    for i, (path, code) in enumerate(rows):
        lines.append(affectnet_row(path, code))
        write_image(osp.join(root, 'Manually_Annotated_Images', path), seed=i)
    write_text(osp.join(root, 'Manually_Annotated_file_lists', split_file), lines)


def write_affectnet_npy(root: str, split_dir: str, codes: list[int], with_va: bool = True) -> None:
    """Write ``<split_dir>/images/<id>.jpg`` + ``annotations/<id>_exp.npy`` (codes stored as strings)."""
    ann = osp.join(root, split_dir, 'annotations')
    os.makedirs(ann, exist_ok=True)
    for i, code in enumerate(codes):
        write_image(osp.join(root, split_dir, 'images', f'{i}.jpg'), seed=i)
        np.save(osp.join(ann, f'{i}_exp.npy'), np.array(str(code)))
        if with_va:
            np.save(osp.join(ann, f'{i}_val.npy'), np.array(str(0.25 * i)))
            np.save(osp.join(ann, f'{i}_aro.npy'), np.array(str(-0.5)))


RAFDB_LIST = 'basic/EmoLabel/list_patition_label.txt'


def make_rafdb(root, train=(5, 1, 4), test=(1, 2, 3, 4, 7), write_images=True):
    """RAF-DB basic tree; ``train``/``test`` are file labels (1..7)."""
    lines = [f'train_{i:05d}.jpg {lab}' for i, lab in enumerate(train, 1)]
    lines += [f'test_{i:04d}.jpg {lab}' for i, lab in enumerate(test, 1)]
    write_text(osp.join(root, RAFDB_LIST), lines)
    if write_images:
        for line in lines:
            stem = line.split('.')[0]
            write_image(osp.join(root, 'basic/Image/aligned', f'{stem}_aligned.jpg'), value=10)
    return str(root)


#: A JAFFE-named sample: 3 subjects, each with every code once (second subject: two HA images).
JAFFE_NAMES = (
    'KA.AN1.39.tiff', 'KA.DI1.42.tiff', 'KA.FE1.45.tiff', 'KA.HA1.29.tiff', 'KA.NE1.26.tiff',
    'KA.SA1.33.tiff', 'KA.SU1.36.tiff',
    'KL.AN1.167.tiff', 'KL.DI1.170.tiff', 'KL.FE1.174.tiff', 'KL.HA1.158.tiff', 'KL.HA2.159.tiff',
    'KL.NE1.155.tiff', 'KL.SA1.161.tiff', 'KL.SU1.164.tiff',
    'YM.AN1.61.tiff', 'YM.DI1.64.tiff', 'YM.FE1.67.tiff', 'YM.HA1.52.tiff', 'YM.NE1.49.tiff',
    'YM.SA1.55.tiff', 'YM.SU1.58.tiff',
)  # fmt: skip


def make_jaffe(root, names=JAFFE_NAMES, size=16) -> str:
    """JAFFE folder: 8-bit grayscale TIFFs named ``<subject>.<code><n>.<number>.tiff``; image i is solid ``10 i``."""
    os.makedirs(str(root), exist_ok=True)
    for i, name in enumerate(names):
        path = osp.join(str(root), name)
        if not cv2.imwrite(path, np.full((size, size), (10 * i) % 256, dtype=np.uint8)):
            raise OSError(f'could not write {path}')
    return str(root)


def make_ferg(root, counts=None, size=16) -> str:
    """``FERG_DB_256/<char>/<char>_<expr>/<char>_<expr>_<n>.png`` (n from 1) with ``counts[(char, expr)]`` images.

    Default: characters aia and ray, each with every expression twice.
    """
    if counts is None:
        exprs = ('anger', 'disgust', 'fear', 'joy', 'neutral', 'sadness', 'surprise')
        counts = {(c, e): 2 for c in ('aia', 'ray') for e in exprs}
    for k, ((char, expr), n) in enumerate(sorted(counts.items())):
        for i in range(1, n + 1):
            path = osp.join(str(root), char, f'{char}_{expr}', f'{char}_{expr}_{i}.png')
            write_image(path, size=size, seed=100 * k + i)
    return str(root)


# ---------------------------------------------------------------- AU datasets
#: OpenFace 2 AU columns in output order: intensities then presences (see au_vocabulary).
OPENFACE_R = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
OPENFACE_C = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 28, 45)


def write_emotionet(root, rows, ann_file='label/train.txt', img_dir='images', size=8) -> str:
    """EmotioNet label list ``<name> a1 … a16`` (999 = unknown) and the images it names.

    Args:
        rows: ``(name, values)`` with 16 ints per row; or a raw line string (written as is,
            no image) for bad-input tests.
    """
    lines = []
    for k, row in enumerate(rows):
        if isinstance(row, str):
            lines.append(row)
            continue
        name, values = row
        lines.append(' '.join([name, *(str(v) for v in values)]))
        write_image(osp.join(str(root), img_dir, name), size=size, seed=k)
    return write_text(osp.join(str(root), ann_file), lines)


def openface_header(video: bool = False) -> list[str]:
    """OpenFace 2 CSV column names, as written: every name after the first has a leading space."""
    lead = ['frame', 'face_id', 'timestamp', 'confidence', 'success'] if video else ['face', 'confidence']
    cols = (
        lead
        + ['gaze_0_x', 'pose_Tx']
        + [f'AU{a:02d}_r' for a in OPENFACE_R]
        + [f'AU{a:02d}_c' for a in OPENFACE_C]
    )
    return [cols[0]] + [' ' + c for c in cols[1:]]


def write_openface_csv(path, rows, video: bool = False) -> str:
    """One OpenFace 2 CSV. ``rows``: dicts with ``r`` ``{au: intensity}``, ``c`` ``{au: 0/1}`` and
    optional ``frame`` / ``confidence`` / ``success``; other AUs are written as 0."""
    header = openface_header(video)
    lines = [','.join(header)]
    for k, row in enumerate(rows):
        conf = row.get('confidence', 0.98)
        lead = [str(row.get('frame', k + 1)), '0', f'{0.04 * k:.3f}', str(conf), str(row.get('success', 1))]
        lead = lead if video else [str(row.get('face', 0)), str(conf)]
        vals = lead + ['0.1', '2.0']
        vals += [f'{row.get("r", {}).get(a, 0.0):.2f}' for a in OPENFACE_R]
        vals += [f'{float(row.get("c", {}).get(a, 0)):.1f}' for a in OPENFACE_C]
        lines.append(', '.join(vals))
    return write_text(str(path), lines)


def write_affwild2_au(root, videos, folder='AU_Set/Train_Set', frames_with_images=None, size=8):
    """Aff-Wild2 AU files ``<video>.txt`` (header ``AU1,…,AU26``, rows of 12 values 0/1/-1) and frames.

    Args:
        videos: ``{video: [row, …]}``; a row is a list of 12 ints or a raw string.
        frames_with_images: ``{video: frame numbers}`` that get an image (default: all rows).
    """
    header = 'AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26'
    for video, rows in videos.items():
        lines = [header] + [r if isinstance(r, str) else ','.join(str(v) for v in r) for r in rows]
        write_text(osp.join(str(root), folder, f'{video}.txt'), lines)
        frames = (frames_with_images or {}).get(video, range(1, len(rows) + 1))
        for t in frames:
            write_image(osp.join(str(root), 'cropped_aligned', video, f'{t:05d}.jpg'), size=size, seed=t)


def write_condition_list(path, lines, crlf: bool = False) -> str:
    """An occlusion/pose list of kaiwang960112/Challenge-condition-FER-dataset (its occlusion lists use CRLF)."""
    os.makedirs(osp.dirname(str(path)) or '.', exist_ok=True)
    with open(str(path), 'w', encoding='utf-8', newline='') as f:
        f.write(''.join(line + ('\r\n' if crlf else '\n') for line in lines))
    return str(path)
