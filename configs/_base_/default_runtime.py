default_scope = 'ferlab'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best='auto'),
    # sampler.set_epoch + augmentations seeded by (seed, epoch, sample): exact resume, any num_workers
    sampler_seed=dict(type='EpochSeedHook'),
)
# Saves relabeled training labels into checkpoints (a no-op for datasets that never relabel).
custom_hooks = [dict(type='LabelStateHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
# Set deterministic=True for bit-reproducible runs (slower).
randomness = dict(seed=0, deterministic=False)
