# AU-ViT CPU evidence: a half-face-occluded TEST split for the models of the
# auvit_ir18-tiny-64px-cpu_synthfer*.py configs (same model; test only). 2000 identity-disjoint
# SynthFER 'default'-domain test faces, each with a hand over the left or the right eye and cheek
# (SynthFER's occluder 'hand', parts 'left'/'right', probability 1): the setting in which the
# symmetric maxout of the AU branch (Eq. 2, max over the left/right regions) should help.
#   python tools/test.py configs/auvit/auvit_ir18-tiny-64px-cpu_synthfer_half-occluded-test.py CKPT
_base_ = ['./auvit_ir18-tiny-64px-cpu_synthfer.py']

half_face_occluded = dict(
    _delete_=True,
    preset='default',
    nuisance=dict(occlusion=dict(prob=1.0, types=('hand',), parts=('left', 'right'))),
)
test_dataloader = dict(dataset=dict(domain=half_face_occluded))
