"""Write SynthFER to disk in the real datasets' file formats (docs/synthfer.md).

    python tools/dataset_converters/make_synthfer.py OUT_DIR --formats rafdb ferplus affectnet affwild2 rafau

Each format goes to ``OUT_DIR/<format>/`` laid out exactly as the owners ship
it (see docs/datasets.md), so the real
loaders (``RAFDB``, ``FERPlus``, ``AffectNet``, ``AffWild2``, ``RAFAU``) read
it unchanged. ``OUT_DIR/<format>/synthfer_manifest.json`` lists the labels
written (in each format's own class order) for round-trip checks.

``--openface`` also writes, for every RAF-DB aligned image, the CSV OpenFace 2
would write for it (``rafdb/openface/<image stem>.csv``, :func:`write_openface_csv`)
and for every Aff-Wild2 video one CSV with a ``frame`` column
(``affwild2/openface/<video>.csv``, :func:`write_openface_video_csv`), with the
rendered AU intensities, for ``OpenFaceAUs`` (pseudo-AU) configs.
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from ferlab.datasets.au_vocabulary import OPENFACE_C_AUS, OPENFACE_R_AUS  # noqa: E402
from ferlab.datasets.categories import (  # noqa: E402
    AFFWILD2_CLASSES,
    FER2013_CLASSES,
    FERPLUS_CLASSES,
    name_label_map,
)
from ferlab.datasets.synthfer.expressions import AU_INDEX, AU_LIST, BILATERAL_AUS  # noqa: E402
from ferlab.datasets.synthfer.generator import SynthFERGenerator  # noqa: E402
from ferlab.datasets.synthfer.renderer import Pose  # noqa: E402

FORMATS = ('rafdb', 'ferplus', 'affectnet', 'affwild2', 'rafau')
#: Aff-Wild2 AU annotation columns (ABAW); AU24 is not rendered and written as 0.
AFFWILD2_AUS = (1, 2, 4, 6, 7, 10, 12, 15, 23, 24, 25, 26)
#: (valence, arousal) of each AffectNet code at full intensity (circumplex, Russell 1980).
_VA = {0: (0.0, 0.0), 1: (0.8, 0.4), 2: (-0.7, -0.3), 3: (0.2, 0.8), 4: (-0.6, 0.8), 5: (-0.7, 0.4),
       6: (-0.6, 0.7), 7: (-0.4, 0.3)}  # fmt: skip


def _write_jpg(path: str, img: np.ndarray, quality: int = 95) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f'could not write {path}')


def _manifest(root: str, data: dict) -> None:
    with open(osp.join(root, 'synthfer_manifest.json'), 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=1)


def openface_values(au: np.ndarray, threshold: float = 0.3) -> tuple[list[float], list[int]]:
    """OpenFace 2 ``AUxx_r`` (intensity 0-5, 2 decimals) and ``AUxx_c`` (0/1) of rendered intensities.

    ``au`` is ``(16,)`` in [0, 1] in ``AU_LIST`` order; ``AUxx_r = round(5 au, 2)``, ``AUxx_c =
    au >= threshold``; AUs SynthFER does not draw (AU28, AU45) are written as 0.
    """
    r = [round(5.0 * float(au[AU_INDEX[a]]), 2) if a in AU_INDEX else 0.0 for a in OPENFACE_R_AUS]
    c = [int(float(au[AU_INDEX[a]]) >= threshold) if a in AU_INDEX else 0 for a in OPENFACE_C_AUS]
    return r, c


def write_openface_csv(path: str, au: np.ndarray, threshold: float = 0.3) -> None:
    """One image's CSV as OpenFace 2 ``FaceLandmarkImg`` writes it: header ``face, confidence, AU01_r,
    …, AU45_c`` (every name after the first with a leading space), one row for the one face."""
    r, c = openface_values(au, threshold)
    names = (
        ['face', 'confidence']
        + [f'AU{a:02d}_r' for a in OPENFACE_R_AUS]
        + [f'AU{a:02d}_c' for a in OPENFACE_C_AUS]
    )
    row = ['0', '0.98'] + [f'{v:.2f}' for v in r] + [str(v) for v in c]
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(', '.join(names) + '\n' + ', '.join(row) + '\n')


def write_openface_video_csv(path: str, aus: np.ndarray, fps: float = 30.0, threshold: float = 0.3) -> None:
    """One video's CSV as OpenFace 2 ``FeatureExtraction`` writes it: ``frame, face_id, timestamp,
    confidence, success, AU01_r, …, AU45_c``, one row per frame (1-indexed); ``aus`` is ``(T, 16)``."""
    names = ['frame', 'face_id', 'timestamp', 'confidence', 'success']
    names += [f'AU{a:02d}_r' for a in OPENFACE_R_AUS] + [f'AU{a:02d}_c' for a in OPENFACE_C_AUS]
    lines = [', '.join(names)]
    for t, au in enumerate(aus):
        r, c = openface_values(au, threshold)
        row = [str(t + 1), '0', f'{t / fps:.3f}', '0.98', '1'] + [f'{v:.2f}' for v in r] + [str(v) for v in c]
        lines.append(', '.join(row))
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')


def export_rafdb(out: str, num_train: int, num_test: int, seed: int = 0, domain='default',
                 openface: bool = False) -> dict:  # fmt: skip
    """RAF-DB basic: ``basic/EmoLabel/list_patition_label.txt`` (labels 1..7), aligned 100x100 + original;
    with ``openface``, ``openface/<stem>_aligned.csv`` per image (:func:`write_openface_csv`)."""
    gen = SynthFERGenerator('rafdb', domain, 100, seed)
    lines, labels = [], {}
    for split, n, digits in (('train', num_train, 5), ('test', num_test, 4)):
        data = gen.generate(split, n)
        for i in range(n):
            stem = f'{split}_{i + 1:0{digits}d}'
            img = data['imgs'][i]
            _write_jpg(osp.join(out, 'basic/Image/aligned', f'{stem}_aligned.jpg'), img)
            orig = cv2.copyMakeBorder(img, 30, 30, 30, 30, cv2.BORDER_REFLECT)
            _write_jpg(osp.join(out, 'basic/Image/original', f'{stem}.jpg'), orig)
            lines.append(f'{stem}.jpg {int(data["labels"][i]) + 1}')
            labels[stem] = int(data['labels'][i])
            if openface:
                write_openface_csv(osp.join(out, 'openface', f'{stem}_aligned.csv'), data['aus'][i])
    os.makedirs(osp.join(out, 'basic/EmoLabel'), exist_ok=True)
    with open(osp.join(out, 'basic/EmoLabel/list_patition_label.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    result = dict(classes=list(gen.classes), labels=labels)
    _manifest(out, result)
    return result


def majority_votes(votes: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
    """Votes that keep ``label`` under the FERPlus majority protocol.

    The protocol drops single votes and keeps an image when its top class has
    > 50 % of the remaining votes; simulated votes that would not pass (or
    whose winner is not the rendered class) are replaced by a 6-9 vote
    majority for ``label`` with the rest on one other class.
    """
    v = votes.copy()
    kept = np.where(v > 1, v, 0)
    if (
        kept.sum() > 0
        and kept.argmax() == label
        and kept[label] * 2 > kept.sum()
        and (kept == kept[label]).sum() == 1
    ):
        return v
    v[:] = 0
    top = int(rng.integers(6, 10))
    v[label] = top
    other = int(rng.choice([c for c in range(len(v)) if c != label]))
    v[other] = 10 - top
    return v


def export_ferplus(out: str, num_train: int, num_val: int, num_test: int, seed: int = 0, domain='fer2013',
                   no_name_rows: int = 1) -> dict:  # fmt: skip
    """FER2013 + FERPlus: ``fer2013.csv`` and ``fer2013new.csv`` (row-aligned) and the generated
    ``FER2013Train|Valid|Test/label.csv`` + PNG folders. ``no_name_rows`` rows per split have an empty
    FERPlus image name, as 173 rows of the real file do (loaders skip them)."""
    gen = SynthFERGenerator('ferplus', domain, 48, seed)
    to_fer = name_label_map(FERPLUS_CLASSES, FER2013_CLASSES)
    fer_rows, new_rows, labels, votes_out = [], [], {}, {}
    folders = {'train': 'FER2013Train', 'val': 'FER2013Valid', 'test': 'FER2013Test'}
    usage = {'train': 'Training', 'val': 'PublicTest', 'test': 'PrivateTest'}
    idx = 0
    for split, n in (('train', num_train), ('val', num_val), ('test', num_test)):
        data = gen.generate(split, n + no_name_rows)
        rng = np.random.default_rng([seed, 23, ['train', 'val', 'test'].index(split)])
        folder = osp.join(out, folders[split])
        os.makedirs(folder, exist_ok=True)
        label_rows = []
        for i in range(n + no_name_rows):
            gray = cv2.cvtColor(data['imgs'][i], cv2.COLOR_BGR2GRAY)
            lab = int(data['labels'][i])
            fer_label = to_fer[lab] if to_fer[lab] >= 0 else FER2013_CLASSES.index('Neutral')
            fer_rows.append(f'{fer_label},{" ".join(str(int(p)) for p in gray.ravel())},{usage[split]}')
            votes = majority_votes(data['votes'][i], lab, rng)
            counts = ','.join(str(int(c)) for c in votes) + ',0,0'
            if i >= n:  # a row without image (FERPlus dropped it)
                new_rows.append(f'{usage[split]},,{counts}')
            else:
                name = f'fer{idx:07d}.png'
                new_rows.append(f'{usage[split]},{name},{counts}')
                label_rows.append(f'{name},"(0, 0, 48, 48)",{counts}')
                cv2.imwrite(osp.join(folder, name), gray)
                labels[f'{split}/{name}'] = lab
                votes_out[f'{split}/{name}'] = votes.tolist()
            idx += 1
        with open(osp.join(folder, 'label.csv'), 'w', encoding='utf-8') as f:
            f.write('\n'.join(label_rows) + '\n')
    with open(osp.join(out, 'fer2013.csv'), 'w', encoding='utf-8') as f:
        f.write('emotion,pixels,Usage\n' + '\n'.join(fer_rows) + '\n')
    with open(osp.join(out, 'fer2013new.csv'), 'w', encoding='utf-8') as f:
        f.write(
            'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n'
        )
        f.write('\n'.join(new_rows) + '\n')
    result = dict(classes=list(gen.classes), labels=labels, votes=votes_out)
    _manifest(out, result)
    return result


def export_affectnet(out: str, num_train: int, num_val: int, seed: int = 0, domain='wild',
                     extra_codes: tuple = (8, 10), val_header: bool = True) -> dict:  # fmt: skip
    """AffectNet original layout: ``Manually_Annotated_file_lists/{training,validation}.csv`` +
    ``Manually_Annotated_Images/<subDirectory_filePath>``; codes 0..7 (+ ``extra_codes`` rows of
    None/Uncertain/No-Face that loaders drop). ``val_header=False`` writes validation.csv without a
    header, as some copies are."""
    gen = SynthFERGenerator('affectnet8', domain, 112, seed)
    header = 'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal'
    labels = {}
    for split, n, fname in (('train', num_train, 'training.csv'), ('val', num_val, 'validation.csv')):
        n_extra = len(extra_codes) if split == 'train' else 0
        data = gen.generate(split, n + n_extra)
        rows = [header] if (split == 'train' or val_header) else []
        for i in range(n + n_extra):
            sub = f'{i % 7 + 1}/synth_{split}_{i:06d}.jpg'
            _write_jpg(osp.join(out, 'Manually_Annotated_Images', sub), data['imgs'][i])
            lmk = data['landmarks'][i].astype(np.float64)  # the drawn face's 68 iBUG points (AUs, pose)
            x0, y0 = np.floor(lmk.min(0)).astype(int)
            x1, y1 = np.ceil(lmk.max(0)).astype(int)
            code = int(data['labels'][i]) if i < n else int(extra_codes[i - n])
            va = _VA.get(code, (-2.0, -2.0))
            k = float(data['intensities'][i])
            lm = ';'.join(f'{v:.2f}' for v in lmk.ravel())
            rows.append(f'{sub},{x0},{y0},{x1 - x0},{y1 - y0},{lm},{code},{va[0] * k:.4f},{va[1] * k:.4f}')
            if i < n:
                labels[f'{split}/{sub}'] = code
        os.makedirs(osp.join(out, 'Manually_Annotated_file_lists'), exist_ok=True)
        with open(osp.join(out, 'Manually_Annotated_file_lists', fname), 'w', encoding='utf-8') as f:
            f.write('\n'.join(rows) + '\n')
    result = dict(classes=list(gen.classes), labels=labels)
    _manifest(out, result)
    return result


def export_affwild2(out: str, num_train: int, num_val: int, frames: int, seed: int = 0, domain='default',
                    img_size: int = 112, openface: bool = False) -> dict:  # fmt: skip
    """Aff-Wild2 (ABAW EXPR): ``cropped_aligned/<video>/%05d.jpg`` (1-indexed),
    ``EXPR_Set/{Train,Validation}_Set/<video>.txt`` (header + one label per frame, -1 unannotated)
    and ``AU_Set/...`` (12 AU columns, 0/1; AU24 is not rendered -> 0); with ``openface``,
    ``openface/<video>.csv`` per video (:func:`write_openface_video_csv`)."""
    gen = SynthFERGenerator('affwild2', domain, img_size, seed)
    labels = {}
    for split, n, folder in (('train', num_train, 'Train_Set'), ('val', num_val, 'Validation_Set')):
        for c in range(n):
            clip = gen.clip(split, c, frames)
            video = f'synth{["train", "val"].index(split)}{c:03d}-{img_size}x{img_size}'
            for t, img in enumerate(clip['frames']):
                _write_jpg(osp.join(out, 'cropped_aligned', video, f'{t + 1:05d}.jpg'), img)
            for sub, header, rows in (
                ('EXPR_Set', ','.join(AFFWILD2_CLASSES), [str(int(v)) for v in clip['labels']]),
                ('AU_Set', ','.join(f'AU{a}' for a in AFFWILD2_AUS),
                 [','.join('0' if a not in AU_INDEX else str(int(clip['aus'][t, AU_INDEX[a]] >= 0.3))
                           for a in AFFWILD2_AUS) for t in range(frames)]),
            ):  # fmt: skip
                os.makedirs(osp.join(out, sub, folder), exist_ok=True)
                with open(osp.join(out, sub, folder, f'{video}.txt'), 'w', encoding='utf-8') as f:
                    f.write(header + '\n' + '\n'.join(rows) + '\n')
            labels[f'{split}/{video}'] = [int(v) for v in clip['labels']]
            if openface:
                write_openface_video_csv(osp.join(out, 'openface', f'{video}.csv'), clip['aus'])
    result = dict(classes=list(gen.classes), labels=labels)
    _manifest(out, result)
    return result


def rafau_code(au_l: np.ndarray, au_r: np.ndarray, threshold: float = 0.3) -> str:
    """RAF-AU label string (``1+2+4+L12``; ``L``/``R`` = subject's side; ``null`` = no AU)."""
    parts = []
    for au in AU_LIST:
        lv, rv = au_l[AU_INDEX[au]], au_r[AU_INDEX[au]]
        if max(lv, rv) < threshold:
            continue
        if au in BILATERAL_AUS and min(lv, rv) < threshold:
            parts.append(('L' if lv >= threshold else 'R') + str(au))
        else:
            parts.append(str(au))
    return '+'.join(parts) if parts else 'null'


def export_rafau(out: str, num: int, seed: int = 0, domain='default', threshold: float = 0.3) -> dict:
    """RAF-AU: ``RAFAU_label.txt`` lines ``0001.jpg 1+2+4+L12`` and ``aligned/<zfill4>_aligned.jpg``.
    An AU is annotated when its rendered intensity is >= ``threshold``."""
    gen = SynthFERGenerator('ferplus', domain, 100, seed)
    data = gen.generate('train', num)
    lines, codes = [], {}
    for i in range(num):
        name = f'{i + 1:04d}'
        _write_jpg(osp.join(out, 'aligned', f'{name}_aligned.jpg'), data['imgs'][i])
        code = rafau_code(data['au_l'][i], data['au_r'][i], threshold)
        lines.append(f'{name}.jpg {code}')
        codes[name] = code
    with open(osp.join(out, 'RAFAU_label.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    result = dict(aus=codes)
    _manifest(out, result)
    return result


def _label(img: np.ndarray, text: str, width: int) -> np.ndarray:
    pad = np.full((img.shape[0], width, 3), 255, np.uint8)
    cv2.putText(
        pad, text, (3, img.shape[0] // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA
    )
    return np.concatenate([pad, img], 1)


def _row(imgs, size: int) -> np.ndarray:
    return np.concatenate([cv2.resize(i, (size, size), interpolation=cv2.INTER_AREA) for i in imgs], 1)


def write_previews(out_dir: str, seed: int = 0, size: int = 80) -> list[str]:
    """PNG figures of docs/synthfer.md: classes, occluders, nuisances + label noise, domains, a video strip."""
    from ferlab.datasets.synthfer.renderer import Scene

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    gen = SynthFERGenerator('rafdb', 'default', 112, seed)
    data = gen.generate('train', 400)
    rows = []
    for c, name in enumerate(gen.classes):
        idx = np.flatnonzero(data['labels'] == c)[:8]
        rows.append(_label(_row(data['imgs'][idx], size), name, 80))
    paths.append(osp.join(out_dir, 'synthfer_classes.png'))
    cv2.imwrite(paths[-1], np.concatenate(rows))
    rows = []
    for kind in ('hand', 'sunglasses', 'mask', 'object'):
        g = SynthFERGenerator('rafdb', dict(preset='default', nuisance=dict(occlusion=dict(prob=1.0, types=(kind,)))),
                              112, seed)  # fmt: skip
        rows.append(_label(_row(g.generate('train', 64, indices=range(8))['imgs'], size), kind, 80))
    paths.append(osp.join(out_dir, 'synthfer_occlusion.png'))
    cv2.imwrite(paths[-1], np.concatenate(rows))
    # nuisances on one face, then pairwise label noise (clean -> served label)
    idn = gen.identity(3)
    rng = np.random.default_rng(seed)
    au_l, au_r, _ = gen.sample_aus('happiness', rng, 0.9)
    pose = Pose(yaw=10)
    scenes = {'clean': Scene(), 'clutter': gen.sample_scene(np.random.default_rng(1), occlusion=False),
              'blur': Scene(blur_sigma=1.5), 'noise': Scene(noise_std=14, noise_seed=1), 'jpeg q10': Scene(jpeg_quality=10),
              'gray': Scene(gray=True), 'light': Scene(illumination=(0.5, 0.5, 0.9))}  # fmt: skip
    nuis = [gen.renderer.render(idn, pose, au_l, au_r, sc) for sc in scenes.values()]
    top = _row(nuis, size)
    cap = np.full((16, top.shape[1], 3), 255, np.uint8)
    for k, name in enumerate(scenes):
        cv2.putText(cap, name, (k * size + 3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    noisy = gen.apply_label_noise(data['labels'], 'train', dict(type='pairwise', rate=0.3))
    flip = np.flatnonzero(noisy != data['labels'])[: len(scenes)]
    bottom = _row(data['imgs'][flip], size)
    cap2 = np.full((16, bottom.shape[1], 3), 255, np.uint8)
    for k, j in enumerate(flip):
        txt = f'{gen.classes[data["labels"][j]][:3]}->{gen.classes[noisy[j]][:3]}'
        cv2.putText(
            cap2, txt, (k * size + 3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 200), 1, cv2.LINE_AA
        )
    paths.append(osp.join(out_dir, 'synthfer_noise.png'))
    cv2.imwrite(paths[-1], np.concatenate([top, cap, bottom, cap2]))
    rows = []
    for dom in ('default', 'lab', 'wild', 'fer2013', 'alt_convention'):
        g = SynthFERGenerator('rafdb', dom, None, seed)
        d = g.generate('test', 60)
        idx = [int(np.flatnonzero(d['labels'] == c)[0]) for c in range(7)]
        rows.append(_label(_row(d['imgs'][idx], size), dom, 100))
    paths.append(osp.join(out_dir, 'synthfer_domains.png'))
    cv2.imwrite(paths[-1], np.concatenate(rows))
    vg = SynthFERGenerator('affwild2_7', 'default', 112, seed)
    clip = vg.clip('train', 1, 48, unlabeled_prob=1.0)
    ks = np.linspace(0, 47, 12).astype(int)
    strip = _row(clip['frames'][ks], size)
    cap = np.full((16, strip.shape[1], 3), 255, np.uint8)
    for k, t in enumerate(ks):
        lab = int(clip['labels'][t])
        txt = f'{t}:' + (vg.classes[lab][:4] if lab >= 0 else '-1')
        cv2.putText(cap, txt, (k * size + 3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    paths.append(osp.join(out_dir, 'synthfer_video.png'))
    cv2.imwrite(paths[-1], np.concatenate([strip, cap]))
    return paths


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Export SynthFER in the real FER datasets' file formats.")
    p.add_argument('out', help='output folder; each format goes to OUT/<format>/')
    p.add_argument('--formats', nargs='*', default=list(FORMATS), choices=FORMATS)
    p.add_argument('--num-train', type=int, default=1000, help='training images (RAF-DB, FERPlus, AffectNet)')
    p.add_argument('--num-val', type=int, default=200, help='validation images (FERPlus, AffectNet)')
    p.add_argument('--num-test', type=int, default=200, help='test images (RAF-DB, FERPlus)')
    p.add_argument('--num-au', type=int, default=500, help='RAF-AU images')
    p.add_argument('--videos', type=int, nargs=2, default=(4, 2), metavar=('TRAIN', 'VAL'),
                   help='Aff-Wild2 videos per split')  # fmt: skip
    p.add_argument('--frames', type=int, default=64, help='frames per Aff-Wild2 video')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--domain', default=None, help='domain preset for all formats (default: per format)')
    p.add_argument('--openface', action='store_true',
                   help='also write OpenFace 2 CSVs: per RAF-DB image (rafdb/openface/<stem>.csv) and per '
                        'Aff-Wild2 video (affwild2/openface/<video>.csv)')  # fmt: skip
    p.add_argument('--preview', metavar='DIR', help='also write the PNG figures of docs/synthfer.md to DIR')
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = {}
    dom = {} if args.domain is None else dict(domain=args.domain)
    for fmt in args.formats:
        root = osp.join(args.out, fmt)
        os.makedirs(root, exist_ok=True)
        if fmt == 'rafdb':
            out[fmt] = export_rafdb(
                root, args.num_train, args.num_test, args.seed, openface=args.openface, **dom
            )
        elif fmt == 'ferplus':
            out[fmt] = export_ferplus(root, args.num_train, args.num_val, args.num_test, args.seed, **dom)
        elif fmt == 'affectnet':
            out[fmt] = export_affectnet(root, args.num_train, args.num_val, args.seed, **dom)
        elif fmt == 'affwild2':
            out[fmt] = export_affwild2(
                root, args.videos[0], args.videos[1], args.frames, args.seed, openface=args.openface, **dom
            )
        else:
            out[fmt] = export_rafau(root, args.num_au, args.seed, **dom)
        print(f'wrote {fmt} to {root}')
    if args.preview:
        for path in write_previews(args.preview, args.seed):
            print(f'wrote {path}')
    return out


if __name__ == '__main__':
    from ferlab.utils.cli import run_tool

    run_tool(main, __file__)
