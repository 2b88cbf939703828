# Table I baseline (Mao et al., Sec. III-A "Joint training exploration"): a ViT-B/16 (224 px; the
# paper pretrains it on VGGFace2, a local timm-layout file read in init_weights) without AU
# output, trained on RAF-DB jointly with FERPlus through their expression labels: FERPlus
# (majority labels) is mapped to RAF-DB's class order by name, its Contempt images dropped and
# counted. Batches 64 RAF-DB + 16 FERPlus (the paper's 4:1); Adam lr 1e-4, wd 5e-4, warm-up 10 +
# cosine 10 epochs; validation/test on RAF-DB. Table I reports this below RAF-DB alone.
# Paths: --cfg-options train_dataloader.dataset.sources.1.dataset.data_root=/path/to/FERPlus
_base_ = [
    '../_base_/models/auvit_vit-b.py',
    '../_base_/datasets/joint_rafdb-rafau.py',
    '../_base_/default_runtime.py',
]
img_size = 224
ferplus_root = 'data/FERPlus'
_pipe = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomGrayscale', prob=0.1),
    dict(type='GaussianBlur', kernel_size=3, sigma=(0.1, 2.0), prob=0.2),
    dict(type='PackFERInputs'),
]
_test = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackFERInputs'),
]
model = dict(
    with_au=False,
    backbone=dict(
        _delete_=True, type='ViTBackbone', arch='vit_base_patch16_224', img_size=img_size, out_type='cls',
        pretrained='checkpoints/vit_base_patch16_224_vggface2.pth',
    ),
    head=dict(num_classes=7, in_channels=768),
)  # fmt: skip
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='MultiSourceDataset',
        sources=[
            dict(dataset=dict(type='RAFDB', data_root={{_base_.rafdb_root}}, split='train', pipeline=_pipe),
                 labels=('expression',)),
            dict(dataset=dict(type='FERPlus', data_root=ferplus_root, split='train', layout='csv',
                              label_mode='majority', pipeline=_pipe),
                 labels=('expression',)),
        ],
    )
)  # fmt: skip
val_dataloader = dict(dataset=dict(pipeline=_test))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=10, end=20, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
