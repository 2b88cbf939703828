"""SynthFER vocabulary: action units, EMFACS prototypes, class orders, domain presets.

Action units follow FACS (Ekman & Friesen); the expression prototypes are the
EMFACS-style combinations quoted by the AU-ViT paper (Mao et al., Sec. 3 and
Fig. 1) and the FACS Investigator's guide:

=========== =====================================================
happiness   6 + 12
sadness     1 + 4 + 15
surprise    1 + 2 + 5 + 26
fear        1 + 2 + 4 + 5 + 20 + 26
anger       4 + 5 + 7 + 23
disgust     9 + 15 + 17 (the ``disgust_au10`` variant uses 10 instead of 9)
contempt    unilateral 12 + 14
neutral     no AU
=========== =====================================================

Sides: ``L``/``R`` are the *subject's* left/right as in FACS and RAF-AU, so
the subject's left appears on the image's right.
"""

from __future__ import annotations

import copy
import itertools
from functools import lru_cache

from ..categories import (
    AFFECTNET7_CLASSES,
    AFFECTNET8_CLASSES,
    AFFWILD2_CLASSES,
    FER2013_CLASSES,
    FERPLUS_CLASSES,
    RAFDB_CLASSES,
    canonical,
)

#: Action units the renderer draws, in the order of ``au_label`` vectors.
AU_LIST: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26)
AU_INDEX: dict[int, int] = {au: i for i, au in enumerate(AU_LIST)}
#: AUs drawn per side (left/right intensities); the others act on the midline.
BILATERAL_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 10, 12, 14, 15, 20)
AU_NAMES: dict[int, str] = {
    1: 'inner brow raiser', 2: 'outer brow raiser', 4: 'brow lowerer', 5: 'upper lid raiser',
    6: 'cheek raiser', 7: 'lid tightener', 9: 'nose wrinkler', 10: 'upper lip raiser',
    12: 'lip corner puller', 14: 'dimpler', 15: 'lip corner depressor', 17: 'chin raiser',
    20: 'lip stretcher', 23: 'lip tightener', 25: 'lips part', 26: 'jaw drop',
}  # fmt: skip

#: Canonical expression -> {AU: relative intensity}. ``contempt`` is unilateral (see generator).
PROTOTYPES: dict[str, dict[int, float]] = {
    'neutral': {},
    'happiness': {6: 0.8, 12: 1.0, 25: 0.4},
    'sadness': {1: 1.0, 4: 0.7, 15: 1.0},
    'surprise': {1: 1.0, 2: 1.0, 5: 0.9, 26: 1.0},
    'fear': {1: 1.0, 2: 0.8, 4: 0.8, 5: 1.0, 20: 1.0, 26: 0.6},
    'anger': {4: 1.0, 5: 0.7, 7: 1.0, 23: 1.0},
    'disgust': {9: 1.0, 15: 0.7, 17: 0.8},
    'contempt': {12: 0.8, 14: 1.0},
    # 'Other' (Aff-Wild2): AUs active but no prototype; the generator draws one of other_au_sets().
    'other': {},
}
#: Expressions whose prototype is drawn on one side only.
UNILATERAL = ('contempt',)

#: Label sets: name -> class order (as in the real datasets' files).
LABEL_SETS: dict[str, tuple[str, ...]] = {
    'rafdb': RAFDB_CLASSES,
    'fer2013': FER2013_CLASSES,
    'ferplus': FERPLUS_CLASSES,
    'affectnet7': AFFECTNET7_CLASSES,
    'affectnet8': AFFECTNET8_CLASSES,
    'affwild2': AFFWILD2_CLASSES,
    'affwild2_7': AFFWILD2_CLASSES[:7],
}

#: Default class-conditional ("pairwise") noise: clean class -> class it is confused with.
DEFAULT_NOISE_PAIRS: dict[str, str] = {
    'fear': 'surprise', 'surprise': 'fear', 'disgust': 'anger', 'anger': 'disgust',
    'sadness': 'neutral', 'neutral': 'sadness', 'happiness': 'neutral', 'contempt': 'happiness',
    'other': 'neutral',
}  # fmt: skip

