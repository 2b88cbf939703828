# CFC-SP training augmentation (Xue et al. 2022, Sec. 4.1, "following TransFER"): random rotate and
# crop, random flip, colour jitter, blur, random erasing, after resizing the aligned face to
# img_size (112; 224 for Swin-S). The paper names the transforms, not their parameters: the values
# below are ferlab's (rotation +-10 deg, crop with img_size/14 padding, jitter 0.2, blur p=0.2,
# erasing p=0.25 of 2-25 % of the face).
# A config takes the pipelines by base-variable reference: cfcsp_train_pipeline_112 / _224 / _48.
_erase_value = (104, 116, 124)  # the mean pixel (BGR), as torchvision erases after normalising


cfcsp_train_pipeline_112 = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(112, 112)),
    dict(type='RandomRotate', degrees=10, prob=0.5),
    dict(type='RandomCrop', size=112, padding=8),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.2, contrast=0.2, saturation=0.2),
    dict(type='GaussianBlur', kernel_size=3, sigma=(0.1, 2.0), prob=0.2),
    dict(type='RandomErasing', prob=0.25, scale=(0.02, 0.25), value=_erase_value),
    dict(type='PackFERInputs'),
]
cfcsp_test_pipeline_112 = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(112, 112)),
    dict(type='PackFERInputs'),
]
cfcsp_train_pipeline_224 = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='RandomRotate', degrees=10, prob=0.5),
    dict(type='RandomCrop', size=224, padding=16),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.2, contrast=0.2, saturation=0.2),
    dict(type='GaussianBlur', kernel_size=5, sigma=(0.1, 2.0), prob=0.2),
    dict(type='RandomErasing', prob=0.25, scale=(0.02, 0.25), value=_erase_value),
    dict(type='PackFERInputs'),
]
cfcsp_test_pipeline_224 = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='PackFERInputs'),
]
# CPU evidence scale (48 px): the same transforms, padding 48/14 ~ 3 px.
cfcsp_train_pipeline_48 = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(48, 48)),
    dict(type='RandomRotate', degrees=10, prob=0.5),
    dict(type='RandomCrop', size=48, padding=3),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.2, contrast=0.2, saturation=0.2),
    dict(type='GaussianBlur', kernel_size=3, sigma=(0.1, 1.0), prob=0.2),
    dict(type='RandomErasing', prob=0.25, scale=(0.02, 0.25), value=_erase_value),
    dict(type='PackFERInputs'),
]
cfcsp_test_pipeline_48 = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(48, 48)),
    dict(type='PackFERInputs'),
]
