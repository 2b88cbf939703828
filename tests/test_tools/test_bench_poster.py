"""tools/analysis_tools/bench_poster.py on a stand-in for the public POSTER++ files.

The stand-in package holds ``PosterV2_7cls.py`` / ``mobilefacenet.py`` that re-export the
public-layout re-implementation of ``tests/test_tools/poster_public.py`` and, as the public
constructor does, ``torch.load`` a hard-coded weight path (the tool must answer it in memory).
"""

import pytest

from ferlab.utils.errors import InputFileNotFoundError
from tools.analysis_tools.bench_poster import main

POSTER = """
import torch
from tests.test_tools.poster_public import pyramid_trans_expr2 as _Public


class pyramid_trans_expr2(_Public):
    def __init__(self, img_size=224, num_classes=7):
        super().__init__(num_classes)
        ckpt = torch.load(r'C:\\\\missing\\\\mobilefacenet_model_best.pth.tar', map_location='cpu')
        self.face_landback.load_state_dict(ckpt['state_dict'])
        assert torch.load(r'C:\\\\missing\\\\ir50.pth') == {}
"""
MOBILEFACENET = 'from tests.test_tools.poster_public import MobileFaceNet  # noqa: F401\n'


@pytest.mark.slow
def test_bench_reports_both_speeds_and_the_logit_parity(tmp_path, capsys):
    models = tmp_path / 'POSTER_V2' / 'models'
    models.mkdir(parents=True)
    (models / 'PosterV2_7cls.py').write_text(POSTER)
    (models / 'mobilefacenet.py').write_text(MOBILEFACENET)
    res = main([str(tmp_path / 'POSTER_V2'), '--batch-size', '2', '--iters', '1', '--warmup', '0'])
    assert res['eval_logit_max_abs_diff'] < 1e-4  # same weights, converted
    assert res['public_images_per_s'] > 0 and res['ferlab_images_per_s'] > 0
    assert res['ratio'] == pytest.approx(res['ferlab_images_per_s'] / res['public_images_per_s'])
    assert 'ratio ferlab/public' in capsys.readouterr().out


def test_missing_public_file_is_one_clear_error(tmp_path):
    with pytest.raises(InputFileNotFoundError, match='PosterV2_7cls.py not found'):
        main([str(tmp_path)])