_NUISANCE_DEFAULTS = dict(
    img_size=112,
    yaw=20.0,  # degrees, uniform in [-yaw, yaw]
    roll=12.0,  # degrees
    scale=(0.88, 1.1),
    shift=0.05,  # fraction of the image size
    clutter_prob=0.6,  # background clutter (random shapes)
    occlusion=dict(
        prob=0.1,
        types=('hand', 'sunglasses', 'mask', 'object'),
        parts=('eyes', 'mouth', 'nose', 'left', 'right', 'random'),
    ),  # noqa: E501
    blur_prob=0.2,
    blur_sigma=(0.4, 1.2),  # in pixels at 112 px, scaled with size
    noise_prob=0.2,
    noise_std=(3.0, 10.0),
    jpeg_prob=0.3,
    jpeg_quality=(35, 90),
    gray_prob=0.05,
    illumination_prob=0.7,
    illumination_strength=0.35,
    glasses_prob=0.12,
    facial_hair_prob=0.2,
    skin_tones='all',  # or 'light' / 'dark'
)
_EXPRESSION_DEFAULTS = dict(
    intensity=(0.45, 1.0),  # global prototype intensity
    low_intensity_prob=0.15,  # fraction drawn from low_intensity instead
    low_intensity=(0.15, 0.4),
    drop_au_prob=0.2,  # partial prototypes: each AU dropped with this probability (>= 1 kept)
    au_jitter=0.25,  # per-AU multiplicative jitter
    spontaneous_prob=0.08,  # each non-prototype AU fires weakly with this probability
    spontaneous_max=0.3,
    asymmetry=0.15,  # left/right difference of bilateral AUs
)

#: Domain presets: appearance statistics + AU->expression annotation convention.
DOMAINS: dict[str, dict] = {
    # Default: colour, 112 px, in-the-wild-ish nuisances at moderate rates. Tuned so that the
    # quick start (ResNet-18 from scratch, 10 min on 2 CPU cores) can learn it while raw-pixel
    # linear models cannot: mostly clear expressions (AU oracle ~99 %), but a few weak (8 %) and
    # partial (10 % of prototype AUs dropped) samples keep confusable pairs; half the clutter,
    # occlusion and JPEG rates of the shared defaults (which 'wild' / 'fer2013' build on).
    'default': dict(
        nuisance=dict(
            clutter_prob=0.4,
            occlusion=dict(prob=0.05),
            blur_prob=0.15,
            noise_prob=0.15,
            jpeg_prob=0.2,
            jpeg_quality=(50, 90),
        ),
        expression=dict(
            intensity=(0.55, 1.0),
            low_intensity_prob=0.08,
            low_intensity=(0.3, 0.5),
            drop_au_prob=0.1,
            spontaneous_prob=0.05,
            spontaneous_max=0.2,
        ),
        prototypes={},
    ),
    # Posed lab data (CK+/JAFFE-like): frontal, plain background, strong expressions.
    'lab': dict(
        nuisance=dict(
            yaw=5.0,
            roll=4.0,
            shift=0.02,
            clutter_prob=0.0,
            occlusion=dict(prob=0.0),
            blur_prob=0.0,
            noise_prob=0.05,
            jpeg_prob=0.0,
            gray_prob=0.3,
            illumination_prob=0.2,
            illumination_strength=0.15,
        ),
        expression=dict(
            intensity=(0.7, 1.0), low_intensity_prob=0.0, drop_au_prob=0.05, spontaneous_prob=0.02
        ),
        prototypes={},
    ),  # fmt: skip
    # Hard in-the-wild data (AffectNet-like): pose, occlusion, blur, weak expressions.
    'wild': dict(
        nuisance=dict(
            yaw=30.0,
            roll=18.0,
            shift=0.08,
            clutter_prob=0.9,
            occlusion=dict(prob=0.25),
            blur_prob=0.35,
            noise_prob=0.35,
            jpeg_prob=0.5,
            gray_prob=0.08,
            illumination_strength=0.5,
        ),
        expression=dict(
            intensity=(0.35, 1.0), low_intensity_prob=0.25, drop_au_prob=0.3, spontaneous_prob=0.12
        ),
        prototypes={},
    ),  # fmt: skip
    # FER2013-like: grayscale 48x48, noisy, low resolution.
    'fer2013': dict(
        nuisance=dict(img_size=48, gray_prob=1.0, noise_prob=0.4, jpeg_prob=0.5, blur_prob=0.3),
        expression={},
        prototypes={},
    ),
    # A dataset whose annotators follow another AU->expression convention (AU-ViT's bias):
    # "fear" without brow lowering and jaw drop (close to surprise), "disgust" by AU10,
    # "sadness" without AU4; warmer/darker appearance statistics.
    'alt_convention': dict(
        nuisance=dict(skin_tones='dark', clutter_prob=0.8, illumination_strength=0.45),
        expression={},
        prototypes={
            'fear': {1: 1.0, 2: 1.0, 5: 1.0, 20: 0.8, 25: 0.8},
            'disgust': {10: 1.0, 15: 0.6, 17: 0.6},
            'sadness': {1: 1.0, 15: 1.0, 17: 0.6},
        },
    ),
}


