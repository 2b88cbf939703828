"""Per-face class-probability plots for videos (one PNG per video).

:func:`plot_video_probabilities` draws, for each tracked face of a video, one
panel with a line per class: the probability over time (``timestamp_s``).
Frames where the face was not found leave a gap in its lines instead of a
straight segment across them. :class:`VideoPlotWriter` collects the rows of a
stream and writes the plot of each video when its rows end.

Drawing uses matplotlib's object API on an Agg canvas (no pyplot state, no
display needed). Importing matplotlib takes 0.5-1.1 s on the project's 2 cores:
:class:`VideoPlotWriter` imports it only when it draws a video's plot (a run on
images only never imports it). Importing it in a background thread while the
video is processed was measured and not kept: on the loaded 2 cores a
``tools/infer.py`` run on a 100-frame video took as long or longer (6.7-8.1 s
against 6.3-7.5 s, 3 runs each), the import competing with the run for the
interpreter and the cores.
"""

from __future__ import annotations

import os
import os.path as osp
from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np

__all__ = ['VideoPlotWriter', 'face_series', 'plot_video_probabilities']


def face_series(rows: Iterable[dict], classes: Sequence[str]) -> dict[int, dict[str, np.ndarray]]:
    """The probability series of each face of one video.

    Args:
        rows: Result rows of one video (``face_found=1`` rows are used).
        classes: Class probability columns.

    Returns:
        ``{face_id: dict(frame=(T,), time=(T,), probs=(T, C))}`` ordered by
        face id, each series ordered by frame.
    """
    acc: dict[int, list] = defaultdict(list)
    for r in rows:
        if int(r.get('face_found') or 0) != 1:
            continue
        acc[int(r['face_id'])].append(
            (int(r['frame']), float(r['timestamp_s']), [float(r[c]) for c in classes])
        )
    out = {}
    for fid in sorted(acc):
        items = sorted(acc[fid], key=lambda t: t[0])
        out[fid] = dict(
            frame=np.array([t[0] for t in items], np.int64),
            time=np.array([t[1] for t in items], np.float64),
            probs=np.array([t[2] for t in items], np.float64).reshape(len(items), len(classes)),
        )
    return out


def _with_gaps(frame: np.ndarray, time: np.ndarray, probs: np.ndarray, step: int):
    """Insert a NaN row wherever consecutive samples are more than ``step`` frames apart."""
    if len(frame) < 2:
        return time, probs
    breaks = np.nonzero(np.diff(frame) > step)[0] + 1
    if not len(breaks):
        return time, probs
    time = np.insert(time, breaks, np.nan)
    probs = np.insert(probs, breaks, np.nan, axis=0)
    return time, probs


def build_figure(
    rows: Iterable[dict],
    classes: Sequence[str],
    title: str | None = None,
    max_faces: int = 8,
    frame_step: int | None = None,
):
    """The matplotlib :class:`~matplotlib.figure.Figure` of :func:`plot_video_probabilities`.

    Args:
        rows: Result rows of one video.
        classes: Class probability columns (one line each, same colour in every panel).
        title: Figure title (default: the video's ``input``).
        max_faces: Panels for at most this many faces: those with the most
            frames (the title says how many were left out).
        frame_step: Frames between two processed frames (``every_n_frames``);
            a face missing for longer leaves a gap. ``None``: the smallest
            frame step seen in the rows.

    Returns:
        ``(figure, face_ids)``: one axes per plotted face, in ``face_ids`` order.
    """
    rows = list(rows)
    if frame_step is None:
        frames = np.unique([int(r['frame']) for r in rows]) if rows else np.zeros(0)
        frame_step = int(np.diff(frames).min()) if len(frames) > 1 else 1
    name = title if title is not None else (str(rows[0]['input']) if rows else '')
    return _series_figure(face_series(rows, classes), classes, name, max_faces, frame_step)


