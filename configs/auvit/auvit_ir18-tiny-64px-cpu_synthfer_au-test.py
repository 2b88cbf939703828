# AU-ViT CPU evidence: the TEST split of auvit_ir18-tiny-64px-cpu_synthfer*.py (same model, the same
# 2000 'default'-domain test faces) served with its rendered AUs as AU labels (>= 0.3 -> present,
# the rule of the joint configs' auxiliary source; the 5 RAF-AU AUs SynthFER does not draw are
# masked), so tools/test.py reports AUMetric's per-AU and mean F1 of the model's AU output beside
# FERMetric. The test set is wrapped in a one-source MultiSourceDataset, which maps the AUs.
#   python tools/test.py configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer_au-test.py CKPT
_base_ = ['./auvit_ir18-tiny-64px-cpu_synthfer.py']

synthfer_aus = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26)  # SynthFER au_label order
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='MultiSourceDataset',
        au_names='rafau',
        sources=[
            dict(
                dataset=dict(
                    type='SynthFER',
                    split='test',
                    label_set='rafdb',
                    num_samples=2000,
                    img_size=64,
                    domain='default',
                    seed=0,
                    pipeline={{_base_.test_pipeline}},
                ),
                labels=('expression', 'au'),
                au_names=synthfer_aus,
                au_threshold=0.3,
            )
        ],
    )
)
test_evaluator = [dict(type='FERMetric'), dict(type='AUMetric')]
