"""ferlab: an OpenMMLab-style plugin framework for facial expression recognition."""

from .utils.checkpoint import register_checkpoint_io
from .version import __version__

# Safe (weights_only + allow-list) checkpoint loading and atomic checkpoint
# writes for every mmengine Runner in this process.
register_checkpoint_io()

__all__ = ['__version__']
