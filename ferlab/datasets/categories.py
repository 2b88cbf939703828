"""Expression class orders of the public datasets and name-based mapping.

Every loader declares its class order (``METAINFO['classes']``) using the
names below; :func:`canonical` folds the spellings datasets use
('Happy', 'Happiness', 'joy' …) into one canonical name so that label maps
between orders can be built by name.
"""

from __future__ import annotations

from typing import Sequence

#: RAF-DB basic, labels 1..7 in the files (0-based here).
RAFDB_CLASSES = ('Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral')
#: FER2013 ``emotion`` column order.
FER2013_CLASSES = ('Angry', 'Disgust', 'Fear', 'Happy', 'Sad', 'Surprise', 'Neutral')
#: FERPlus ``fer2013new.csv`` vote columns (the 8 emotions; unknown/NF excluded).
FERPLUS_CLASSES = (
    'Neutral', 'Happiness', 'Surprise', 'Sadness', 'Anger', 'Disgust', 'Fear', 'Contempt',
)  # fmt: skip
#: AffectNet expression codes 0..7.
AFFECTNET8_CLASSES = ('Neutral', 'Happy', 'Sad', 'Surprise', 'Fear', 'Disgust', 'Anger', 'Contempt')
AFFECTNET7_CLASSES = AFFECTNET8_CLASSES[:7]
#: Aff-Wild2 (ABAW EXPR) order.
AFFWILD2_CLASSES = (
    'Neutral', 'Anger', 'Disgust', 'Fear', 'Happiness', 'Sadness', 'Surprise', 'Other',
)  # fmt: skip
#: SFEW 2.0 folder names (alphabetical).
SFEW_CLASSES = ('Angry', 'Disgust', 'Fear', 'Happy', 'Neutral', 'Sad', 'Surprise')

#: CFC-SP label groups (Xue et al., CVPRW 2022, Sec. 3.2): the coarse stage merges the four
#: negative expressions (Anger, Disgust, Fear, Sadness) into one class 'Negative'; the negative
#: stage tells those four apart. Maps from the Aff-Wild2 order, -1 = not in the group.
CFCSP_COARSE_CLASSES = ('Neutral', 'Happiness', 'Surprise', 'Other', 'Negative')
CFCSP_NEGATIVE_CLASSES = ('Anger', 'Disgust', 'Fear', 'Sadness')
AFFWILD2_TO_COARSE = (0, 4, 4, 4, 1, 4, 2, 3)
AFFWILD2_TO_NEGATIVE = (-1, 0, 1, 2, -1, 3, -1, -1)

#: Named label groups: ``name -> (source class order, target class order, source->target map)``.
#: A dataset selects one with ``label_map='<name>'`` (see :func:`resolve_label_group`).
LABEL_GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]] = {
    'affwild2_coarse': (AFFWILD2_CLASSES, CFCSP_COARSE_CLASSES, AFFWILD2_TO_COARSE),
    'affwild2_negative': (AFFWILD2_CLASSES, CFCSP_NEGATIVE_CLASSES, AFFWILD2_TO_NEGATIVE),
}

#: RAF-AU: the 21 expression-related AUs AU-ViT uses ("the first 21" of the 26 coded AUs),
#: in ascending AU number. ``au_label[i]`` is AU ``RAFAU_AUS[i]``.
RAFAU_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27)
#: The AUs the AU-ViT paper lists for RAF-AU (ascending); AUs outside this list are ignored.
RAFAU_ALL_AUS = RAFAU_AUS + (28, 29, 35, 43)

_SYNONYMS = {
    'anger': 'anger', 'angry': 'anger', 'an': 'anger',
    'disgust': 'disgust', 'disgusted': 'disgust', 'di': 'disgust',
    'fear': 'fear', 'fearful': 'fear', 'afraid': 'fear', 'fe': 'fear',
    'happiness': 'happiness', 'happy': 'happiness', 'joy': 'happiness', 'ha': 'happiness',
    'sadness': 'sadness', 'sad': 'sadness', 'sa': 'sadness',
    'surprise': 'surprise', 'surprised': 'surprise', 'su': 'surprise',
    'neutral': 'neutral', 'ne': 'neutral',
    'contempt': 'contempt',
    'other': 'other',
    'negative': 'negative',  # CFC-SP coarse class: the four negative expressions merged
}  # fmt: skip


def canonical(name: str) -> str:
    """Canonical lower-case expression name, e.g. ``'Happy' -> 'happiness'``."""
    key = name.strip().lower()
    if key not in _SYNONYMS:
        raise KeyError(f'unknown expression name {name!r}; known: {sorted(set(_SYNONYMS.values()))}')
    return _SYNONYMS[key]


def name_label_map(src: Sequence[str], dst: Sequence[str]) -> dict[int, int]:
    """``{src_index: dst_index}`` by canonical name; -1 where ``dst`` lacks the class.

    >>> name_label_map(('Happy', 'Contempt'), ('Happiness', 'Sadness'))
    {0: 0, 1: -1}
    """
    dst_index = {canonical(n): i for i, n in enumerate(dst)}
    return {i: dst_index.get(canonical(n), -1) for i, n in enumerate(src)}


def resolve_label_group(name: str, native: Sequence[str]) -> tuple[tuple[str, ...], dict[int, int]]:
    """Target classes and ``{native_index: target_index}`` of the label group ``name``.

    The group's map is defined on its source order (Aff-Wild2 for the CFC-SP
    groups); a dataset with another native order is matched to it by name
    first, so ``label_map='affwild2_coarse'`` works on RAF-DB as on Aff-Wild2.
    A native class absent from the source order, or outside the group, maps
    to -1 (the dataset drops, counts and logs those samples).

    >>> resolve_label_group('affwild2_negative', AFFWILD2_CLASSES)[1]
    {0: -1, 1: 0, 2: 1, 3: 2, 4: -1, 5: 3, 6: -1, 7: -1}

    Raises:
        KeyError: unknown group name (the message lists the known ones).
    """
    if name not in LABEL_GROUPS:
        raise KeyError(f'unknown label group {name!r}; known: {sorted(LABEL_GROUPS)}')
    source, target, group_map = LABEL_GROUPS[name]
    to_source = name_label_map(native, source)
    return tuple(target), {i: (group_map[s] if s >= 0 else -1) for i, s in to_source.items()}
