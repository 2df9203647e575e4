"""Compare two runs of ``edge-fer predict --json`` or ``edge-fer webcam --json-out``: same faces, same labels,
probabilities within a tolerance.

    python benchmarks/compare_outputs.py REFERENCE CANDIDATE [--tol 0.02] [--min-iou 0.5]
                                         [--json [--case NAME] [--group NAME]]

Why: ``benchmarks/aarch64.sh`` runs the same commands on x86 and on aarch64 (under emulation) and must decide
whether the two architectures agree. Both files hold JSON lines: ``predict`` writes one object per image
(``{"image": ..., "faces": [...]}``), ``webcam`` one per frame (``{"frame": ..., "faces": [...]}``); a face is
``{"box": [x, y, w, h], "label": ..., "probs": {label: p}}``. Records pair up by image path or frame index. Faces
pair up greedily by box overlap (IoU), not by exact box: the float detector may round differently on another
CPU and move a box by a pixel; a pair below ``--min-iou`` counts as a different face.

``--json`` prints one object (``case`` and ``group`` label it for ``aarch64_verdict.py``).

Exit codes: 0 the runs agree, 1 they differ (each difference on stderr), 2 a file is missing or not such JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Largest allowed absolute difference of any class probability between the two runs (issue 21).
DEFAULT_TOL = 0.02
#: Smallest box overlap (intersection over union) for two faces to count as the same face.
DEFAULT_MIN_IOU = 0.5


class OutputError(ValueError):
    """A file that is not the JSON lines of ``predict --json`` or ``webcam --json-out``."""


@dataclass
class Comparison:
    """What two runs share and where they part: ``problems`` is empty when they agree."""

    records: int = 0
    faces: int = 0
    max_prob_diff: float = 0.0
    min_iou: float = 1.0
    problems: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return not self.problems

    def summary(self, tol: float) -> dict[str, Any]:
        """The JSON form: agreement, counts, worst differences, the tolerance used and every problem."""
        return {
            "agree": self.agree,
            "tol": tol,
            "records": self.records,
            "faces": self.faces,
            "max_prob_diff": round(self.max_prob_diff, 6),
            "min_iou": round(self.min_iou, 4),
            "problems": self.problems,
        }


def iou(a: list[float], b: list[float]) -> float:
    """Intersection over union of two ``[x, y, w, h]`` boxes (pixels); 0.0 when either is empty."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _record_key(obj: dict[str, Any], line_no: int, path: Path) -> str:
    if "frame" in obj:
        return f"frame {obj['frame']}"
    if "image" in obj:
        return f"image {obj['image']}"
    raise OutputError(f"{path}:{line_no}: a record needs 'frame' or 'image'")


def _check_face(face: Any, where: str) -> dict[str, Any]:
    ok = (
        isinstance(face, dict)
        and isinstance(face.get("box"), list)
        and len(face["box"]) == 4
        and isinstance(face.get("label"), str)
        and isinstance(face.get("probs"), dict)
    )
    if not ok:
        raise OutputError(f"{where}: a face needs 'box' [x, y, w, h], 'label' and 'probs'")
    return face


def json_lines(path: Path, error: type[ValueError]) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for each non-blank line of a JSON-lines file; raises ``error`` naming the file
    (and line) when it cannot be read or a line is not JSON. Shared with ``aarch64_verdict.py``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from exc
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{path}:{line_no}: not JSON ({exc.msg})") from exc
        yield line_no, value


