"""smooth_rows against a direct loop over frame indices (Eq. 1 of CFC-SP, halved)."""

from __future__ import annotations

import numpy as np
import pytest

from ferlab.inference.smoothing import smooth_rows

CLASSES = ['Neutral', 'Happy', 'Sad']


def _direct(frames: list[int], probs: np.ndarray, window: int, causal: bool) -> np.ndarray:
    """Eq. 1 by hand: f_i + mean of the rows whose frame lies in the window, divided by 2."""
    half = window // 2
    out = []
    for t, p in zip(frames, probs):
        lo, hi = (t - 2 * half, t) if causal else (t - half, t + half)
        inside = [q for s, q in zip(frames, probs) if lo <= s <= hi]
        out.append((p + np.mean(inside, axis=0)) / 2)
    return np.array(out)


def _rows(rng, name, face_id, frames):
    probs = rng.dirichlet(np.ones(len(CLASSES)), size=len(frames))
    rows = [
        dict(
            input=name,
            frame=f,
            face_id=face_id,
            face_found=1,
            x=1,
            y=2,
            w=3,
            h=4,
            AU12=0.25,
            **dict(zip(CLASSES, p)),
        )
        for f, p in zip(frames, probs)
    ]
    for r, p in zip(rows, probs):
        r['label'] = CLASSES[int(np.argmax(p))]
    return rows, probs


@pytest.mark.parametrize('causal', [False, True])
@pytest.mark.parametrize('window', [1, 2, 3, 4, 7, 16, 100])
def test_matches_direct_loop_per_face_with_gaps(window, causal):
    rng = np.random.default_rng(window + 100 * causal)
    # face 0 in every 2nd frame with a hole (face not detected at 10-16), face 1 appears later;
    # a second video reuses face id 0 and must not mix with the first
    frames_a0 = [f for f in range(0, 40, 2) if not 10 <= f <= 16]
    frames_a1 = list(range(20, 40, 2))
    frames_b0 = list(range(0, 9, 3))
    a0, pa0 = _rows(rng, 'a.mp4', 0, frames_a0)
    a1, pa1 = _rows(rng, 'a.mp4', 1, frames_a1)
    b0, pb0 = _rows(rng, 'b.mp4', 0, frames_b0)
    no_face = dict(input='a.mp4', frame=12, face_id='', face_found=0, label='', **{c: '' for c in CLASSES})
    rows = a0[:5] + [no_face] + a1 + a0[5:] + b0
    order = rng.permutation(len(rows))  # any row order: grouping and frame order are the function's job
    shuffled = [rows[i] for i in order]
    snapshot = [dict(r) for r in shuffled]

    out = smooth_rows(shuffled, CLASSES, window, causal=causal)

    assert shuffled == snapshot, 'the input rows were modified'
    assert len(out) == len(shuffled)
    expected = {}
    for name, fid, frames, probs in (
        ('a.mp4', 0, frames_a0, pa0),
        ('a.mp4', 1, frames_a1, pa1),
        ('b.mp4', 0, frames_b0, pb0),
    ):
        for f, p in zip(frames, _direct(frames, probs, window, causal)):
            expected[(name, fid, f)] = p
    for before, after in zip(shuffled, out):
        if after['face_found'] == 0:
            assert after == before
            continue
        want = expected[(after['input'], after['face_id'], after['frame'])]
        np.testing.assert_allclose([after[c] for c in CLASSES], want, atol=1e-12)
        assert after['label'] == CLASSES[int(np.argmax(want))]
        assert np.isclose(sum(after[c] for c in CLASSES), 1.0)
        assert {k: after[k] for k in ('x', 'y', 'w', 'h', 'AU12', 'frame')} == {
            k: before[k] for k in ('x', 'y', 'w', 'h', 'AU12', 'frame')
        }


def test_window_zero_is_identity_and_smoothing_changes_a_flicker():
    rng = np.random.default_rng(0)
    rows, _ = _rows(rng, 'v.mp4', 0, list(range(10)))
    assert smooth_rows(rows, CLASSES, 0) == rows
    # a one-frame flicker to Sad inside a Happy sequence is voted away by a 5-frame window
    flicker = [
        dict(input='v.mp4', frame=i, face_id=0, face_found=1, Neutral=0.1, Happy=0.8, Sad=0.1, label='Happy')
        for i in range(9)
    ]
    flicker[4].update(Neutral=0.1, Happy=0.3, Sad=0.6, label='Sad')
    out = smooth_rows(flicker, CLASSES, 5)
    # frame 4: (f + mean of frames 2..6) / 2 = ((0.3 + (4 * 0.8 + 0.3) / 5) / 2) for Happy
    assert out[4]['Happy'] == pytest.approx((0.3 + (4 * 0.8 + 0.3) / 5) / 2)
    assert out[4]['Sad'] == pytest.approx((0.6 + (4 * 0.1 + 0.6) / 5) / 2)
    assert [r['label'] for r in out] == ['Happy'] * 9


def test_bad_rows_are_one_clear_error():
    rows = [dict(input='v.mp4', frame=3, face_id=0, face_found=1, Neutral=1.0, Happy=0.0, Sad=0.0)] * 2
    with pytest.raises(ValueError, match=r'v\.mp4 face 0: .*frame index 3'):
        smooth_rows(rows, CLASSES, 4)
    with pytest.raises(ValueError, match=r"lack the class columns \['Fear'\]"):
        smooth_rows(rows[:1], CLASSES + ['Fear'], 4)
    with pytest.raises(ValueError, match='window must be an int'):
        smooth_rows(rows, CLASSES, -1)
