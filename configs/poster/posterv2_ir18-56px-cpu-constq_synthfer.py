# POSTER++ CPU evidence variant (see posterv2_ir18-56px-cpu_synthfer.py), IMAGE STREAM ONLY:
# no landmark network; each level's queries are a learned constant (w^2, d) tensor.
_base_ = ['./posterv2_ir18-56px-cpu_synthfer.py']

model = dict(backbone=dict(landmark_queries='constant', landmark=None))
