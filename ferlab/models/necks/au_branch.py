"""AU branch of AU-ViT (Mao et al., "AU-Aware Vision Transformers for Biased Facial Expression Recognition").

The branch crops a trunk's mid-level feature map into overlapping facial regions,
average-pools each region, normalises it and predicts the action units (AUs)
that region is responsible for (Sec. III-B, "AU branch"; Fig. 4 top). Left/right
regions that predict the same AUs are fused by the symmetric maxout of Eq. 2,
``z = max(z_left, z_right)``.

Regions are written as row/column slices of a 14×14 map (the CNN-ViT's IR-50
stage-3 map at 112 px and a ViT-B/16's patch grid at 224 px). For another grid
``G`` every bound ``b`` becomes ``round(b · G / 14)``; a region that ends up
empty or outside the grid is refused with one error naming it.

Presets (``regions='1' | '2' | '3' | '5' | '7' | '9'``; Fig. 11). AU numbers are
FACS codes; a region's ``aus`` order is the row order of its Linear.

====  ===========================================================================
1     whole map → all 21 AUs
2     upper ``[:8, :]`` → 1, 2, 4, 5, 6, 7, 9; lower ``[6:, :]`` → the 14 mouth AUs
      (the RAF-DB / FERPlus scripts of the public code)
3     upper ``[:7, :]`` → 1, 2, 4, 5, 7; middle ``[4:12, :]`` → 6, 9; lower ``[6:, :]``
5     upper ``[:7, :]`` → 1, 2, 4, 5, 7; L-cheek ``[5:12, :6]`` and R-cheek
      ``[5:12, 8:]`` → 6 (maxout); nose ``[4:10, 4:10]`` → 9; mouth ``[6:, :]``
7     L-eye ``[:7, :7]`` and R-eye ``[:7, 7:]`` → 1, 2, 5, 7 (maxout); brow-middle
      ``[:7, 4:10]`` → 4; L-/R-cheek → 6 (maxout); nose → 9; mouth ``[6:, :]``
      (the paper's default, the public AffectNet script)
9     the 7-region split with the mouth split in three: L-mouth ``[6:, :6]`` and
      R-mouth ``[6:, 8:]`` → the lip-corner AUs 12, 14, 15, 20 (maxout), centre
      ``[6:, 4:10]`` → 10, 16, 17, 18, 22, 23, 24, 25, 26, 27
====  ===========================================================================

The mouth AUs are 10, 12, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27. The
paper publishes no slices for its 9-region split (Fig. 11 shows the bottom face
split further); the lip-corner / centre division above is ferlab's: the four
lip-corner AUs are the bilateral ones of the lower face.
"""

from __future__ import annotations

import re
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ferlab.registry import MODELS

#: The 21 RAF-AU AUs AU-ViT predicts, in the public output order.
RAFAU_21 = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27)
MOUTH_AUS = (10, 12, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27)
EYE_AUS = (1, 2, 5, 7)
LIP_CORNER_AUS = (12, 14, 15, 20)
MOUTH_CENTRE_AUS = tuple(a for a in MOUTH_AUS if a not in LIP_CORNER_AUS)

#: Reference grid the preset slices are written for.
REF_GRID = 14

_S = None  # open slice bound


def _r(name, rows, cols, aus):
    return dict(name=name, rows=rows, cols=cols, aus=tuple(aus))


_SEVEN = [
    _r('l_eye', (_S, 7), (_S, 7), EYE_AUS),
    _r('brow', (_S, 7), (4, 10), (4,)),
    _r('r_eye', (_S, 7), (7, _S), EYE_AUS),
    _r('l_cheek', (5, 12), (_S, 6), (6,)),
    _r('nose', (4, 10), (4, 10), (9,)),
    _r('r_cheek', (5, 12), (8, _S), (6,)),
]

