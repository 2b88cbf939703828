"""ferlab_example_plugin: a third-party package that extends ferlab.

Importing this package registers, into ferlab's registries (scope
``ferlab``):

* ``ExampleConvNet`` (backbone, :data:`ferlab.registry.MODELS`)
* ``ExampleMLPHead`` (head, ``MODELS``)
* ``ExampleFocalLoss`` (loss, ``MODELS``)
* ``ExampleRandomFaces`` (dataset, :data:`ferlab.registry.DATASETS`)

A config loads it with
``custom_imports = dict(imports=['ferlab_example_plugin'], allow_failed_imports=False)``;
the directory that contains this package must be on ``sys.path``
(``PYTHONPATH=projects/example_plugin``). See ``docs/plugins.md``.
"""

from .backbone import ExampleConvNet
from .dataset import ExampleRandomFaces
from .head import ExampleMLPHead
from .loss import ExampleFocalLoss

__all__ = ['ExampleConvNet', 'ExampleFocalLoss', 'ExampleMLPHead', 'ExampleRandomFaces']
