"""One vocabulary of FACS action units (AUs) for every AU-labelled dataset and model.

AUs are identified by their FACS number (``1, 2, 4, …``) and named ``'AU01'``,
``'AU02'``, … (two digits, the OpenFace spelling without the ``_r``/``_c``
suffix). Each dataset declares the AUs its labels cover, in the order of its
label vectors, as ``metainfo['au_names']``; a model declares the AUs it outputs
(its ``au_names``). :func:`map_aus` moves labels from one order to the other.
An AU the source does not annotate is *masked* (mask 0) in the result, never
filled in as "absent": a missing annotation is unknown, not negative.

Label vectors in ferlab data infos and data samples:

* ``gt_aus``: ``(A,)`` float32, 0/1 occurrence or an intensity, in the order of
  the dataset's ``metainfo['au_names']``;
* ``gt_au_mask``: ``(A,)`` float32, 1 = annotated, 0 = unknown.

AU lists (ascending FACS number within each):

=================== ======================================================================
``RAFAU_AUS``       RAF-AU, the 21 AUs AU-ViT uses (Mao et al., Sec. IV-A), AU-ViT's output
``EMOTIONET_AUS``   EmotioNet, the 16 AUs of the label files (AU-ViT Sec. IV-A: "the first
                    16" of the 23 EmotioNet AUs 1, 2, 4, 5, 6, 9, 10, 12, 15, 17, 18, 20,
                    24, 25, 26, 28, 43, 51-56)
``AFFWILD2_AUS``    Aff-Wild2 (ABAW AU track) file header ``AU1,AU2,AU4,…,AU26``
``OPENFACE_R_AUS``  OpenFace 2 intensity columns ``AUxx_r`` (17 AUs, 0-5)
``OPENFACE_C_AUS``  OpenFace 2 presence columns ``AUxx_c`` (18 AUs, adds AU28)
``BIAS_SHARED_AUS`` the 13 AUs shared by the dataset-bias analysis (AU-ViT Fig. 3)
=================== ======================================================================
"""

from __future__ import annotations

import re
from typing import Sequence, Union

import numpy as np
import torch

from ferlab.utils.errors import FerlabInputError

# RAF-AU: the 21 expression-related AUs of AU-ViT in its AU-branch output order, and every AU
# the paper lists for the dataset (defined with the expression class orders).
from .categories import RAFAU_ALL_AUS, RAFAU_AUS

#: EmotioNet: the 16 AU columns ``a1 … a16`` of the label lines, in this order.
EMOTIONET_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 9, 10, 12, 15, 17, 18, 20, 24, 25, 26, 28)
#: Aff-Wild2 AU annotation files (ABAW): header ``AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26``.
AFFWILD2_AUS: tuple[int, ...] = (1, 2, 4, 6, 7, 10, 12, 15, 23, 24, 25, 26)
#: OpenFace 2 intensity outputs ``AUxx_r`` (0-5).
OPENFACE_R_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
#: OpenFace 2 presence outputs ``AUxx_c`` (0/1).
OPENFACE_C_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 28, 45)
#: The 13 AUs over which AU-ViT's dataset-bias analysis compares datasets (Fig. 3).
BIAS_SHARED_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 9, 10, 12, 15, 17, 20, 25, 26)

#: FACS names of the AUs above.
AU_DESCRIPTIONS: dict[int, str] = {
    1: 'inner brow raiser', 2: 'outer brow raiser', 4: 'brow lowerer', 5: 'upper lid raiser',
    6: 'cheek raiser', 7: 'lid tightener', 9: 'nose wrinkler', 10: 'upper lip raiser',
    12: 'lip corner puller', 14: 'dimpler', 15: 'lip corner depressor', 16: 'lower lip depressor',
    17: 'chin raiser', 18: 'lip pucker', 20: 'lip stretcher', 22: 'lip funneler', 23: 'lip tightener',
    24: 'lip pressor', 25: 'lips part', 26: 'jaw drop', 27: 'mouth stretch', 28: 'lip suck',
    29: 'jaw thrust', 35: 'cheek suck', 43: 'eyes closed', 45: 'blink', 51: 'head turn left',
    52: 'head turn right', 53: 'head up', 54: 'head down', 55: 'head tilt left', 56: 'head tilt right',
}  # fmt: skip

#: Named AU lists, selectable by name in configs (``au_names='rafau'``).
AU_SETS: dict[str, tuple[int, ...]] = {
    'rafau': RAFAU_AUS,
    'rafau_all': RAFAU_ALL_AUS,
    'emotionet': EMOTIONET_AUS,
    'affwild2': AFFWILD2_AUS,
    'openface_r': OPENFACE_R_AUS,
    'openface_c': OPENFACE_C_AUS,
    'bias_shared': BIAS_SHARED_AUS,
}


class AUConfigError(FerlabInputError, ValueError):
    """An AU name, AU list or AU-dataset option in a config cannot be used (one-line message)."""


