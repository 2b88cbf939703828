# What the two stages of the 48 px CPU evidence pair (a scale-down, not the paper's model) share:
#   stage 1: configs/mvt/mgn_vit-tiny-48px-cpu_synthfer.py, stage 2: configs/mvt/mvt_r18-48px-cpu_synthfer.py
# Data: SynthFER 'lab' faces with background clutter (p=0.9) and occluders (p=0.4), 20 % symmetric
# label noise on the training split, 48 px, the MVT augmentation (Sec. 4.2) at 48 px.
# Models: the generator that stage 1 trains and stage 2 loads, the expression classifier that is
# stage 1's discriminator and stage 2's classifier, and the stage-1 epoch count that names its checkpoint.
_base_ = ['../../_base_/datasets/synthfer.py']

img_size = 48
sweep_domain = dict(
    _delete_=True, preset='lab', nuisance=dict(clutter_prob=0.9, occlusion=dict(prob=0.4), gray_prob=0.0)
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='RandomErasing', prob=0.25, scale=(0.02, 0.25)),
    dict(type='PackFERInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackFERInputs'),
]
_data = dict(img_size=img_size, domain=sweep_domain)
# Relabeling writes labels into the main process's dataset: dataloader workers must not persist.
train_dataloader = dict(
    batch_size=32,
    persistent_workers=False,
    dataset=dict(
        num_samples=1200, label_noise=dict(type='symmetric', rate=0.2), pipeline=train_pipeline, **_data
    ),
)
val_dataloader = dict(batch_size=64, dataset=dict(num_samples=500, pipeline=test_pipeline, **_data))
test_dataloader = dict(batch_size=64, dataset=dict(num_samples=500, pipeline=test_pipeline, **_data))

# MGN generator: a 1-block ViT-tiny, patch 8 -> 6x6 patches, from scratch.
mgn_generator = dict(img_size=img_size, patch_size=8, embed_dim=64, num_heads=2, num_blocks=1)
# Expression classifier (D in stage 1, as in the paper where D is the expression classifier; the
# classifier in stage 2): ResNet-18 cut after stage 3 (256-d), from scratch.
classifier_backbone = dict(type='ResNet', depth=18, num_stages=3, out_indices=(2,), pretrained=None)
classifier_neck = dict(type='GlobalAveragePooling')
classifier_channels = 256
stage1_epochs = 2  # stage 2 loads work_dirs/mgn_vit-tiny-48px-cpu_synthfer/epoch_<stage1_epochs>.pth
