# MVT stage 1: mask generation network (Li et al., ICASSP 2022, Sec. 3.2, Eq. 1-4).
# Generator: DeiT-S patch embedding + position embedding + its first 6 blocks -> Linear(384, 1) -> sigmoid.
# Discriminator: a DeiT-S expression classifier. Both start from the local ImageNet DeiT-S file below
# (timm key layout; export it once, see docs/mvt.md#pretrained-weights; set to None to train from scratch).
deit_s_weights = 'checkpoints/deit_small_patch16_224.pth'
mask_ratio = 0.15  # m of Eq. 2: 0.15 RAF-DB / AffectNet, 0.20 FERPlus

model = dict(
    type='MGN',
    mask_ratio=mask_ratio,
    fill='black',
    # NCHW batches also under --amp: for DeiT-S NHWC gains nothing (bf16 + NHWC 0.77x / 0.94x of bf16
    # alone, 2 threads / 1 thread, docs/benchmark.md); the ViT's only convolution is the patch embedding.
    data_preprocessor=dict(type='FERDataPreprocessor', channels_last=False),
    generator=dict(
        type='MaskGenerator',
        arch='deit_small_patch16_224',
        num_blocks=6,
        img_size=224,
        pretrained=deit_s_weights,
    ),
    discriminator=dict(
        type='FERClassifier',
        backbone=dict(
            type='ViTBackbone', arch='deit_small_patch16_224', img_size=224, pretrained=deit_s_weights
        ),
        head=dict(type='LinearClsHead', num_classes=7, in_channels=384),
    ),
    random_mask=dict(type='RandomPatchMask'),
    var_loss=dict(type='ProbVarianceLoss', ddof=1),  # Eq. 3 uses K - 1
)

# Two optimisers, stepped alternately inside MGN.train_step (D step, then G step).
# The paper gives no stage-1 hyper-parameters; ferlab uses the stage-2 optimiser (AdamW, lr 9e-5).
optim_wrapper = dict(
    constructor='MGNOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='AdamW', lr=9e-5, weight_decay=0.05)),
    discriminator=dict(optimizer=dict(type='AdamW', lr=9e-5, weight_decay=0.05)),
)
param_scheduler = [dict(type='ExponentialLR', gamma=0.9, by_epoch=True)]
# Distributed: MGN.train_step steps G and D with their own optimisers, so each gets its own DDP
# (mmengine's wrapper for models that own their train step); one DDP over the whole model would
# call optim_context/update_params on the OptimWrapperDict, which mmengine does not implement.
model_wrapper_cfg = dict(
    type='MMSeparateDistributedDataParallel', broadcast_buffers=False, find_unused_parameters=False
)
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict()
test_cfg = dict()
