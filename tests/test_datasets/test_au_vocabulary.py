"""AU vocabulary: names, lists and the masked maps between datasets' and models' AU orders."""

import numpy as np
import pytest
import torch

from ferlab.datasets import au_vocabulary as V

RAF21 = [1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27]


def test_names_and_parsing():
    assert V.au_name(1) == 'AU01' and V.au_name('AU1') == 'AU01' and V.au_name(' AU12_r') == 'AU12'
    assert V.au_name('au45_c') == 'AU45' and V.au_id('AU09') == 9
    for bad in ('AUx', 'AU0', 0, -3, 'AU12_q', 1.5, True):
        with pytest.raises(ValueError):
            V.au_id(bad)
    with pytest.raises(ValueError, match='repeats'):
        V.au_names(['AU1', 1])
    with pytest.raises(ValueError, match='unknown AU list'):
        V.au_names('disfa')


def test_lists_as_published():
    assert list(V.RAFAU_AUS) == RAF21
    assert V.au_names('rafau')[:3] == ('AU01', 'AU02', 'AU04') and len(V.au_names('rafau')) == 21
    # AU-ViT Sec. IV-A: the first 16 of EmotioNet's 1,2,4,5,6,9,10,12,15,17,18,20,24,25,26,28,43,51-56
    assert list(V.EMOTIONET_AUS) == [1, 2, 4, 5, 6, 9, 10, 12, 15, 17, 18, 20, 24, 25, 26, 28]
    assert (
        ','.join(f'AU{a}' for a in V.AFFWILD2_AUS) == 'AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26'
    )
    assert len(V.OPENFACE_R_AUS) == 17 and len(V.OPENFACE_C_AUS) == 18
    assert set(V.OPENFACE_C_AUS) - set(V.OPENFACE_R_AUS) == {28}
    assert V.au_names('bias_shared') == tuple(
        f'AU{a}' for a in ('01', '02', '04', '05', '06', '09', '10', '12', '15', '17', '20', '25', '26')
    )


# For each dataset, the AUs of AU-ViT's 21 it does NOT annotate (read off the lists by hand).
MISSING_FROM = {
    'emotionet': {7, 14, 16, 22, 23, 27},
    'affwild2': {5, 9, 14, 16, 17, 18, 20, 22, 27},
    'openface_r': {16, 18, 22, 24, 27},
    'openface_c': {16, 18, 22, 24, 27},
    'rafau': set(),
}


@pytest.mark.parametrize('src', sorted(MISSING_FROM))
def test_map_each_dataset_to_auvit_21(src):
    src_ids = V.AU_SETS[src]
    values = np.array([100 + a for a in src_ids], np.float32)  # value encodes the AU number
    got, mask = V.map_aus(values, None, src, 'rafau')
    assert got.shape == mask.shape == (21,) and got.dtype == mask.dtype == np.float32
    for k, au in enumerate(RAF21):
        if au in MISSING_FROM[src]:
            assert mask[k] == 0 and got[k] == 0, (src, au)
        else:
            assert mask[k] == 1 and got[k] == 100 + au, (src, au)


def test_map_keeps_source_mask_and_batches():
    values = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
    mask = np.array([[1, 0, 1], [1, 1, 0]], np.float32)
    got, m = V.map_aus(values, mask, ['AU1', 'AU2', 'AU4'], ['AU4', 'AU6', 'AU1'])
    assert got.tolist() == [[1, 0, 1], [0, 0, 0]]
    assert m.tolist() == [[1, 0, 1], [0, 0, 1]]
    t, tm = V.map_aus(torch.tensor(values), torch.tensor(mask), [1, 2, 4], [4, 6, 1])
    assert torch.equal(t, torch.tensor(got)) and torch.equal(tm, torch.tensor(m))
    with pytest.raises(ValueError, match='must both end in 3'):
        V.map_aus(np.zeros(4), None, [1, 2, 4], [1])


def test_map_round_trip_rafau_emotionet():
    rng = np.random.default_rng(0)
    values = (rng.random(16) > 0.5).astype(np.float32)
    up, up_mask = V.map_aus(values, None, 'emotionet', 'rafau')
    back, back_mask = V.map_aus(up, up_mask, 'rafau', 'emotionet')
    # AU18 and AU24 etc. survive; the EmotioNet-only AU28 is not among AU-ViT's 21 -> masked
    keep = np.array([a != 28 for a in V.EMOTIONET_AUS], np.float32)
    assert np.array_equal(back_mask, keep) and np.array_equal(back, values * keep)
