"""Where BlazeFace puts a FER2013 face, and the crop geometry that reproduces FER2013's framing.

Each training face (48x48, a FER2013 crop) is enlarged and set into a gray frame as in
``benchmarks/robustness.py``, so the FER2013 crop's square in the frame is known exactly. Each detector's box
and eye keypoints are measured against it: the crop's side over the box's (``scale``), and the crop centre's
offset below the midpoint of the eyes along the face's vertical (``eye_dy``) and below the box centre
(``box_dy``), both in crop sides. Medians are what ``edge_fer.preprocessing.FER2013_FRAMING`` holds.

    python benchmarks/framing.py --limit 600
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from robustness import FACE_PX, FRAME_H, FRAME_W, REPO, set_in_frame, val_faces


def measure(faces: list[np.ndarray], kind: str, face_px: int = FACE_PX) -> dict[str, float]:
    """Median and spread of ``scale``, ``eye_dy`` and ``box_dy`` for detector ``kind`` over ``faces``."""
    from edge_fer.detectors import BlazeFace

    det = BlazeFace(kind, threads=1)
    left, top = (FRAME_W - face_px) // 2, (FRAME_H - face_px) // 2
    crop_centre = np.array([left + face_px / 2, top + face_px / 2])
    rows = []
    for face in faces:
        found = det(set_in_frame(face, face_px))
        if not len(found):
            continue
        _, y, w, h = found[0, :4]
        right_eye, left_eye = found[0, 5:7], found[0, 7:9]
        eyes = (right_eye + left_eye) / 2
        across = (left_eye - right_eye) / max(float(np.linalg.norm(left_eye - right_eye)), 1e-6)
        down = np.array([-across[1], across[0]])
        rows.append(
            [
                face_px / max(w, h),
                float((crop_centre - eyes) @ down) / face_px,
                (crop_centre[1] - (y + h / 2)) / face_px,
            ]
        )
    a = np.array(rows)
    return {
        "detector": kind,
        "found": len(a) / len(faces),
        "scale": float(np.median(a[:, 0])),
        "scale_spread": float(a[:, 0].std() / a[:, 0].mean()),
        "eye_dy": float(np.median(a[:, 1])),
        "box_dy": float(np.median(a[:, 2])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "datasets" / "fer2013" / "train")
    parser.add_argument("--limit", type=int, default=600, help="A seeded random subset of this many faces.")
    args = parser.parse_args(argv)
    faces, _, _ = val_faces(args.faces, args.limit)
    for kind in ("short", "full"):
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in measure(faces, kind).items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
