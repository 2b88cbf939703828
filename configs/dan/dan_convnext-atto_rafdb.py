# DAN's MAN + AFN + affinity loss on a timm ConvNeXt-Atto trunk, by config alone.
# Same schedule and augmentation as dan_r18_rafdb.py; only the trunk and its width change.
_base_ = ['./dan_r18_rafdb.py']

feat_channels = 320  # ConvNeXt-Atto's last stage
model = dict(
    backbone=dict(
        _delete_=True,
        type='TimmBackbone',
        model_name='convnext_atto',
        features_only=True,
        out_indices=(3,),
        # Local timm state dict, e.g. exported once with timm.create_model(..., pretrained=True).
        pretrained=None,
    ),
    neck=dict(in_channels=feat_channels),
    head=dict(in_channels=feat_channels),
)
# AdamW suits ConvNeXt better than SGD 0.1; schedule length is unchanged.
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05))
