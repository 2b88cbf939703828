from .inference import inference_model, init_model
from .inferencer import FERInferencer

__all__ = ['FERInferencer', 'inference_model', 'init_model']