#: ``name -> (regions, symmetric pairs)``; region order = parameter order (``norms.i``, ``fcs.i``).
PRESETS: dict[str, tuple[list[dict], list[tuple[str, str]]]] = {
    '1': ([_r('face', (_S, _S), (_S, _S), RAFAU_21)], []),
    '2': (
        [_r('upper', (_S, 8), (_S, _S), (1, 2, 4, 5, 6, 7, 9)), _r('lower', (6, _S), (_S, _S), MOUTH_AUS)],
        [],
    ),
    '3': (
        [
            _r('upper', (_S, 7), (_S, _S), (1, 2, 4, 5, 7)),
            _r('middle', (4, 12), (_S, _S), (6, 9)),
            _r('lower', (6, _S), (_S, _S), MOUTH_AUS),
        ],
        [],
    ),
    '5': (
        [
            _r('upper', (_S, 7), (_S, _S), (1, 2, 4, 5, 7)),
            _r('l_cheek', (5, 12), (_S, 6), (6,)),
            _r('nose', (4, 10), (4, 10), (9,)),
            _r('r_cheek', (5, 12), (8, _S), (6,)),
            _r('mouth', (6, _S), (_S, _S), MOUTH_AUS),
        ],
        [('l_cheek', 'r_cheek')],
    ),
    '7': (_SEVEN + [_r('mouth', (6, _S), (_S, _S), MOUTH_AUS)], [('l_eye', 'r_eye'), ('l_cheek', 'r_cheek')]),
    '9': (
        _SEVEN
        + [
            _r('l_mouth', (6, _S), (_S, 6), LIP_CORNER_AUS),
            _r('mouth_centre', (6, _S), (4, 10), MOUTH_CENTRE_AUS),
            _r('r_mouth', (6, _S), (8, _S), LIP_CORNER_AUS),
        ],
        [('l_eye', 'r_eye'), ('l_cheek', 'r_cheek'), ('l_mouth', 'r_mouth')],
    ),
}


def au_number(name) -> int:
    """``'AU12'``, ``'au12'``, ``'12'`` or ``12`` → ``12``.

    Raises:
        ValueError: ``name`` is not an AU code.
    """
    if isinstance(name, int) and not isinstance(name, bool):
        return name
    m = re.fullmatch(r'(?:AU)?0*(\d+)', str(name).strip(), flags=re.IGNORECASE)
    if m is None:
        raise ValueError(f'{name!r} is not an AU name (expected e.g. "AU12" or 12)')
    return int(m.group(1))


def _scale_bound(b, grid: int, ref: int):
    return None if b is None else int(round(b * grid / ref))


