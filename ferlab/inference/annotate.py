"""Draw inference results on an image: face boxes, the label and a probability bar per face.

:func:`draw_results` is used for annotated images (``tools/infer.py
--save-annotated``) and for the frames of annotated videos.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

#: BGR colours cycled over face ids.
PALETTE = ((0, 200, 0), (0, 140, 255), (255, 120, 0), (200, 0, 200), (0, 200, 200), (60, 60, 255))


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, color, thickness: int = 1) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv2.LINE_AA)


def draw_results(image: np.ndarray, rows: Sequence[dict], classes: Sequence[str]) -> np.ndarray:
    """A copy of ``image`` with each face of ``rows`` drawn on it.

    For each row with ``face_found=1``: its box, ``"<face_id> <label> <p>"``
    above it, and a bar chart of the class probabilities (one bar per class,
    length proportional to the probability, the label's bar filled) beside
    the box (right of it, or left when there is no room). Rows without a face
    draw nothing; an image with none of them gets ``"no face"`` in a corner.

    Args:
        image: BGR uint8 ``(H, W, 3)``.
        rows: Result rows of this image/frame (see :mod:`ferlab.inference.writers`).
        classes: Class names (the probability columns of the rows).

    Returns:
        BGR uint8 ``(H, W, 3)``.
    """
    out = np.ascontiguousarray(image.copy())
    h_img, w_img = out.shape[:2]
    scale = max(0.35, min(1.0, max(h_img, w_img) / 1000.0))
    line = int(22 * scale) + 4
    faces = [r for r in rows if int(r.get('face_found') or 0) == 1]
    if not faces:
        _text(out, 'no face', (5, line), scale, (0, 0, 255))
        return out
    for r in faces:
        x, y, w, h = (int(r[k]) for k in ('x', 'y', 'w', 'h'))
        fid = int(r['face_id']) if r.get('face_id') not in (None, '') else 0
        color = PALETTE[fid % len(PALETTE)]
        thick = max(1, int(round(2 * scale)))
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick)
        label = str(r.get('label'))
        p = float(r[label]) if label in r and r[label] not in (None, '') else float('nan')
        _text(out, f'{fid} {label} {p:.2f}', (x, max(line, y - 6)), scale, color, thick)
        bar_w = max(40, int(w * 0.6))
        text_w = max(cv2.getTextSize(c, cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, 1)[0][0] for c in classes)
        panel_w = text_w + bar_w + 8
        bx = x + w + 6 if x + w + 6 + panel_w <= w_img else max(0, x - 6 - panel_w)
        for i, c in enumerate(classes):
            value = r.get(c)
            prob = float(value) if value not in (None, '') else 0.0
            ty = y + (i + 1) * line
            if ty > h_img:
                break
            _text(out, c, (bx, ty - 4), scale * 0.8, (255, 255, 255))
            x0 = bx + text_w + 4
            cv2.rectangle(out, (x0, ty - line + 6), (x0 + bar_w, ty - 2), (90, 90, 90), 1)
            fill = (x0 + int(round(bar_w * min(max(prob, 0.0), 1.0))), ty - 2)
            cv2.rectangle(out, (x0, ty - line + 6), fill, color if c == label else (200, 200, 200), -1)
    return out