def resolve_domain(domain: str | dict) -> dict:
    """Full settings of a domain: a preset name, or ``dict(preset=..., nuisance=..., ...)``.

    Returns:
        ``dict(name, nuisance, expression, prototypes)`` with every default filled in.
    """
    if isinstance(domain, str):
        domain = dict(preset=domain)
    domain = dict(domain)
    preset = domain.pop('preset', 'default')
    if preset not in DOMAINS:
        raise KeyError(f'unknown SynthFER domain preset {preset!r}; known: {sorted(DOMAINS)}')
    unknown = set(domain) - {'name', 'nuisance', 'expression', 'prototypes'}
    if unknown:
        raise KeyError(
            f'unknown SynthFER domain keys {sorted(unknown)}; expected nuisance/expression/prototypes'
        )
    base = DOMAINS[preset]
    nuisance = copy.deepcopy(_NUISANCE_DEFAULTS)
    for src in (base['nuisance'], domain.get('nuisance', {})):
        for k, v in src.items():
            if k not in nuisance:
                raise KeyError(f'unknown SynthFER nuisance {k!r}; known: {sorted(nuisance)}')
            if k == 'occlusion':
                nuisance[k] = dict(nuisance[k], **v)
            else:
                nuisance[k] = v
    expression = dict(_EXPRESSION_DEFAULTS)
    for src in (base['expression'], domain.get('expression', {})):
        for k, v in src.items():
            if k not in expression:
                raise KeyError(f'unknown SynthFER expression setting {k!r}; known: {sorted(expression)}')
            expression[k] = v
    prototypes = copy.deepcopy(PROTOTYPES)
    for src in (base['prototypes'], domain.get('prototypes', {})):
        for k, v in src.items():
            key = canonical(k)
            bad = [au for au in v if au not in AU_INDEX]
            if bad:
                raise KeyError(f'prototype {k!r} uses AUs {bad} the renderer does not draw ({AU_LIST})')
            prototypes[key] = {int(au): float(w) for au, w in v.items()}
    return dict(
        name=domain.get('name', preset), nuisance=nuisance, expression=expression, prototypes=prototypes
    )


def other_au_sets(prototypes: dict[str, dict[int, float]], sizes=(2, 3)) -> tuple[tuple[int, ...], ...]:
    """AU patterns of the Aff-Wild2 class "Other": AU sets outside every prototype.

    A set of ``sizes`` AUs of :data:`AU_LIST` qualifies when it shares at most one
    AU with every non-empty prototype of ``prototypes`` (the domain's, so the
    ``alt_convention`` prototypes count there): it is then neither a prototype, nor
    a partial prototype (two or more of its AUs), nor a prototype plus extra AUs.
    With the default prototypes there are 91 pairs and 240 triples.

    Args:
        prototypes: Expression -> ``{AU: intensity}``, e.g. ``resolve_domain(...)['prototypes']``.
        sizes: Numbers of AUs per set.

    Returns:
        Sorted AU tuples, in :data:`AU_LIST` order.
    """
    key = tuple(sorted((k, tuple(sorted(v))) for k, v in prototypes.items() if v and k != 'other'))
    return _other_au_sets(key, tuple(sizes))


@lru_cache(maxsize=16)
def _other_au_sets(key: tuple, sizes: tuple) -> tuple[tuple[int, ...], ...]:
    protos = [set(aus) for _, aus in key]
    out = [
        combo
        for k in sizes
        for combo in itertools.combinations(AU_LIST, k)
        if all(len(p.intersection(combo)) <= 1 for p in protos)
    ]
    if not out:
        raise ValueError(f'no AU set of sizes {sizes} lies outside the prototypes {dict(key)}')
    return tuple(out)


def label_set_classes(label_set: str | tuple | list) -> tuple[str, ...]:
    """Class names of a label set name (``'rafdb'``, ``'affectnet8'`` ...) or an explicit tuple."""
    if isinstance(label_set, str):
        if label_set not in LABEL_SETS:
            raise KeyError(f'unknown SynthFER label set {label_set!r}; known: {sorted(LABEL_SETS)}')
        return LABEL_SETS[label_set]
    classes = tuple(label_set)
    for c in classes:
        canonical(c)  # raises KeyError on an unknown name
    return classes