_AU_RE = re.compile(r'^\s*(?:AU)?0*(\d+)(?:_[rc])?\s*$', re.IGNORECASE)

AULike = Union[int, str]
ArrayLike = Union[np.ndarray, torch.Tensor, Sequence[float]]


def au_id(au: AULike) -> int:
    """The FACS number of ``au``: ``12``, ``'AU12'``, ``'AU12_r'``, ``' AU12_c'``, ``'au12'`` → 12.

    Raises:
        ValueError: ``au`` names no AU (the message quotes it).
    """
    if isinstance(au, (int, np.integer)) and not isinstance(au, bool):
        if au <= 0:
            raise AUConfigError(f'an AU number must be positive, got {au}')
        return int(au)
    if isinstance(au, str):
        m = _AU_RE.match(au)
        if m is not None and int(m.group(1)) > 0:
            return int(m.group(1))
    raise AUConfigError(f"cannot read {au!r} as an action unit (expected e.g. 12, 'AU12', 'AU12_r')")


def au_name(au: AULike) -> str:
    """The canonical name of ``au``: ``1`` / ``'AU1'`` / ``'AU01_c'`` → ``'AU01'``."""
    return f'AU{au_id(au):02d}'


def au_names(aus: Sequence[AULike] | str) -> tuple[str, ...]:
    """Canonical names of an AU list, or of a named list of :data:`AU_SETS` (``'rafau'``).

    Raises:
        ValueError: an entry names no AU, an AU repeats, the list is empty or
            the name is not in :data:`AU_SETS`.
    """
    if isinstance(aus, str):
        if aus not in AU_SETS:
            raise AUConfigError(f'unknown AU list {aus!r}; known: {sorted(AU_SETS)}')
        aus = AU_SETS[aus]
    names = tuple(au_name(a) for a in aus)
    if not names:
        raise AUConfigError('an AU list must not be empty')
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AUConfigError(f'AU list {tuple(aus)} repeats {dup}')
    return names


def au_ids(aus: Sequence[AULike] | str) -> tuple[int, ...]:
    """FACS numbers of an AU list (same rules as :func:`au_names`)."""
    return tuple(au_id(n) for n in au_names(aus))


def au_index_map(src_names: Sequence[AULike] | str, dst_names: Sequence[AULike] | str) -> np.ndarray:
    """``(A_dst,)`` int64: for each destination AU its index in the source list, -1 if absent.

    >>> au_index_map(['AU1', 'AU12'], [12, 4, 1]).tolist()
    [1, -1, 0]
    """
    src = {n: i for i, n in enumerate(au_names(src_names))}
    return np.array([src.get(n, -1) for n in au_names(dst_names)], dtype=np.int64)


def map_aus(
    values: ArrayLike,
    mask: ArrayLike | None,
    src_names: Sequence[AULike] | str,
    dst_names: Sequence[AULike] | str,
) -> tuple[np.ndarray, np.ndarray] | tuple[torch.Tensor, torch.Tensor]:
    """Re-order AU labels from the source's AU list to the destination's.

    Destination AUs the source lacks get value 0 **and mask 0** (unknown); the
    others keep their value and their source mask. Source AUs outside the
    destination list are dropped.

    Args:
        values: ``(..., A_src)`` labels (0/1 or intensities) in ``src_names`` order.
        mask: ``(..., A_src)`` 1 = annotated (any dtype; nonzero = known), or
            ``None`` for all known.
        src_names: The source's AU list (names, numbers or an :data:`AU_SETS` key).
        dst_names: The destination's AU list.

    Returns:
        ``(dst_values, dst_mask)``, both ``(..., A_dst)`` float32; numpy arrays,
        or tensors on the input's device when ``values`` is a tensor.

    Raises:
        ValueError: the last dimension of ``values``/``mask`` is not ``len(src_names)``.
    """
    index = au_index_map(src_names, dst_names)
    n_src = len(au_names(src_names))
    is_tensor = isinstance(values, torch.Tensor)
    if is_tensor:
        v = values.float()
        m = torch.ones_like(v) if mask is None else torch.as_tensor(mask, device=v.device).float()
        m = (m != 0).float()
    else:
        v = np.asarray(values, dtype=np.float32)
        m = np.ones_like(v) if mask is None else (np.asarray(mask) != 0).astype(np.float32)
    if v.shape[-1] != n_src or m.shape != v.shape:
        raise ValueError(
            f'map_aus: values {tuple(v.shape)} and mask {tuple(m.shape)} must both end in '
            f'{n_src} (the source AU list {au_names(src_names)})'
        )
    known = index >= 0
    safe = np.where(known, index, 0)
    if is_tensor:
        idx = torch.as_tensor(safe, device=v.device)
        keep = torch.as_tensor(known, device=v.device, dtype=v.dtype)
        return v[..., idx] * keep, m[..., idx] * keep
    keep = known.astype(np.float32)
    return v[..., safe] * keep, m[..., safe] * keep
