# SynthFERVideo in Aff-Wild2's 8-class order (Neutral, Anger, Disgust, Fear, Happiness, Sadness, Surprise,
# Other), frames mode: one sample per labelled frame with video_id / frame_idx, evaluated per video by
# VideoMetric (macro-F1 over the 8 classes before and after smooth predicting, the ABAW metric).
# The 'Other' class is an AU set outside every prototype (ferlab.datasets.synthfer.expressions.other_au_sets).
dataset_type = 'SynthFERVideo'
img_size = 112
num_classes = 8
label_set = 'affwild2'
clip_len = 128

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackFERInputs'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        split='train',
        num_clips=40,
        clip_len=clip_len,
        mode='frames',
        label_set=label_set,
        img_size=img_size,
        seed=0,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        split='val',
        num_clips=8,
        clip_len=clip_len,
        mode='frames',
        label_set=label_set,
        img_size=img_size,
        seed=0,
        pipeline=test_pipeline,
    ),
)
test_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        split='test',
        num_clips=8,
        clip_len=clip_len,
        mode='frames',
        label_set=label_set,
        img_size=img_size,
        seed=0,
        pipeline=test_pipeline,
    ),
)
# window: smooth-predicting window in frames (CFC-SP Eq. 1); the paper's best is 256 frames at 30 fps
# (about 8 s) on Aff-Wild2 videos of ~5000 frames; clips here are clip_len frames, so w = clip_len / 4.
val_evaluator = dict(type='VideoMetric', window=clip_len // 4)
test_evaluator = val_evaluator
