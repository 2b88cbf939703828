import os
import os.path as osp

import numpy as np
import pytest

from ferlab.datasets import AFFWILD2_CLASSES
from ferlab.registry import DATASETS
from tests.test_datasets.fake_formats import AFFWILD2_HEADER, write_image, write_text


def make_video(root, ann_dir, video, labels, frames):
    """``labels``: one int per frame (line k+1 = frame k); ``frames``: 1-indexed frames with an image."""
    write_text(osp.join(str(root), ann_dir, f'{video}.txt'), [AFFWILD2_HEADER] + [str(x) for x in labels])
    for k in frames:
        write_image(osp.join(str(root), 'cropped_aligned', video, f'{k:05d}.jpg'), size=8, seed=k)


def build(root, **kw):
    return DATASETS.build(dict(type='AffWild2', data_root=str(root), **kw))


@pytest.mark.parametrize(
    'ann_dir',
    [
        'annotations/EXPR_Set/Training_Set',
        'Third ABAW Annotations/EXPR_Classification_Challenge/Train_Set',
        'EXPR_Recognition_Challenge/Train_Set',
    ],
)
def test_editions_are_detected_and_frames_aligned(tmp_path, ann_dir):
    # frame 2 unannotated, frame 4 has no image
    make_video(tmp_path, ann_dir, '10-60-1280x720_right', [0, -1, 7, 4, 2], frames=[1, 2, 3, 5])
    make_video(tmp_path, ann_dir, '2-30-640x360', [6], frames=[1])
    ds = build(tmp_path, pipeline=[dict(type='LoadImageFromFile'), dict(type='PackFERInputs')])
    assert ds.classes == AFFWILD2_CLASSES
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [(d['video_id'], d['frame_idx'], d['gt_label']) for d in infos] == [
        ('10-60-1280x720_right', 1, 0),
        ('10-60-1280x720_right', 3, 7),
        ('10-60-1280x720_right', 5, 2),
        ('2-30-640x360', 1, 6),
    ]
    assert infos[1]['img_path'].endswith(osp.join('cropped_aligned', '10-60-1280x720_right', '00003.jpg'))
    assert ds.num_unannotated == 1 and ds.num_missing_images == 1
    sample = ds[2]['data_samples']
    assert sample.video_id == '10-60-1280x720_right' and sample.frame_idx == 5


def test_explicit_ann_dir_val_and_ambiguity(tmp_path):
    make_video(tmp_path, 'EXPR_Set/Validation_Set', 'v1', [1, 1], frames=[1, 2])
    make_video(tmp_path, 'EXPR_Classification_Challenge/Validation_Set', 'v2', [3], frames=[1])
    with pytest.raises(ValueError, match='several EXPR annotation folders'):
        build(tmp_path, split='val')
    ds = build(tmp_path, split='val', ann_dir='EXPR_Classification_Challenge/Validation_Set')
    assert ds.get_gt_labels().tolist() == [3] and ds.test_mode
    with pytest.raises(FileNotFoundError, match=r'no train EXPR annotation folder .*tried'):
        build(tmp_path, split='train')
    with pytest.raises(FileNotFoundError, match=r'ann_dir .*nope'):
        build(tmp_path, ann_dir='nope')


@pytest.mark.parametrize(
    'lines, match',
    [
        (['Neutral,Anger,Happy'], r'v.txt, line 1: expected the header'),
        ([AFFWILD2_HEADER, '1', '8'], r'v.txt, line 3: expected a label in -1..7'),
        ([AFFWILD2_HEADER, '1', 'x'], r'v.txt, line 3: expected one integer label'),
        ([AFFWILD2_HEADER, '-1', '-1'], r'is empty'),
    ],
)
def test_bad_annotation_files(tmp_path, lines, match):
    write_text(osp.join(str(tmp_path), 'EXPR_Set/Train_Set', 'v.txt'), lines)
    for k in (1, 2):
        write_image(osp.join(str(tmp_path), 'cropped_aligned', 'v', f'{k:05d}.jpg'), size=8)
    with pytest.raises(ValueError, match=match):
        build(tmp_path)


