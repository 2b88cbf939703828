# POSTER++ CPU evidence variant (see posterv2_ir18-56px-cpu_synthfer.py), landmark stream
# RANDOM: the frozen MobileFaceNet keeps its (seeded) random initialisation, no landmark file.
_base_ = ['./posterv2_ir18-56px-cpu_synthfer.py']

model = dict(backbone=dict(landmark=dict(pretrained=None)))
