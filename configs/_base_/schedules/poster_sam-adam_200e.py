# POSTER++ schedule (Talented-Q/POSTER_V2 main.py): SAM (rho 0.05, not adaptive) around Adam
# (no weight decay: --wd is parsed and never used), ExponentialLR(0.98) per epoch, 200 epochs,
# validation every epoch. lr: 3.5e-5 (RAF-DB, main.py) / 1e-6 (AffectNet, main_8.py).
optim_wrapper = dict(type='SAMOptimWrapper', rho=0.05, optimizer=dict(type='Adam', lr=3.5e-5, weight_decay=0))
param_scheduler = dict(type='ExponentialLR', by_epoch=True, gamma=0.98)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
