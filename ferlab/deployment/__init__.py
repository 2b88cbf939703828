"""Deployment: ONNX export with the preprocessing in the file's metadata (:mod:`ferlab.deployment.onnx`)."""

from .onnx import (
    DeployDependencyError,
    OnnxExportError,
    export_onnx,
    onnx_parity,
    preprocess_steps,
    read_onnx_meta,
    require_deploy,
)

__all__ = [
    'DeployDependencyError', 'OnnxExportError', 'export_onnx',
    'onnx_parity', 'preprocess_steps', 'read_onnx_meta', 'require_deploy',
]  # fmt: skip
