# MVT recipe (Li et al., ICASSP 2022, Sec. 4.2): 224 input, horizontal flip, colour jitter, random
# erasing, as pipelines for any dataset base. Batch 32 is set on the loaders by each config.
# A config takes them by base-variable reference and sets them on its loaders
# (configs/mvt/mvt_deit-s_rafdb.py shows how).
mvt_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='RandomErasing', prob=0.25, scale=(0.02, 0.25)),
    dict(type='PackFERInputs'),
]
mvt_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackFERInputs'),
]
