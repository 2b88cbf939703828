"""cfcsp_sweeps.py tables: figures placed and aggregated as documented (hand-computed means / sds)."""

from tools.analysis_tools.cfcsp_sweeps import PAPER_WINDOWS, SCALE, tables


def fake_run(base, sp, frames=100):
    out = {'macro_f1': base, 'sp/macro_f1': sp, 'num_frames': frames, 'num_videos': 4}
    out.update({f'sp_w{w // SCALE}/macro_f1': base + w / 100 for w in PAPER_WINDOWS if w != 256})
    return out


def test_tables_from_two_seeds():
    results = {
        '0': dict(baseline=fake_run(30, 31), cascade_r18=fake_run(32, 34), cascade_mnv3s=fake_run(20, 21),
                  cascade_ens=fake_run(33, 36)),
        '1': dict(baseline=fake_run(28, 30), cascade_r18=fake_run(30, 30), cascade_mnv3s=fake_run(22, 24),
                  cascade_ens=fake_run(31, 33)),
    }  # fmt: skip
    text = tables(results)
    assert '100 labelled validation frames in 4 videos' in text
    # + SP: (31, 30) -> 30.50 ± 0.71; minus baseline (+1, +2) -> 1.50 ± 0.71
    assert '| + SP | 30.50 ± 0.71 | 31.00, 30.00 | 1.50 ± 0.71 (+1.00, +2.00) |' in text
    assert '| both (CFC-SP) | 32.00 ± 2.83 | 34.00, 30.00 | 3.00 ± 1.41 (+4.00, +2.00) |' in text
    # Table 4: paper 256 -> w 16 is the config's window (sp/), paper 512 -> sp_w32 = base + 5.12
    assert '| 256 | 16 | 32.00 ± 2.83 |' in text
    assert '| 512 | 32 | 36.12 ± 1.41 |' in text
    # ensemble minus the better single coarse net with SP: 36 - 34, 33 - 30
    assert '2.50 ± 0.71 (+2.00, +3.00)' in text