def _empty_frames(root, video, frames):
    """Frame files without pixels (the index only lists the folder)."""
    d = osp.join(str(root), 'cropped_aligned', video)
    os.makedirs(d, exist_ok=True)
    for k in frames:
        open(osp.join(d, f'{k:05d}.jpg'), 'w').close()


def _oracle(root, ann_dir):
    """Direct reading of the txt files and folders: (video, frame, label) of every usable frame."""
    rows = []
    for txt in sorted(os.listdir(osp.join(str(root), ann_dir))):
        video = txt[:-4]
        with open(osp.join(str(root), ann_dir, txt)) as f:
            labels = [int(x) for x in f.read().split('\n')[1:] if x.strip()]
        present = set(os.listdir(osp.join(str(root), 'cropped_aligned', video)))
        rows += [(video, k, lab) for k, lab in enumerate(labels, 1) if lab >= 0 and f'{k:05d}.jpg' in present]
    return rows


def test_frame_table_matches_direct_reading_with_label_map_and_indices(tmp_path):
    rng = np.random.default_rng(0)
    ann_dir = 'EXPR_Set/Train_Set'
    for v in range(6):
        num = int(rng.integers(1, 60))
        labels = rng.integers(-1, 8, size=num)
        make_labels = [AFFWILD2_HEADER] + [str(x) for x in labels]
        write_text(osp.join(str(tmp_path), ann_dir, f'vid{v}.txt'), make_labels)
        _empty_frames(tmp_path, f'vid{v}', [k for k in range(1, num + 1) if rng.random() < 0.9])
    # names that are no frame of the annotation are ignored
    _empty_frames(tmp_path, 'vid0', [100000])
    for junk in ('1.jpg', 'Thumbs.db', '00002.png'):
        open(osp.join(str(tmp_path), 'cropped_aligned', 'vid1', junk), 'w').close()
    expected = _oracle(tmp_path, ann_dir)
    ds = build(tmp_path)
    got = [
        (d['video_id'], d['frame_idx'], d['gt_label']) for d in (ds.get_data_info(i) for i in range(len(ds)))
    ]
    assert got == expected
    assert ds.get_gt_labels().tolist() == [lab for _, _, lab in expected]
    assert ds.get_data_info(-1)['img_path'] == osp.join(
        str(tmp_path), 'cropped_aligned', expected[-1][0], f'{expected[-1][1]:05d}.jpg'
    )
    # classes= (here: drop Other, re-order) maps the column; dropped samples are counted
    raf = ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral')
    mapped = build(tmp_path, classes=raf)
    keep = [(v, k, raf.index(AFFWILD2_CLASSES[lab])) for v, k, lab in expected if lab != 7]
    assert mapped.get_gt_labels().tolist() == [lab for _, _, lab in keep]
    assert mapped.num_dropped_by_label_map == len(expected) - len(keep)
    sub = build(tmp_path, indices=[3, 0, 5])
    assert [sub.get_data_info(i)['frame_idx'] for i in range(3)] == [expected[i][1] for i in (3, 0, 5)]
    assert len(build(tmp_path, indices=4)) == 4


@pytest.mark.e2e
def test_index_benchmark_counts_every_frame(tmp_path):
    from tools.analysis_tools.affwild2_index_benchmark import main

    result = main(['--tree', str(tmp_path / 'tree'), '--videos', '4', '--frames', '300'])
    tree, run = result['tree'], result['runs'][0]
    assert tree['frames'] == 300 and tree['videos'] == 4
    assert (
        run['num_unannotated'] == tree['unannotated'] and run['num_missing_images'] == tree['without_image']
    )
    assert run['samples'] == 300 - tree['unannotated'] - tree['without_image']


@pytest.mark.slow
def test_index_memory_per_frame_is_a_table_not_dicts(tmp_path):
    """10 videos x 600 frames: the index's peak Python heap stays under 100 bytes per frame."""
    import tracemalloc

    from tools.analysis_tools.affwild2_index_benchmark import make_tree

    tree = make_tree(str(tmp_path), videos=10, frames=6_000, seed=1)
    tracemalloc.start()
    ds = build(tmp_path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(ds) == tree['frames'] - tree['unannotated'] - tree['without_image']
    # numpy columns: 16 B per frame plus one video's lines at a time; a dict per frame is ~700 B
    assert peak < 100 * tree['frames'], peak / tree['frames']
