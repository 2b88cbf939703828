"""Install ferlab: ``pip install -e ".[dev]"``."""

from setuptools import find_packages, setup


def readme() -> str:
    with open('README.md', encoding='utf-8') as f:
        return f.read()


version = {}
with open('ferlab/version.py', encoding='utf-8') as f:
    exec(f.read(), version)

setup(
    name='ferlab',
    version=version['__version__'],
    description='OpenMMLab-style plugin framework for facial expression recognition',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=('ferlab', 'ferlab.*')),
    python_requires='>=3.9',
    install_requires=[
        # 2.6: first release whose torch.serialization.safe_globals takes (obj, 'module.name')
        # entries, which ferlab's weights_only loader uses. Open above; never pin the local
        # 2.13.0 CPU wheel: with it every registry torchvision (and so timm and mmengine's
        # Runner) breaks. See docs/get_started.md.
        'torch>=2.6',
        'torchvision',
        'timm>=0.9',
        'mmengine==0.10.7',
        'mmcv-lite==2.2.0',
        'numpy',
        # OpenCV 5 dropped CascadeClassifier; mmcv-lite is tested against 4.x.
        'opencv-python>=4.8,<5',
        'matplotlib',
        'safetensors',
    ],
    extras_require={
        # ONNX export (tools/deployment/pytorch2onnx.py) and the onnxruntime inference backend.
        'deploy': ['onnx', 'onnxscript', 'onnxruntime'],
        # scikit-image ships the public-domain portrait (skimage.data.astronaut) the inference
        # tests detect faces in; the deploy packages are needed by the ONNX parity tests.
        'tests': [
            'pytest',
            'pytest-xdist',
            'scikit-learn',
            'scikit-image',
            'onnx',
            'onnxscript',
            'onnxruntime',
        ],
        'dev': [
            'pytest',
            'pytest-xdist',
            'scikit-learn',
            'scikit-image',
            'onnx',
            'onnxscript',
            'onnxruntime',
            'pre-commit',
            'ruff',
        ],
    },
    zip_safe=False,
)
