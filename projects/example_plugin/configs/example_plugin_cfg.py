# A config that trains a model made of plugin modules only.
#
# Run from the repository root:
#   PYTHONPATH=projects/example_plugin python tools/train.py \
#       projects/example_plugin/configs/example_plugin_cfg.py --work-dir work_dirs/example_plugin
#
# custom_imports imports the plugin package while the config is loaded, so its
# @register_module() decorators run before the Runner builds anything. Without
# PYTHONPATH the import fails with mmengine's "Failed to import custom modules
# ... You should set `PYTHONPATH`" ImportError (allow_failed_imports=False).
_base_ = ['../../../configs/_base_/default_runtime.py']

custom_imports = dict(imports=['ferlab_example_plugin'], allow_failed_imports=False)

num_classes = 7
img_size = 32

model = dict(
    type='FERClassifier',
    data_preprocessor=dict(type='FERDataPreprocessor'),
    backbone=dict(type='ExampleConvNet', widths=(16, 32)),  # plugin backbone
    neck=dict(type='GlobalAveragePooling'),  # ferlab's own neck
    head=dict(
        type='ExampleMLPHead',  # plugin head
        num_classes=num_classes,
        in_channels=32,
        hidden_channels=64,
        loss=dict(type='ExampleFocalLoss', gamma=2.0),  # plugin loss
    ),
)

pipeline = [
    dict(type='LoadImageFromFile'),  # keeps the in-memory 'img' of the plugin dataset
    dict(type='PackFERInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='ExampleRandomFaces', num_samples=256, img_size=img_size, seed=0, pipeline=pipeline),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ExampleRandomFaces',
        num_samples=64,
        img_size=img_size,
        seed=1,
        pipeline=pipeline,
        test_mode=True,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='FERMetric')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = []
train_cfg = dict(type='IterBasedTrainLoop', max_iters=200, val_interval=100)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=1, save_best='auto'),
)
log_processor = dict(by_epoch=False)
