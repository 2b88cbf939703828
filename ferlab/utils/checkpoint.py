"""Safe checkpoint loading and atomic checkpoint writing.

Loading: every checkpoint ferlab reads goes through :func:`safe_torch_load`,
which calls ``torch.load(weights_only=True)`` with an explicit allow-list of
the non-tensor types mmengine writes into checkpoints (its ``HistoryBuffer``,
numpy arrays, dtypes and scalars). A checkpoint that pickles anything else
(e.g. a ``__reduce__`` that would run code) is refused with
:class:`UnsafeCheckpointError`; nothing from it is executed. ferlab registers
this loader for local paths in mmengine's ``CheckpointLoader`` so that the
Runner's ``load_from`` / ``resume`` use it too. mmengine's loaders for remote
schemes (``http(s)://``, ``open-mmlab://``, ``torchvision://``, ``s3://`` ...)
call ``torch.load`` without that allow-list, so ferlab replaces every one of
them with a refusal (:class:`RemoteCheckpointError`): download the file and
pass its local path. ferlab never downloads weights.

Writing: :class:`AtomicLocalBackend` replaces mmengine's local file backend;
``put`` writes to a temporary file in the target directory, fsyncs it and
renames it over the target, so a process killed mid-save leaves the previous
file intact and never a truncated one.
"""

from __future__ import annotations

import collections
import io
import os
import os.path as osp
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch

from .errors import FerlabInputError, InputFileNotFoundError

PathLike = Union[str, Path]

#: torch.serialization.safe_globals with ``(obj, 'module.name')`` entries (used for numpy 1.x
#: paths and the getattr stand-in) exists from torch 2.6.0 on (2.5.1 accepts objects only).
MIN_TORCH = '2.6'


class UnsafeCheckpointError(FerlabInputError, pickle.UnpicklingError):
    """A checkpoint references a global outside ferlab's allow-list."""


class RemoteCheckpointError(FerlabInputError, ValueError):
    """A checkpoint was given as a URL; ferlab loads local files only."""


_URL_RE = re.compile(r'^[A-Za-z][\w+.-]*:(\S+:)?//')


def is_remote(path: Any) -> bool:
    """True for ``scheme://...`` (and mmengine's ``name:s3://...``) strings."""
    return isinstance(path, str) and _URL_RE.match(path) is not None


def check_local_checkpoint(path: str) -> None:
    """Raise :class:`RemoteCheckpointError` if ``path`` is a URL.

    Raises:
        RemoteCheckpointError: ``path`` has a ``scheme://`` prefix; the
            message says to download it and pass the local file.
    """
    if is_remote(path):
        raise RemoteCheckpointError(
            f'refused to load checkpoint {path!r}: ferlab loads checkpoints from local files only '
            "(mmengine's remote loaders skip the weights_only allow-list). Download the file and "
            'pass its local path.'
        )


def _numpy_globals() -> list:
    """numpy objects that pickled arrays, dtypes and scalars reference.

    mmengine's message hub stores logged values as numpy arrays/scalars:
    ``_reconstruct`` + ``ndarray`` rebuild arrays, ``scalar`` rebuilds
    scalars, ``dtype`` + its concrete ``numpy.dtypes.*DType`` classes rebuild
    dtypes (the unpickler checks the class on ``BUILD``). The numpy 1.x
    module path (``numpy.core.multiarray``) is accepted too, for checkpoints
    written under numpy 1.x.
    """
    out: list = [np.ndarray, np.dtype]
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar

        out += [_reconstruct, scalar]
        out += [
            (_reconstruct, 'numpy.core.multiarray._reconstruct'),
            (scalar, 'numpy.core.multiarray.scalar'),
        ]
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar

        out += [_reconstruct, scalar]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return out


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``getattr`` while unpickling.

    mmengine pickles ``HistoryBuffer._statistics_methods`` as
    ``getattr(HistoryBuffer, 'min')`` etc. Allowing the builtin ``getattr``
    would let a pickle fetch any attribute of any allowed object, so only
    public methods of ``HistoryBuffer`` itself are served.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    if obj is HistoryBuffer and not name.startswith('_') and callable(getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed: only HistoryBuffer statistics methods are'
    )


