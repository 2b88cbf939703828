# POSTER++ recipe (Talented-Q/POSTER_V2 main.py): Resize 224, h-flip, then torchvision
# RandomErasing after normalisation, which erases with 0 = the mean pixel (BGR here).
# RAF-DB (and FERPlus): p=0.5, scale (0.02, 0.1). AffectNet: p=1, scale (0.05, 0.05).
# A config takes them by base-variable reference (configs/poster/posterv2_ir50_rafdb.py).
poster_rafdb_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomErasing', prob=0.5, scale=(0.02, 0.1), value=(104, 116, 124)),
    dict(type='PackFERInputs'),
]
poster_affectnet_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomErasing', prob=1.0, scale=(0.05, 0.05), value=(104, 116, 124)),
    dict(type='PackFERInputs'),
]
poster_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackFERInputs'),
]
