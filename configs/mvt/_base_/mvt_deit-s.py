# MVT stage 2 (Li et al., ICASSP 2022, Sec. 3.1, 4.2): frozen stage-1 MGN -> masked image -> DeiT-S -> CLS -> head.
deit_s_weights = 'checkpoints/deit_small_patch16_224.pth'

model = dict(
    type='MVT',
    # NCHW batches also under --amp: for DeiT-S NHWC gains nothing (bf16 + NHWC 0.77x / 0.94x of bf16
    # alone, 2 threads / 1 thread, docs/benchmark.md); the ViT's only convolution is the patch embedding.
    data_preprocessor=dict(type='FERDataPreprocessor', channels_last=False),
    # Must match the stage-1 generator; its weights come from mgn_checkpoint (set per dataset).
    mgn=dict(type='MaskGenerator', arch='deit_small_patch16_224', num_blocks=6, img_size=224),
    mgn_checkpoint=None,
    fill='black',
    # stage 2 keeps M_p, the complement of the stage-1 mask 1 - M_p (paper Sec. 3.2); 'same' keeps 1 - M_p
    stage2_mask='complement',
    backbone=dict(
        type='ViTBackbone',
        arch='deit_small_patch16_224',
        img_size=224,
        drop_path_rate=0.1,
        pretrained=deit_s_weights,
    ),
    head=dict(type='LinearClsHead', num_classes=7, in_channels=384),
)

# Paper: AdamW, batch 32, lr 9e-5 (RAF-DB, FERPlus) / 1e-5 (AffectNet), exponential decay.
# The decay rate and epoch count are not published; ferlab uses gamma=0.9 per epoch and 40 epochs.
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=9e-5, weight_decay=0.05))
param_scheduler = [dict(type='ExponentialLR', gamma=0.9, by_epoch=True)]
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