def safe_globals() -> list:
    """The allow-list: exactly the non-tensor globals in mmengine checkpoints.

    Measured on checkpoints written by mmengine 0.10.7 (SGD + MultiStepLR,
    AdamW + LinearLR/ExponentialLR, with ``save_best``): ``HistoryBuffer``
    (message hub), numpy arrays/dtypes/scalars (logged values) and
    ``getattr`` (``HistoryBuffer._statistics_methods``), served here by a
    stand-in restricted to ``HistoryBuffer`` methods. ``Counter``
    (MultiStepLR milestones) and ``OrderedDict`` (state dicts) are listed
    for clarity; torch's weights-only unpickler accepts them already.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    return [
        HistoryBuffer,
        collections.OrderedDict,
        collections.Counter,
        (_history_buffer_getattr, '__builtin__.getattr'),
        (_history_buffer_getattr, 'builtins.getattr'),
    ] + _numpy_globals()


def safe_torch_load(
    source: PathLike | io.BytesIO, map_location: Any = 'cpu', extra_globals: Sequence = ()
) -> Any:
    """``torch.load(weights_only=True)`` with ferlab's allow-list.

    Args:
        source: A local path or a file-like object.
        map_location: Passed to ``torch.load``.
        extra_globals: More ``safe_globals`` entries for this one load, e.g. the
            inert stand-ins a converter supplies for a foreign checkpoint's
            pickled objects (``tools/model_converters/poster_to_ferlab.py``);
            everything else stays refused.

    Raises:
        RemoteCheckpointError: ``source`` is a URL.
        InputFileNotFoundError: The path does not exist (a ``FileNotFoundError``).
        UnsafeCheckpointError: The pickle references a global outside the
            allow-list; the message names it and the file.
    """
    name = str(source) if isinstance(source, (str, Path)) else '<stream>'
    if isinstance(source, (str, Path)):
        check_local_checkpoint(str(source))
        source = osp.expanduser(str(source))
        if not osp.isfile(source):
            raise InputFileNotFoundError(f'checkpoint file {name} does not exist')
    try:
        with torch.serialization.safe_globals(safe_globals() + list(extra_globals)):
            return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f"refused to load checkpoint {name}: it references a type outside ferlab's "
            f'weights_only allow-list, so loading it could execute arbitrary code. '
            f'Reason: {_refusal_reason(str(err))}. If the file is yours and its extra objects are '
            'plain data, re-save it without them (e.g. only its state_dict).'
        ) from None


def _refusal_reason(message: str) -> str:
    """The line of torch's weights-only error that names the refused global.

    torch's message starts with advice to disable ``weights_only``, which
    ferlab never does, so only the diagnostic line is kept.
    """
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    for ln in lines:
        if 'GLOBAL' in ln or 'global' in ln.lower() and 'weights_only' not in ln:
            return ln.rstrip('.')
    useful = [ln for ln in lines if 'weights_only' not in ln and not ln.startswith('Check the documentation')]
    return (useful[-1] if useful else lines[-1] if lines else 'unknown').rstrip('.')


def load_state_dict_file(path: PathLike, map_location: Any = 'cpu') -> dict[str, torch.Tensor]:
    """Read a state dict from ``.pth``/``.pt``/``.bin`` (safely) or ``.safetensors``.

    Nested layouts ``{'state_dict': ...}``, ``{'model': ...}``,
    ``{'model_state_dict': ...}`` and ``{'module': ...}`` are unwrapped, and a
    ``module.`` prefix (DataParallel) is stripped.
    """
    path = str(path)
    check_local_checkpoint(path)
    if not osp.isfile(path):
        raise InputFileNotFoundError(f'weight file {path} does not exist')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file

        state = load_file(path, device=str(map_location) if map_location else 'cpu')
    else:
        state = safe_torch_load(path, map_location)
    for key in ('state_dict', 'model', 'model_state_dict', 'module'):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise TypeError(f'{path} does not hold a state dict (got {type(state).__name__})')
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.') :]: v for k, v in state.items()}
    return dict(state)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(data: bytes, path: PathLike) -> None:
    """Write ``data`` to ``path`` through a temp file + fsync + rename.

    The temp file lives in the target's directory (so the rename is atomic on
    POSIX); if anything fails, or the process dies, ``path`` keeps its
    previous content and never holds a partial file.

    Args:
        data: The bytes to write.
        path: The final file name.
    """
    path = str(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=directory)
    try:
        # mkstemp creates 0600 files; give the result the mode open() would.
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_save(obj: Any, path: PathLike) -> None:
    """``torch.save`` that never leaves a partial file at ``path``."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(buf.getvalue(), path)


_REGISTERED = False


def register_checkpoint_io() -> None:
    """Install the safe loader and the atomic local backend into mmengine (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from mmengine.fileio import LocalBackend, register_backend
    from mmengine.fileio.io import backend_instances
    from mmengine.runner.checkpoint import CheckpointLoader

    class AtomicLocalBackend(LocalBackend):
        """mmengine's local backend with atomic ``put``/``put_text``."""

        def put(self, obj: bytes, filepath) -> None:
            atomic_write_bytes(obj, filepath)

        def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
            atomic_write_bytes(obj.encode(encoding), filepath)

    # prefixes='' makes it the backend for plain local paths (get_file_backend looks them up by prefix).
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    backend_instances.clear()

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local(filename, map_location):  # noqa: ANN001
        return safe_torch_load(filename, map_location)

    def load_from_remote(filename, map_location=None):  # noqa: ANN001
        check_local_checkpoint(filename)
        # A scheme whose prefix is not URL-shaped: refuse it all the same.
        raise RemoteCheckpointError(f'refused to load checkpoint {filename!r}: ferlab loads local files only')

    remote = [p for p in CheckpointLoader._schemes if p != '']
    CheckpointLoader.register_scheme(prefixes=remote, loader=load_from_remote, force=True)
    _REGISTERED = True
