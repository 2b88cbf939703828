# DAN on AffectNet-8: as dan_r18_affectnet7.py with the contempt class kept (8 classes).
_base_ = ['./dan_r18_affectnet7.py']

num_classes = 8
model = dict(head=dict(num_classes=num_classes))
train_dataloader = dict(dataset=dict(num_classes=num_classes))
val_dataloader = dict(dataset=dict(num_classes=num_classes))
test_dataloader = val_dataloader