@MODELS.register_module()
class AUBranch(BaseModule):
    """Region-split AU predictor (AU-ViT Sec. III-B, Eq. 2).

    For each region ``r``: ``z_r = W_r · LN_r(mean_{(i,j) ∈ r} x[:, :, i, j]) + b_r``;
    for each symmetric pair ``(l, r)``: ``z = max(z_l, z_r)`` elementwise (Eq. 2,
    ``pair_reduce='max'``; ``'mean'`` is an ablation without maxout). The AU
    logits are then gathered in the order of ``au_names``.

    Args:
        in_channels: Channels ``C`` of the tapped map.
        au_names: Output AU order (``'AU1'`` strings or numbers), e.g. a
            dataset's ``metainfo['au_names']``. Every AU must be predicted by
            exactly one region or symmetric pair; a region's Linear predicts
            only its AUs that are in ``au_names``.
        regions: A preset name (``'1'``, ``'2'``, ``'3'``, ``'5'``, ``'7'``,
            ``'9'``; the module docstring lists them) or a list of
            ``dict(name, rows=(start, stop), cols=(start, stop), aus=(...))``
            with ``None`` for an open bound.
        symmetric_pairs: ``(left, right)`` region names fused by maxout; ``None``
            takes the preset's pairs (none for a custom list). Both regions of
            a pair must predict the same AUs.
        pair_reduce: ``'max'`` (Eq. 2) or ``'mean'``.
        grid_size: ``H = W`` of the maps this branch receives.
        ref_grid: Grid the slices are written for (14 for the presets); the
            bounds are scaled by ``grid_size / ref_grid`` and rounded.
            ``None`` uses the slices as given.
        eps: LayerNorm epsilon (1e-6 as in the public code).
        init_cfg: mmengine init config.

    Shapes:
        ``(B, C, H, W)``, or tokens ``(B, N, C)`` with ``N = H · W`` (row-major)
        → ``(B, A)`` with ``A = len(au_names)``.
    """

    PAIR_REDUCE = ('max', 'mean')

    def __init__(
        self,
        in_channels: int,
        au_names: Sequence = RAFAU_21,
        regions: str | Sequence[dict] = '7',
        symmetric_pairs: Sequence[Sequence[str]] | None = None,
        pair_reduce: str = 'max',
        grid_size: int = REF_GRID,
        ref_grid: int | None = REF_GRID,
        eps: float = 1e-6,
        init_cfg: dict | list | None = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if pair_reduce not in self.PAIR_REDUCE:
            raise ValueError(f'AUBranch pair_reduce must be one of {self.PAIR_REDUCE}, got {pair_reduce!r}')
        if isinstance(regions, (str, int)):
            key = str(regions)
            if key not in PRESETS:
                raise KeyError(f'AUBranch has no region preset {regions!r}; choose from {sorted(PRESETS)}')
            region_list, preset_pairs = PRESETS[key]
            pairs = preset_pairs if symmetric_pairs is None else symmetric_pairs
        else:
            region_list, pairs = list(regions), list(symmetric_pairs or [])
        if not region_list:
            raise ValueError('AUBranch needs at least one region')
        self.in_channels = in_channels
        self.grid_size = int(grid_size)
        self.pair_reduce = pair_reduce
        self.au_names = tuple(f'AU{au_number(a)}' for a in au_names)
        wanted = [au_number(a) for a in au_names]
        if not wanted or len(set(wanted)) != len(wanted):
            raise ValueError(f'AUBranch au_names must be non-empty without duplicates, got {list(au_names)}')

        self.region_names: list[str] = []
        self.slices: list[tuple[slice, slice]] = []
        region_aus: list[tuple[int, ...]] = []
        for spec in region_list:
            name, aus = spec.get('name'), spec.get('aus')
            if name is None or aus is None or 'rows' not in spec or 'cols' not in spec:
                raise ValueError(f'AUBranch region {spec!r} needs keys name, rows, cols, aus')
            if name in self.region_names:
                raise ValueError(f'AUBranch region name {name!r} is used twice')
            rs = self._slice(name, 'rows', spec['rows'], ref_grid)
            cs = self._slice(name, 'cols', spec['cols'], ref_grid)
            kept = tuple(au_number(a) for a in aus if au_number(a) in wanted)
            if not kept:
                raise ValueError(
                    f'AUBranch region {name!r} predicts AUs {list(aus)}, none of which is in au_names '
                    f'{list(self.au_names)}; drop the region or use a split that fits the AU list'
                )
            self.region_names.append(name)
            self.slices.append((rs, cs))
            region_aus.append(kept)

        self.pairs: list[tuple[int, int]] = []
        paired: set[int] = set()
        for pair in pairs:
            if len(pair) != 2 or any(p not in self.region_names for p in pair):
                raise ValueError(
                    f'AUBranch symmetric pair {pair!r} must name two regions of {self.region_names}'
                )
            li, ri = self.region_names.index(pair[0]), self.region_names.index(pair[1])
            if region_aus[li] != region_aus[ri]:
                raise ValueError(
                    f'AUBranch symmetric pair {tuple(pair)}: both regions must predict the same AUs, got '
                    f'{region_aus[li]} and {region_aus[ri]}'
                )
            if li in paired or ri in paired or li == ri:
                raise ValueError(f'AUBranch region of pair {tuple(pair)} is already in another pair')
            paired.update((li, ri))
            self.pairs.append((li, ri))

        # Where each output AU comes from: (group, column) over the groups
        # (unpaired regions, then pairs) concatenated in that order.
        groups = [i for i in range(len(region_list)) if i not in paired] + [li for li, _ in self.pairs]
        source: dict[int, int] = {}
        offset = 0
        for g in groups:
            for j, a in enumerate(region_aus[g]):
                if a in source:
                    raise ValueError(
                        f'AUBranch: AU{a} is predicted by more than one region group (region '
                        f'{self.region_names[g]!r} and another); pair them or remove the duplicate'
                    )
                source[a] = offset + j
            offset += len(region_aus[g])
        missing = [a for a in wanted if a not in source]
        if missing:
            raise ValueError(
                f'AUBranch: au_names {[f"AU{a}" for a in missing]} are predicted by no region '
                f'(regions predict {sorted(source)})'
            )
        self._unpaired = [i for i in range(len(region_list)) if i not in paired]
        self.register_buffer(
            'order', torch.tensor([source[a] for a in wanted], dtype=torch.long), persistent=False
        )
        self.region_aus = region_aus
        self.norms = nn.ModuleList(nn.LayerNorm(in_channels, eps=eps) for _ in region_aus)
        self.fcs = nn.ModuleList(nn.Linear(in_channels, len(a)) for a in region_aus)

    def _slice(self, name: str, axis: str, bounds, ref_grid: int | None) -> slice:
        if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
            raise ValueError(f'AUBranch region {name!r} {axis} must be (start, stop), got {bounds!r}')
        start, stop = bounds
        if ref_grid is not None:
            start, stop = (
                _scale_bound(start, self.grid_size, ref_grid),
                _scale_bound(stop, self.grid_size, ref_grid),
            )
        lo = 0 if start is None else start
        hi = self.grid_size if stop is None else stop
        if not 0 <= lo < hi <= self.grid_size:
            where = f' (scaled from {tuple(bounds)} on {ref_grid}x{ref_grid})' if ref_grid is not None else ''
            raise ValueError(
                f'AUBranch region {name!r}: {axis} slice [{lo}:{hi}]{where} is empty or outside the '
                f'{self.grid_size}x{self.grid_size} grid'
            )
        return slice(lo, hi)

    @property
    def num_aus(self) -> int:
        return len(self.au_names)

    def region_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-region average pools ``(B, C)``, before the LayerNorm."""
        return [x[:, :, rs, cs].mean(dim=(-2, -1)) for rs, cs in self.slices]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict AU logits.

        Args:
            x: ``(B, C, H, W)`` map or ``(B, N, C)`` patch tokens (no class
                token), ``H = W = grid_size``.

        Returns:
            ``(B, A)`` logits in ``au_names`` order.
        """
        g = self.grid_size
        if x.dim() == 3:
            B, N, C = x.shape
            if N != g * g:
                raise ValueError(
                    f'AUBranch expects {g}x{g}={g * g} tokens, got {N} (strip class tokens first)'
                )
            x = x.transpose(1, 2).reshape(B, C, g, g)
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[-2:]) != (g, g):
            raise ValueError(
                f'AUBranch expects (B, {self.in_channels}, {g}, {g}) maps or (B, {g * g}, {self.in_channels}) '
                f'tokens, got {tuple(x.shape)}'
            )
        logits = [fc(norm(f)) for f, norm, fc in zip(self.region_features(x), self.norms, self.fcs)]
        groups = [logits[i] for i in self._unpaired]
        for li, ri in self.pairs:
            if self.pair_reduce == 'max':
                groups.append(torch.maximum(logits[li], logits[ri]))
            else:
                groups.append((logits[li] + logits[ri]) / 2)
        return torch.cat(groups, dim=1).index_select(1, self.order)
