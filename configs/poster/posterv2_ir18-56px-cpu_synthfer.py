# POSTER++, CPU EVIDENCE VARIANT for SynthFER (a scale-down, not the paper's setting): the POSTER++
# network (IR image stream of 3 stages, frozen MobileFaceNet landmark queries, window cross-attention,
# pyramid tokens, 2-block fusion ViT, SE gate) with a smaller image stream and fusion width -- IR-18
# units (2, 2, 2) instead of IR-50's (3, 4, 14), tokens of 256 instead of 768 -- run at 56 px
# instead of 112, so the windows are 14/7/4 and the fusion ViT sees 16+16+16 tokens. Trained from
# scratch (no MS-Celeb IR-50) with plain AdamW (SAM doubles the cost per step) for 3 epochs on
# 2,000 `lab`-domain SynthFER images (189 steps of 32); 2.2 s per step fp32, 1.2 s with bf16
# autocast (--amp), 1 idle thread of the 2-core machine.
# Landmark stream: a MobileFaceNet trained on SynthFER landmarks at 56 px (the size it runs at
# here), read in init_weights; point it at your file with
#   --cfg-options model.backbone.landmark.pretrained=work_dirs/<landmark run>/<checkpoint>.pth
# Siblings: posterv2_ir18-56px-cpu-randlm_synthfer.py (random frozen landmark stream),
# posterv2_ir18-56px-cpu-constq_synthfer.py (image stream only, learned constant queries).
#   python tools/train.py configs/poster/posterv2_ir18-56px-cpu_synthfer.py --amp
_base_ = [
    '../_base_/models/posterv2_ir50.py',
    '../_base_/datasets/synthfer.py',
    '../_base_/default_runtime.py',
]

img_size = 56
embed_dim = 256
max_epochs = 3
model = dict(
    backbone=dict(
        image=dict(depth=18),
        input_size=img_size,
        embed_dim=embed_dim,
        landmark=dict(pretrained='checkpoints/mobilefacenet_landmarks_synthfer-56px.pth'),
    ),
    neck=dict(in_channels=embed_dim),
    head=dict(num_classes=7, in_channels=embed_dim),
)

# The RAF-DB recipe of configs/_base_/datasets/poster-aug_224.py at 56 px (no resize needed).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomErasing', prob=0.5, scale=(0.02, 0.1), value=(104, 116, 124)),
    dict(type='PackFERInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackFERInputs')]
# Frontal faces, plain background, strong expressions; the same rendered data for every run.
_data = dict(img_size=img_size, domain='lab', seed=0)
train_dataloader = dict(batch_size=32, dataset=dict(num_samples=2000, pipeline=train_pipeline, **_data))
val_dataloader = dict(batch_size=100, dataset=dict(num_samples=200, pipeline=test_pipeline, **_data))
# 2000 identity-disjoint test images: one image = 0.05 accuracy points.
test_dataloader = dict(batch_size=100, dataset=dict(num_samples=2000, pipeline=test_pipeline, **_data))

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True, eta_min=1e-5),
]  # fmt: skip
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
