"""ONNX export of ferlab classifiers, with the preprocessing stored in the file's metadata.

The exported graph is the model's ``forward(inputs, mode='tensor')``:

* input ``input``: ``(B, 3, H, W)`` float32, the output of the model's
  :class:`~ferlab.models.utils.FERDataPreprocessor` (RGB when ``to_rgb``,
  ``(x - mean) / std`` on the 0-255 scale); ``B`` is a dynamic axis.
* output ``logits``: ``(B, C)`` float32 class logits, for every model whose
  ``predict`` scores are the softmax of its ``'tensor'`` output (the
  ``FERClassifier`` families, MVT, POSTER++); consumers apply the softmax,
  as :class:`ferlab.inference.onnx_backend.OnnxBackend` does. Models whose
  ``'tensor'`` output already is the ``predict`` probabilities (CFC-SP's
  ``EnsembleClassifier`` with ``softmax_sum`` and ``CascadeClassifier``)
  export it as output ``probs``. :func:`export_onnx` tells the two apart by
  running ``predict`` on the traced batch.
* output ``au_logits``: ``(B, A)`` float32 AU logits, only for a model with an
  AU output (:func:`ferlab.inference.backends.model_au_names`, e.g. AU-ViT's
  ``JointFERAUClassifier``, whose ``'tensor'`` output is ``(expr_logits,
  au_logits)``); consumers apply the sigmoid (``predict``'s ``pred_au_score``),
  as ``OnnxBackend`` does. Its column names are the metadata's ``au_names``.

Everything a consumer needs to turn a BGR ``uint8`` face crop into ``input``
is in the model's ``metadata_props`` (string values, JSON-encoded), so an
``.onnx`` file runs without its config (:func:`read_onnx_meta`):

==============================  ======================================================
key                             value
==============================  ======================================================
``ferlab_format``               ``1`` (version of this layout)
``classes``                     class names, the column order of the output
``au_names``                    AU names of the ``au_logits`` columns, or ``null`` (no AU output)
``au_output``                   ``au_logits`` (only with an AU output)
``input_size``                  ``[H, W]`` of ``input``
``mean`` / ``std``              per-channel, 0-255 scale, in ``input``'s channel order
``to_rgb``                      ``true``: swap BGR crops to RGB before normalising
``preprocess``                  geometric steps replayed on the crop, in order:
                                ``{"type": "resize", "size": [H, W],
                                "interpolation": "bilinear"}`` (mmcv's
                                ``imresize``, what the pipeline's ``Resize``
                                does; ``"area_or_linear"``: ``INTER_AREA`` to
                                shrink, ``INTER_LINEAR`` to enlarge, as
                                ``TorchBackend`` for pipelines without a
                                ``Resize``) and ``{"type": "center_crop",
                                "size": [H, W]}``
``output`` / ``output_kind``    ``logits`` / ``logits`` or ``probs`` / ``probabilities``
``opset``, ``exporter``         what wrote the graph
``source_config``, ...          config file name, checkpoint SHA-256, model type
==============================  ======================================================

Exporter: torch >= 2.9 exports with ``torch.export`` ("dynamo") by default,
whose translations start at opset 18; asked for a lower opset it converts
down and, when the conversion fails (ResNet's ``ReduceMean`` fails at 17 with
torch 2.14 / onnx 1.23), silently keeps 18. :func:`export_onnx` therefore
uses the dynamo exporter for ``opset >= 18`` and torch's TorchScript exporter
below, and checks the opset of the written file. The dynamo exporter's
default ``external_data=True`` writes the weights to a second ``.data`` file;
below 2 GB of weights (the protobuf limit) the export is one self-contained
file.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import logging
import os
import os.path as osp
import tempfile
import warnings
from contextlib import nullcontext, redirect_stdout
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ferlab.utils.checkpoint import atomic_write_bytes
from ferlab.utils.errors import FerlabInputError

DEPLOY_PACKAGES = ('onnx', 'onnxscript', 'onnxruntime')
META_FORMAT = 1
PROTOBUF_LIMIT = 2**31  # bytes; above it the weights must go to an external data file
INPUT_NAME, OUTPUT_NAME, PROBS_NAME, AU_OUTPUT_NAME = 'input', 'logits', 'probs', 'au_logits'
MIN_DYNAMO_OPSET = 18

logger = logging.getLogger(__name__)


class DeployDependencyError(FerlabInputError, ImportError):
    """A package of the ``deploy`` extra is not installed."""


class OnnxExportError(FerlabInputError, ValueError):
    """The model or its config cannot be exported as asked (the message says why and what to change)."""


def require_deploy(packages: Sequence[str] = DEPLOY_PACKAGES, what: str = 'ONNX export') -> None:
    """Import ``packages`` or raise one :class:`DeployDependencyError` naming the extra.

    Raises:
        DeployDependencyError: ``<what> needs onnx, ... (missing: x); install them with
            pip install -e ".[deploy]"``.
    """
    missing = []
    for name in packages:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise DeployDependencyError(
            f'{what} needs the packages {", ".join(packages)} (missing: {", ".join(missing)}); '
            'install them with pip install -e ".[deploy]"'
        )


# ----------------------------------------------------------------------------- preprocessing meta
_LOADER_DEFAULTS = dict(to_float32=False, color_type='color')


def _size_hw(value, what: str) -> list[int]:
    """``[H, W]`` of an mmcv ``scale`` / ``crop_size`` (an int or ``(W, H)``)."""
    if isinstance(value, int):
        return [value, value]
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return [int(value[1]), int(value[0])]
    raise OnnxExportError(f'{what} must be an int or a (w, h) pair of ints, got {value!r}')


def preprocess_steps(pipeline: Sequence[dict], input_size: Sequence[int] | None = None) -> dict:
    """The geometric preprocessing of a test pipeline, as ``OnnxBackend`` replays it.

    Supported transforms: ``LoadImageFromFile`` (colour, uint8), ``Resize``
    (``scale=``, ``keep_ratio=False``, any OpenCV interpolation name),
    ``CenterCrop`` (``crop_size=``) and ``PackFERInputs``. A pipeline without
    no ``Resize`` starts with a resize of the crop to ``input_size`` (a face
    crop of any size must reach the model's size), ``area_or_linear`` as
    :class:`~ferlab.inference.backends.TorchBackend` does.

    Args:
        pipeline: The config's ``test_dataloader.dataset.pipeline``.
        input_size: ``(H, W)`` the model takes; required when the pipeline
            has no ``Resize`` (e.g. SynthFER's, whose images are rendered at
            the model's size).

    Returns:
        ``dict(input_size=[H, W], preprocess=[steps])``.

    Raises:
        OnnxExportError: A transform that cannot be replayed (named), or no
            size known.
    """
    steps: list[dict] = []
    for i, t in enumerate(pipeline):
        kind = t.get('type') if isinstance(t, dict) else type(t).__name__
        where = f'test pipeline step {i} ({kind})'
        args = {k: v for k, v in t.items() if k != 'type'} if isinstance(t, dict) else {}
        if kind == 'LoadImageFromFile':
            odd = {k: v for k, v in args.items() if k in _LOADER_DEFAULTS and v != _LOADER_DEFAULTS[k]}
            if odd:
                raise OnnxExportError(f'{where}: only colour uint8 loading is exported, got {odd}')
        elif kind == 'Resize':
            if args.get('keep_ratio', False):
                raise OnnxExportError(
                    f'{where}: keep_ratio=True has no fixed output size; use keep_ratio=False'
                )
            if 'scale' not in args:
                raise OnnxExportError(f'{where}: only Resize(scale=...) is exported, got {args}')
            steps.append(
                dict(
                    type='resize',
                    size=_size_hw(args['scale'], f'{where} scale'),
                    interpolation=args.get('interpolation', 'bilinear'),
                )
            )
        elif kind == 'CenterCrop':
            if 'crop_size' not in args or args.get('auto_pad', False):
                raise OnnxExportError(f'{where}: only CenterCrop(crop_size=...) without auto_pad is exported')
            steps.append(dict(type='center_crop', size=_size_hw(args['crop_size'], f'{where} crop_size')))
        elif kind == 'PackFERInputs':
            pass
        else:
            raise OnnxExportError(
                f'{where}: {kind} cannot be replayed on face crops by the ONNX preprocessing '
                '(supported: LoadImageFromFile, Resize, CenterCrop, PackFERInputs)'
            )
    if not any(s['type'] == 'resize' for s in steps):
        if input_size is None:
            raise OnnxExportError(
                'the test pipeline has no Resize, so the model input size is unknown; give --input-size H W'
            )
        # what TorchBackend does for such pipelines: INTER_AREA to shrink, INTER_LINEAR to enlarge
        steps.insert(
            0, dict(type='resize', size=[int(s) for s in input_size], interpolation='area_or_linear')
        )
    size = steps[-1]['size']
    if input_size is not None and [int(v) for v in input_size] != size:
        raise OnnxExportError(
            f'input size {list(input_size)} differs from the {size} the test pipeline produces'
        )
    return dict(input_size=size, preprocess=steps)


def _short(value) -> float:
    """The shortest decimal of a float32 value (``123.675``, not ``123.67500305``)."""
    return float(str(np.float32(float(value))))


def preprocessor_meta(model: nn.Module) -> dict:
    """``mean``, ``std`` (0-255, output channel order) and ``to_rgb`` of the model's data preprocessor."""
    dp = getattr(model, 'data_preprocessor', None)
    mean, std = getattr(dp, 'mean', None), getattr(dp, 'std', None)
    if dp is not None and getattr(dp, '_normalize', True) is False:
        mean = std = None
    return dict(
        mean=[_short(v) for v in mean.flatten()] if mean is not None else [0.0, 0.0, 0.0],
        std=[_short(v) for v in std.flatten()] if std is not None else [1.0, 1.0, 1.0],
        to_rgb=bool(getattr(dp, 'to_rgb', True)),
    )


# ----------------------------------------------------------------------------- export
def output_kind(model: nn.Module, x: torch.Tensor, out: torch.Tensor) -> str:
    """``'logits'`` when ``predict``'s scores are ``softmax(out)``, ``'probabilities'`` when they are ``out``.

    Args:
        model: The model in eval mode.
        x: The traced batch ``(B, 3, H, W)``.
        out: ``model(x, mode='tensor')`` ``(B, C)``.

    Raises:
        OnnxExportError: ``predict`` scores are neither (the graph would not
            give the model's predictions).
    """
    from ferlab.structures import FERDataSample

    samples = model(x, [FERDataSample() for _ in range(len(x))], mode='predict')
    scores = torch.stack([s.pred_score.float() for s in samples])
    if torch.allclose(scores, out.float().softmax(dim=1), atol=1e-5):
        return 'logits'
    if torch.allclose(scores, out.float(), atol=1e-5):
        return 'probabilities'
    raise OnnxExportError(
        f"{type(model).__name__}: predict's pred_score is neither the softmax of forward(mode='tensor') "
        'nor that output itself, so the exported graph would not give its predictions'
    )


class LogitsModel(nn.Module):
    """``model(inputs, mode='tensor')``: the graph the export traces.

    Shapes:
        ``(B, 3, H, W)`` normalised float32 → logits (or probabilities, see
        :func:`output_kind`) ``(B, C)``; for a model with an AU output
        (``with_au``) the pair ``(logits (B, C), au_logits (B, A))``.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.with_au = bool(getattr(model, 'with_au', False))

    def forward(self, x: torch.Tensor):
        out = self.model(x, mode='tensor')
        if self.with_au:
            if not (
                isinstance(out, (tuple, list))
                and len(out) == 2
                and all(isinstance(o, torch.Tensor) and o.dim() == 2 for o in out)
            ):
                raise OnnxExportError(
                    f"{type(self.model).__name__}.forward(mode='tensor') must return (logits (B, C), "
                    f'au_logits (B, A)) for a model with an AU output, got {type(out).__name__}'
                )
            return out[0], out[1]
        if not isinstance(out, torch.Tensor) or out.dim() != 2:
            got = type(out).__name__ if not isinstance(out, torch.Tensor) else tuple(out.shape)
            raise OnnxExportError(
                f"{type(self.model).__name__}.forward(mode='tensor') must return (B, C) logits to be "
                f'exported, got {got} (a model without a head cannot be exported)'
            )
        return out


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _param_bytes(model: nn.Module) -> int:
    tensors = {id(t): t for t in list(model.parameters()) + list(model.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values())


def _torch_export(wrapper, dummy, path, opset, external_data, quiet, output_names):
    """Write the graph to ``path`` (without metadata); returns the exporter's name."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*legacy TorchScript-based ONNX export.*')
        warnings.filterwarnings('ignore', message='.*feature will be removed.*')
        sink = io.StringIO() if quiet else None
        with redirect_stdout(sink) if quiet else nullcontext():
            if opset >= MIN_DYNAMO_OPSET:
                batch = torch.export.Dim('batch', min=1)
                torch.onnx.export(
                    wrapper,
                    (dummy,),
                    path,
                    input_names=[INPUT_NAME],
                    output_names=list(output_names),
                    dynamic_shapes={'x': {0: batch}},
                    opset_version=opset,
                    external_data=external_data,
                    dynamo=True,
                    verbose=False,
                )
                return 'torch.export (dynamo)'
            torch.onnx.export(
                wrapper,
                (dummy,),
                path,
                input_names=[INPUT_NAME],
                output_names=list(output_names),
                dynamic_axes={INPUT_NAME: {0: 'batch'}, **{name: {0: 'batch'} for name in output_names}},
                opset_version=opset,
                dynamo=False,
            )
            return 'torchscript'


@torch.no_grad()
def export_onnx(
    model: nn.Module,
    path: str,
    input_size: Sequence[int],
    classes: Sequence[str],
    *,
    preprocess: Sequence[dict] | None = None,
    au_names: Sequence[str] | None = None,
    opset: int = MIN_DYNAMO_OPSET,
    extra_meta: dict | None = None,
    trace_batch: int = 2,
    quiet: bool = True,
) -> dict:
    """Export ``model`` (eval mode) to ``path`` with a dynamic batch axis and ferlab metadata.

    Args:
        model: A ferlab model whose ``forward(x, mode='tensor')`` returns
            ``(B, C)`` logits (or ``predict``'s probabilities, see
            :func:`output_kind`); moved to the CPU and set to eval mode.
        path: Output ``.onnx`` file (written atomically).
        input_size: ``(H, W)`` of the traced input.
        classes: ``C`` class names (index order of the logits).
        preprocess: Geometric steps for the metadata (see
            :func:`preprocess_steps`); default one bilinear resize to
            ``input_size``.
        au_names: Names of the AU output's columns; default the model's
            (:func:`ferlab.inference.backends.model_au_names`). A model with
            an AU output exports a second output ``au_logits`` ``(B, A)``.
        opset: ONNX opset; >= 18 uses torch's ``torch.export`` exporter,
            lower ones the TorchScript exporter.
        extra_meta: More string metadata (JSON-encoded unless already ``str``).
        trace_batch: Batch size of the traced example; 2, because torch's
            tracers specialise size-1 dimensions.
        quiet: Swallow the exporter's progress lines.

    Returns:
        The metadata written (decoded, as :func:`read_onnx_meta` returns it)
        plus ``external_data`` (the path of a ``.data`` weight file, or ``None``).

    Raises:
        DeployDependencyError: onnx / onnxscript missing.
        OnnxExportError: ``classes`` (or ``au_names``) does not match the
            logits, ``au_names`` are given for a model without an AU output, the file's
            opset differs from ``opset``, or the traced graph fixed the batch
            size.
    """
    require_deploy(('onnx', 'onnxscript') if opset >= MIN_DYNAMO_OPSET else ('onnx',))
    import onnx

    h, w = (int(v) for v in input_size)
    model = model.cpu().eval()
    wrapper = LogitsModel(model).eval()
    gen = torch.Generator().manual_seed(0)
    dummy = torch.randn(trace_batch, 3, h, w, generator=gen)
    from ferlab.inference.backends import model_au_names

    model_aus = model_au_names(model)
    if au_names is None:
        au_names = model_aus
    elif model_aus is None:
        raise OnnxExportError(
            f'au_names {list(au_names)} given for {type(model).__name__}, which has no AU output'
        )
    out = wrapper(dummy)
    au_out = None
    if wrapper.with_au:
        out, au_out = out
        if len(au_names) != au_out.shape[1]:
            raise OnnxExportError(
                f'{len(au_names)} AU names {list(au_names)} for a model with {au_out.shape[1]} AU logits'
            )
    num_logits = out.shape[1]
    if len(classes) != num_logits:
        raise OnnxExportError(
            f'{len(classes)} class names {list(classes)} for a model with {num_logits} logits; '
            'give the right names with --classes'
        )
    kind = output_kind(model, dummy, out)
    output_name = OUTPUT_NAME if kind == 'logits' else PROBS_NAME
    output_names = [output_name] + ([AU_OUTPUT_NAME] if au_out is not None else [])
    meta = dict(
        ferlab_format=META_FORMAT,
        classes=[str(c) for c in classes],
        au_names=list(au_names) if au_names else None,
        input_size=[h, w],
        **preprocessor_meta(model),
        preprocess=list(preprocess)
        if preprocess
        else [dict(type='resize', size=[h, w], interpolation='bilinear')],
        output=output_name,
        output_kind=kind,
        **(dict(au_output=AU_OUTPUT_NAME) if au_out is not None else {}),
        opset=int(opset),
        model_type=type(model).__name__,
    )
    for key, value in (extra_meta or {}).items():
        meta[key] = value
    from ferlab.version import __version__

    meta['ferlab_version'] = __version__
    external = _param_bytes(model) >= PROTOBUF_LIMIT
    out_dir = osp.dirname(osp.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp_path = osp.join(tmp, osp.basename(path))
        meta['exporter'] = _torch_export(wrapper, dummy, tmp_path, int(opset), external, quiet, output_names)
        proto = onnx.load(tmp_path, load_external_data=False)
        got = {o.domain: o.version for o in proto.opset_import}.get('', None)
        if got != int(opset):
            raise OnnxExportError(f'asked for opset {opset}, the exporter wrote opset {got}')
        if [o.name for o in proto.graph.output] != output_names:
            raise OnnxExportError(
                f'the exporter wrote the outputs {[o.name for o in proto.graph.output]}, expected {output_names}'
            )
        for value in (proto.graph.input[0], *proto.graph.output):
            batch_dim = value.type.tensor_type.shape.dim[0]
            if not batch_dim.dim_param:
                raise OnnxExportError(
                    f"{type(model).__name__}: the traced graph fixed the batch size of '{value.name}' at "
                    f'{batch_dim.dim_value}, so it would refuse other batch sizes: torch.export could not keep '
                    "the batch symbolic through forward(mode='tensor') (a Python loop or list over the samples, "
                    'or a set of tensor sizes, does this); write it on whole (B, ...) tensors'
                )
        del proto.metadata_props[:]
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
        data_file = None
        if external:  # the weights stay in the exporter's .data file beside the graph
            for name in os.listdir(tmp):
                if name != osp.basename(path):
                    os.replace(osp.join(tmp, name), osp.join(out_dir, name))
                    data_file = osp.join(out_dir, name)
            onnx.save(proto, tmp_path)
            os.replace(tmp_path, path)
        else:
            atomic_write_bytes(proto.SerializeToString(), path)
    return dict(read_onnx_meta(path), external_data=data_file)


# ----------------------------------------------------------------------------- reading
def read_onnx_meta(path: str) -> dict:
    """The ferlab metadata of an exported file, JSON values decoded.

    Raises:
        OnnxExportError: The file has no ferlab metadata (not written by
            :func:`export_onnx`); the message names the missing keys.
    """
    require_deploy(('onnx',), what='reading an ONNX model')
    import onnx

    proto = onnx.load(path, load_external_data=False)
    raw = {p.key: p.value for p in proto.metadata_props}
    needed = ('classes', 'input_size', 'mean', 'std', 'to_rgb', 'preprocess')
    missing = [k for k in needed if k not in raw]
    if missing:
        raise OnnxExportError(
            f'{path} lacks the ferlab metadata {missing}; export it with tools/deployment/pytorch2onnx.py'
        )
    meta = {}
    for key, value in raw.items():
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError:
            meta[key] = value
    return meta


def onnx_parity(
    model: nn.Module, path: str, batch_sizes: Sequence[int] = (1, 3), seed: int = 0
) -> dict[int, float]:
    """Max ``|logit_onnxruntime - logit_torch|`` per batch size on seeded random inputs.

    With an AU output (metadata ``au_output``) the maximum is over both the
    class logits and the AU logits.

    Returns:
        ``{batch_size: max_abs_diff}``.
    """
    require_deploy(('onnxruntime',), what='checking an ONNX export')
    import onnxruntime as ort

    meta = read_onnx_meta(path)
    h, w = meta['input_size']
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    wrapper = LogitsModel(model.cpu().eval()).eval()
    gen = torch.Generator().manual_seed(seed)
    out = {}
    names = [meta['output']] + ([meta['au_output']] if meta.get('au_output') else [])
    for b in batch_sizes:
        x = torch.randn(b, 3, h, w, generator=gen)
        with torch.no_grad():
            refs = wrapper(x)
        refs = [r.numpy() for r in (refs if isinstance(refs, tuple) else (refs,))]
        gots = session.run(names, {INPUT_NAME: x.numpy()})
        if len(gots) != len(refs):
            raise OnnxExportError(
                f'{path}: the graph has outputs {names}, torch returned {len(refs)} tensors'
            )
        diff = 0.0
        for name, got, ref in zip(names, gots, refs):
            if got.shape != ref.shape:
                raise OnnxExportError(
                    f'{path}: onnxruntime returned {name} {got.shape} for a batch of {b}, torch {ref.shape}'
                )
            diff = max(diff, float(np.abs(got.astype(np.float64) - ref).max()))
        out[b] = diff
    return out