def _series_figure(series: dict, classes: Sequence[str], name: str, max_faces: int, frame_step: int):
    """:func:`build_figure` from :func:`face_series` output."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    ids = sorted(series, key=lambda f: (-len(series[f]['frame']), f))[:max_faces]
    ids.sort()
    left_out = len(series) - len(ids)
    panels = max(1, len(ids))
    height = 1.0 + 2.0 * panels
    fig = Figure(figsize=(8.0, height), dpi=100)
    # fixed margins (inches: 0.55 above for the title, 0.5 below for the time axis, the right 21 %
    # for the legend) instead of matplotlib's constrained layout, which took about 0.7 s of the
    # 1.2 s a plot of 100 frames took to save on the project's 2 cores
    fig.subplots_adjust(left=0.1, right=0.79, top=1 - 0.55 / height, bottom=0.5 / height, hspace=0.12)
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    colors = [f'C{k % 10}' for k in range(len(classes))]
    if not ids:
        axes[0].text(0.5, 0.5, 'no face found in this video', ha='center', va='center')
        axes[0].set_axis_off()
    for ax, fid in zip(axes, ids):
        s = series[fid]
        t, p = _with_gaps(s['frame'], s['time'], s['probs'], frame_step)
        for k, cls in enumerate(classes):
            ax.plot(t, p[:, k], color=colors[k], linewidth=1.2, label=cls)
        ax.set_ylim(0, 1)
        # fixed ticks: matplotlib builds a Tick (2 lines, 2 texts) per tick and panel on the first draw;
        # 3 y ticks and at most 6 x ticks (instead of 6 and up to 9) took a 100-frame plot with 1 panel
        # from 154 to 131 ms, with 4 panels from 296 to 283 ms (medians of 15, the 2 loaded cores)
        ax.set_yticks((0.0, 0.5, 1.0))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_ylabel(f'face {fid}\nprobability')
        ax.grid(True, alpha=0.3)
    if ids:
        axes[-1].set_xlabel('time (s)')
        axes[0].legend(loc='upper left', bbox_to_anchor=(1.01, 1.0), fontsize='small', frameon=False)
    suptitle = osp.basename(name) if name else ''
    if left_out:
        suptitle += f' ({left_out} faces with fewer frames not shown)'
    fig.suptitle(suptitle)
    return fig, ids


def plot_video_probabilities(
    rows: Iterable[dict],
    classes: Sequence[str],
    out_path: str,
    title: str | None = None,
    max_faces: int = 8,
    frame_step: int | None = None,
) -> str:
    """Write a PNG of each face's class probabilities over one video's time.

    Args:
        rows: Result rows of one video (see :mod:`ferlab.inference.writers`).
        classes: Class probability columns.
        out_path: The PNG to write (folders are created).
        title, max_faces, frame_step: See :func:`build_figure`.

    Returns:
        ``out_path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig, _ = build_figure(rows, classes, title, max_faces, frame_step)
    FigureCanvasAgg(fig)
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, format='png')
    return out_path


class VideoPlotWriter:
    """Collect streamed rows and write ``<out_dir>/<video stem>_probabilities.png`` per video.

    Rows of image inputs are ignored; a video's plot is written when a row of
    another input arrives or at :meth:`close`. Only the current video's series
    are kept, as flat numeric arrays (``C + 3`` numbers a face row: about
    80 bytes for 7 classes, 9 MB for an hour of one face at 30 fps), never
    the row dicts.

    Args:
        out_dir: Folder for the PNGs.
        classes: Class probability columns.
        frame_step: See :func:`build_figure` (``every_n_frames`` of the run).
        max_faces: See :func:`build_figure`.

    Attributes:
        written: ``{input: png path}`` of the plots written so far.
    """

    def __init__(
        self, out_dir: str, classes: Sequence[str], frame_step: int | None = None, max_faces: int = 8
    ):
        self.out_dir = out_dir
        self.classes = list(classes)
        self.frame_step = frame_step
        self.max_faces = max_faces
        self.written: dict[str, str] = {}
        self._input: str | None = None
        self._reset()

    def _reset(self) -> None:
        from array import array

        self._frame, self._face, self._time, self._probs = array('q'), array('q'), array('d'), array('d')

    @staticmethod
    def _is_video(name: str) -> bool:
        from ferlab.inference.sources import is_camera, is_video_file

        return is_video_file(name) or is_camera(name)

    def _path_for(self, name: str) -> str:
        stem = osp.splitext(osp.basename(name))[0].replace(':', '') or 'video'
        taken = set(self.written.values())
        path, k = osp.join(self.out_dir, f'{stem}_probabilities.png'), 0
        while path in taken:
            k += 1
            path = osp.join(self.out_dir, f'{stem}_{k}_probabilities.png')
        return path

    def _series(self) -> dict:
        frame, face, stamp = (
            np.frombuffer(a, dtype=a.typecode) for a in (self._frame, self._face, self._time)
        )
        probs = np.frombuffer(self._probs, dtype=np.float64).reshape(len(frame), len(self.classes))
        out = {}
        for fid in np.unique(face).tolist():
            sel = np.nonzero(face == fid)[0]
            sel = sel[np.argsort(frame[sel], kind='stable')]
            out[int(fid)] = dict(frame=frame[sel].copy(), time=stamp[sel].copy(), probs=probs[sel].copy())
        return out

    def _flush(self) -> None:
        if self._input is not None and len(self._frame):
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            path = self._path_for(self._input)
            frame_step = self.frame_step
            if frame_step is None:
                frames = np.unique(np.frombuffer(self._frame, dtype=np.int64))
                frame_step = int(np.diff(frames).min()) if len(frames) > 1 else 1
            fig, _ = _series_figure(self._series(), self.classes, self._input, self.max_faces, frame_step)
            FigureCanvasAgg(fig)
            os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
            fig.savefig(path, format='png')
            self.written[self._input] = path
        self._input = None
        self._reset()

    def write(self, row: dict) -> None:
        """Add one result row (rows of one video arrive together, as the inferencer yields them)."""
        name = str(row['input'])
        if name != self._input:
            self._flush()
            if not self._is_video(name):
                return
            self._input = name
        if row.get('error') or int(row.get('face_found') or 0) != 1:
            return
        self._frame.append(int(row['frame']))
        self._face.append(int(row['face_id']))
        self._time.append(float(row['timestamp_s']))
        self._probs.extend(float(row[c]) for c in self.classes)

    def close(self) -> None:
        """Write the plot of the last video."""
        self._flush()

    def __enter__(self) -> 'VideoPlotWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
