"""Per-face probability plots: the drawn lines are the rows' values; one PNG per video."""

from __future__ import annotations

import cv2
import numpy as np

from ferlab.inference.plots import VideoPlotWriter, build_figure, plot_video_probabilities
from tests.utils import REPO_ROOT

CLASSES = ['Neutral', 'Happy', 'Sad']


def _video_rows(name='clip.mp4', fps=10.0):
    rows = []
    for f in range(0, 20, 2):  # every_n_frames = 2
        rows.append(dict(input=name, frame=f, timestamp_s=f / fps, face_id=0, face_found=1,
                         Neutral=0.5, Happy=f / 40, Sad=0.5 - f / 40))  # fmt: skip
        if f >= 8 and f != 14:  # face 1 enters at frame 8 and is missed at frame 14
            rows.append(dict(input=name, frame=f, timestamp_s=f / fps, face_id=1, face_found=1,
                             Neutral=0.2, Happy=0.7, Sad=0.1))  # fmt: skip
    rows.append(
        dict(input=name, frame=20, timestamp_s=2.0, face_id='', face_found=0, Neutral='', Happy='', Sad='')
    )
    return rows


def test_panels_and_lines_hold_the_row_values_with_gaps():
    fig, ids = build_figure(_video_rows(), CLASSES)
    assert ids == [0, 1]
    axes = fig.get_axes()
    assert len(axes) == 2
    lines0 = axes[0].get_lines()
    assert [ln.get_label() for ln in lines0] == CLASSES
    np.testing.assert_allclose(lines0[0].get_xdata(), np.arange(0, 20, 2) / 10.0)
    np.testing.assert_allclose(lines0[1].get_ydata(), np.arange(0, 20, 2) / 40)
    # face 1: frames 8, 10, 12, (gap) 16, 18 -> a NaN breaks the line between 12 and 16
    happy1 = axes[1].get_lines()[1]
    np.testing.assert_allclose(happy1.get_xdata(), [0.8, 1.0, 1.2, np.nan, 1.6, 1.8])
    np.testing.assert_allclose(happy1.get_ydata(), [0.7, 0.7, 0.7, np.nan, 0.7, 0.7])
    # the same class has the same colour in every panel
    assert [ln.get_color() for ln in axes[0].get_lines()] == [ln.get_color() for ln in axes[1].get_lines()]


def test_max_faces_keeps_the_longest_tracks():
    rows = _video_rows()
    rows += [
        dict(input='clip.mp4', frame=4, timestamp_s=0.4, face_id=7, face_found=1, Neutral=1, Happy=0, Sad=0)
    ]
    fig, ids = build_figure(rows, CLASSES, max_faces=2)
    assert ids == [0, 1] and '1 faces with fewer frames not shown' in fig._suptitle.get_text()


def test_png_written_and_decodable(tmp_path):
    path = plot_video_probabilities(_video_rows(), CLASSES, str(tmp_path / 'sub' / 'p.png'))
    img = cv2.imread(path)
    assert img.shape == (500, 800, 3)  # 8 x (1 + 2 x 2) inches at 100 dpi
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 10  # something is drawn


def test_writer_one_png_per_video_none_for_images(tmp_path):
    rows = (
        [
            dict(
                input='photo.jpg',
                frame=0,
                timestamp_s=0.0,
                face_id=0,
                face_found=1,
                Neutral=1,
                Happy=0,
                Sad=0,
            )
        ]
        + _video_rows('a/clip.mp4')
        + _video_rows('b/clip.mp4')
        + [
            dict(
                input='bad.mp4',
                frame=0,
                timestamp_s=0.0,
                face_id='',
                face_found=0,
                error='bad.mp4: unreadable',
            )
        ]
    )
    with VideoPlotWriter(str(tmp_path), CLASSES, frame_step=2) as writer:
        for r in rows:
            writer.write(r)
    assert writer.written == {
        'a/clip.mp4': str(tmp_path / 'clip_probabilities.png'),
        'b/clip.mp4': str(tmp_path / 'clip_1_probabilities.png'),
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'clip_1_probabilities.png',
        'clip_probabilities.png',
    ]


def test_writer_draws_what_plot_video_probabilities_draws(tmp_path):
    rows = _video_rows('clip.mp4')
    with VideoPlotWriter(str(tmp_path / 'w'), CLASSES) as writer:
        for r in rows:
            writer.write(r)
    direct = plot_video_probabilities(rows, CLASSES, str(tmp_path / 'direct.png'))
    np.testing.assert_array_equal(cv2.imread(writer.written['clip.mp4']), cv2.imread(direct))


def test_probability_axis_ticks_at_0_half_and_1():
    fig, _ = build_figure(_video_rows(), CLASSES)
    for ax in fig.get_axes():
        np.testing.assert_allclose(ax.get_yticks(), [0.0, 0.5, 1.0])
        assert ax.get_ylim() == (0.0, 1.0)


def test_writer_imports_matplotlib_only_to_draw_a_video_plot(tmp_path):
    """In a fresh interpreter: image rows (one input after another) never import matplotlib (0.5-1.1 s)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import sys
        from ferlab.inference.plots import VideoPlotWriter
        from tests.test_inference.test_plots import CLASSES, _video_rows
        w = VideoPlotWriter({str(tmp_path)!r}, CLASSES, frame_step=2)
        for name in ('a.jpg', 'b.jpg', 'c.png'):
            w.write(dict(input=name, frame=0, timestamp_s=0.0, face_id=0, face_found=1,
                         Neutral=1, Happy=0, Sad=0))
        images = 'matplotlib' in sys.modules
        for r in _video_rows():
            w.write(r)
        w.close()
        print(images, 'matplotlib' in sys.modules, sorted(w.written.values()))
        """
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split('\n')[0] == f"False True ['{tmp_path / 'clip_probabilities.png'}']"
    assert cv2.imread(str(tmp_path / 'clip_probabilities.png')).shape == (500, 800, 3)
