"""SmoothPredicting (CFC-SP Eq. 1) against a direct loop over frame indices."""

import numpy as np
import pytest
import torch

from ferlab.models.utils import smooth_predicting
from ferlab.registry import MODELS


def loop_oracle(feats, window, frame_idx, causal):
    """Eq. 1 by a double loop: for every frame, average the frames whose index lies in its window."""
    feats = np.asarray(feats, dtype=np.float64)
    if window == 0:
        return feats.copy()
    half = window // 2
    out = np.empty_like(feats)
    for i, t in enumerate(frame_idx):
        lo, hi = (t - 2 * half, t) if causal else (t - half, t + half)
        members = [j for j, s in enumerate(frame_idx) if lo <= s <= hi]
        out[i] = feats[i] + feats[members].mean(axis=0)
    return out


def random_video(rng, num, gaps, shuffle):
    steps = rng.integers(1, 6, size=num) if gaps else np.ones(num, dtype=np.int64)
    frame_idx = np.cumsum(steps) + int(rng.integers(0, 50))
    if shuffle:
        frame_idx = rng.permutation(frame_idx)
    return rng.normal(size=(num, 3)), frame_idx


@pytest.mark.parametrize('causal', [False, True])
@pytest.mark.parametrize('gaps', [False, True])
@pytest.mark.parametrize('window', [0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 40])
def test_matches_direct_loop(window, gaps, causal):
    rng = np.random.default_rng(window * 4 + 2 * gaps + causal)
    for num in (1, 2, 7, 23):
        feats, frame_idx = random_video(rng, num, gaps, shuffle=gaps)
        expected = loop_oracle(feats, window, frame_idx, causal)
        np.testing.assert_allclose(
            smooth_predicting(feats, window, frame_idx, causal=causal), expected, rtol=0, atol=1e-12
        )
        sp = MODELS.build(dict(type='SmoothPredicting', window=window, causal=causal))
        got = sp(torch.from_numpy(feats), torch.from_numpy(frame_idx))
        np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)


def test_hand_computed_edges_and_gap():
    # frames 1, 2, 10 with w = 4 (half = 2): frame 1 sees {1, 2}; frame 2 sees {1, 2}; frame 10 sees {10}.
    feats = np.array([[1.0], [3.0], [10.0]])
    got = smooth_predicting(feats, 4, frame_idx=[1, 2, 10])
    np.testing.assert_allclose(got, [[1 + 2.0], [3 + 2.0], [10 + 10.0]])
    # causal, w = 2 (span [t - 2, t]) on positions 0..3 of [0, 4, 8, 12]: means 0, 2, 4, 8.
    got = smooth_predicting(np.array([0.0, 4.0, 8.0, 12.0]), 2, causal=True)
    np.testing.assert_allclose(got, [0.0, 6.0, 12.0, 20.0])


def test_window_zero_is_identity_and_window_one_doubles():
    x = torch.randn(5, 4)
    assert torch.equal(MODELS.build(dict(type='SmoothPredicting', window=0))(x), x)
    torch.testing.assert_close(MODELS.build(dict(type='SmoothPredicting', window=1))(x), 2 * x)


def test_float32_dtype_kept_and_gradient_flows():
    x = torch.randn(9, 2, requires_grad=True)
    out = MODELS.build(dict(type='SmoothPredicting', window=4))(x)
    assert out.dtype == torch.float32 and out.shape == (9, 2)
    out.sum().backward()
    # d(sum)/dx_j = 1 + sum over i whose window contains j of 1 / |window_i|
    expected = np.ones(9)
    for i in range(9):
        members = [j for j in range(9) if abs(i - j) <= 2]
        for j in members:
            expected[j] += 1 / len(members)
    np.testing.assert_allclose(x.grad[:, 0].numpy(), expected, rtol=1e-6)


def test_cost_does_not_grow_with_window():
    # O(T): bounds come from searchsorted over cumulative sums, so w = T gives the loop's answer too.
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(200, 2))
    np.testing.assert_allclose(
        smooth_predicting(feats, 10**9), feats + feats.mean(axis=0, keepdims=True), atol=1e-12
    )


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(window=-1), 'window must be an int >= 0'),
        (dict(window=2.5), 'window must be an int >= 0'),
        (dict(window=2, frame_idx=[0, 1, 1]), 'frame index 1 occurs more than once'),
        (dict(window=2, frame_idx=[0, 1]), r'frame_idx must have shape \(3,\)'),
    ],
)
def test_bad_input_is_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        smooth_predicting(np.zeros((3, 2)), **kwargs)
    window = kwargs.pop('window')
    frame_idx = kwargs.pop('frame_idx', None)
    with pytest.raises(ValueError, match=match):
        sp = MODELS.build(dict(type='SmoothPredicting', window=window))
        sp(torch.zeros(3, 2), None if frame_idx is None else torch.tensor(frame_idx))
