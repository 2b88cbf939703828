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