def load_records(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Faces per record (``"image PATH"`` or ``"frame N"``) of a JSON-lines file, in file order.

    Raises OutputError for a missing file, a line that is not JSON, or a record without faces."""
    records: dict[str, list[dict[str, Any]]] = {}
    for line_no, obj in json_lines(path, OutputError):
        if not isinstance(obj, dict) or not isinstance(obj.get("faces"), list):
            raise OutputError(f"{path}:{line_no}: a record needs a 'faces' list")
        key = _record_key(obj, line_no, path)
        records[key] = [_check_face(f, f"{path}:{line_no}") for f in obj["faces"]]
    if not records:
        raise OutputError(f"{path}: no records (an empty run?)")
    return records


def _pair_faces(ref: list[dict[str, Any]], cand: list[dict[str, Any]]) -> list[tuple[int, int, float]]:
    """Greedy pairing by descending IoU: ``(ref index, cand index, iou)`` for every pair with IoU > 0."""
    scored = sorted(
        ((iou(r["box"], c["box"]), i, j) for i, r in enumerate(ref) for j, c in enumerate(cand)), reverse=True
    )
    used_r: set[int] = set()
    used_c: set[int] = set()
    pairs = []
    for score, i, j in scored:
        if score <= 0 or i in used_r or j in used_c:
            continue
        used_r.add(i)
        used_c.add(j)
        pairs.append((i, j, score))
    return sorted(pairs)


def compare_faces(
    key: str, ref: list[dict[str, Any]], cand: list[dict[str, Any]], result: Comparison, tol: float, min_iou: float
) -> None:
    """Add one record's faces to ``result``: counts, worst IoU and probability difference, and problems."""
    if len(ref) != len(cand):
        result.problems.append(f"{key}: {len(ref)} faces in the reference, {len(cand)} in the candidate")
    pairs = _pair_faces(ref, cand)
    for i, j, overlap in pairs:
        r, c = ref[i], cand[j]
        where = f"{key}, face at {r['box']}"
        result.faces += 1
        result.min_iou = min(result.min_iou, overlap)
        if overlap < min_iou:
            result.problems.append(f"{where}: box {c['box']} overlaps it only {overlap:.2f} (< {min_iou})")
        if r["label"] != c["label"]:
            result.problems.append(f"{where}: label {r['label']} in the reference, {c['label']} in the candidate")
        if set(r["probs"]) != set(c["probs"]):
            result.problems.append(f"{where}: labels differ: {sorted(r['probs'])} vs {sorted(c['probs'])}")
            continue
        diff = max(abs(float(r["probs"][k]) - float(c["probs"][k])) for k in r["probs"])
        result.max_prob_diff = max(result.max_prob_diff, diff)
        if diff > tol:
            result.problems.append(f"{where}: probabilities differ by up to {diff:.4f} (> {tol})")
    if len(pairs) < min(len(ref), len(cand)):
        result.problems.append(f"{key}: {min(len(ref), len(cand)) - len(pairs)} faces have no overlapping peer")


def compare_records(
    ref: dict[str, list[dict[str, Any]]],
    cand: dict[str, list[dict[str, Any]]],
    tol: float = DEFAULT_TOL,
    min_iou: float = DEFAULT_MIN_IOU,
) -> Comparison:
    """Compare two runs' records (as :func:`load_records` returns them) face by face."""
    result = Comparison()
    for key, faces in ref.items():
        if key not in cand:
            result.problems.append(f"{key}: only in the reference")
            continue
        result.records += 1
        compare_faces(key, faces, cand[key], result, tol, min_iou)
    result.problems.extend(f"{key}: only in the candidate" for key in cand if key not in ref)
    return result


def compare_files(
    reference: Path, candidate: Path, tol: float = DEFAULT_TOL, min_iou: float = DEFAULT_MIN_IOU
) -> Comparison:
    """:func:`compare_records` on two JSON-lines files; raises OutputError for an unusable file."""
    return compare_records(load_records(reference), load_records(candidate), tol, min_iou)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference", type=Path, help="JSON lines of the reference run (x86)")
    ap.add_argument("candidate", type=Path, help="JSON lines of the run to check (aarch64)")
    ap.add_argument("--tol", type=float, default=DEFAULT_TOL, help="largest probability difference allowed")
    ap.add_argument("--min-iou", type=float, default=DEFAULT_MIN_IOU, help="smallest box overlap of one face")
    ap.add_argument("--json", action="store_true", help="print the comparison as one JSON object")
    ap.add_argument("--case", default="", help="with --json: a name for this comparison")
    ap.add_argument("--group", default="", help="with --json: the group it counts in (e.g. same-pixels)")
    args = ap.parse_args(argv)
    try:
        result = compare_files(args.reference, args.candidate, args.tol, args.min_iou)
    except OutputError as exc:
        print(f"compare_outputs: error: {exc}", file=sys.stderr)
        return 2
    for problem in result.problems:
        print(f"compare_outputs: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps({"case": args.case, "group": args.group, **result.summary(args.tol)}))
    else:
        state = "agree" if result.agree else f"DIFFER ({len(result.problems)} differences)"
        print(
            f"{state}: {result.records} records, {result.faces} faces paired, "
            f"max probability difference {result.max_prob_diff:.4f} (tol {args.tol}), min IoU {result.min_iou:.3f}"
        )
    return 0 if result.agree else 1


if __name__ == "__main__":
    sys.exit(main())
