# CFC-SP training schedule. The paper leaves the hyper-parameters to its (unreleased) config files;
# ferlab's choice for fine-tuning MS-Celeb-1M-initialised nets: AdamW 1e-4 (wd 0.05), 300 warm-up
# iterations, cosine decay over 6 epochs, validation every epoch (the configs keep the best macro-F1).
max_epochs = 6
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=300),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, T_max=max_epochs,
         convert_to_iter_based=True, eta_min=1e-6),
]  # fmt: skip
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
