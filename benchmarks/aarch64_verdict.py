"""The one-line verdict of ``benchmarks/aarch64.sh``: did every aarch64 run agree with x86?

    python benchmarks/aarch64_verdict.py COMPARISONS.jsonl [--context TEXT] [--date YYYY-MM-DD]

COMPARISONS.jsonl holds one ``compare_outputs.py --json --case NAME --group GROUP`` object per line. Groups:
``same-pixels`` (a JPEG, or the lossless clip: both platforms decode identical pixels, so any difference is the
runtime's) and ``decoded`` (the H.264 file, which each platform's OpenCV decodes slightly differently; see
``lossless_clip.py``). Each comparison was already judged against its own tolerance; this only sums them up.

Prints one line that starts ``aarch64: PASS`` or ``aarch64: FAIL``. Exit codes: 0 pass, 1 fail, 2 unreadable
input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_outputs import json_lines

GROUP_WORDS = {
    "same-pixels": "on identical pixels",
    "decoded": "on the H.264 video each platform decodes itself",
}


class VerdictError(ValueError):
    """A comparisons file that is missing, empty or not compare_outputs.py JSON lines."""


def load_comparisons(path: Path) -> list[dict[str, Any]]:
    """The comparison objects of a JSON-lines file; raises VerdictError when unusable."""
    rows = []
    for n, row in json_lines(path, VerdictError):
        if not isinstance(row, dict) or not {"case", "group", "agree", "faces", "max_prob_diff", "tol"} <= row.keys():
            raise VerdictError(f"{path}:{n}: not a compare_outputs.py --json object")
        rows.append(row)
    if not rows:
        raise VerdictError(f"{path}: no comparisons (did every run fail?)")
    return rows


def verdict_line(rows: list[dict[str, Any]], context: str = "", date: str | None = None) -> tuple[bool, str]:
    """``(passed, line)``: one line naming how many runs agreed, the faces compared and, per group, the largest
    probability difference against its tolerance; a failure names the first disagreeing case and its first
    problem. ``date`` defaults to today (UTC)."""
    date = date or dt.datetime.now(dt.timezone.utc).date().isoformat()
    failed = [r for r in rows if not r["agree"]]
    faces = sum(int(r["faces"]) for r in rows)
    parts = []
    for group in dict.fromkeys(r["group"] for r in rows):
        members = [r for r in rows if r["group"] == group]
        worst = max(float(r["max_prob_diff"]) for r in members)
        tol = max(float(r["tol"]) for r in members)
        parts.append(f"{worst:.4f} {GROUP_WORDS.get(group, group)} (tol {tol:g})")
    where = f" {context}" if context else ""
    head = "PASS" if not failed else "FAIL"
    agree = f"{len(rows) - len(failed)} of {len(rows)} runs agree with x86"
    detail = f"{faces} faces; max probability difference " + ", ".join(parts)
    if failed:
        first = failed[0]
        problem = (first.get("problems") or ["no detail"])[0]
        detail += f"; first difference: {first['case']}: {problem}"
    else:
        detail = "same faces and labels, " + detail
    return not failed, f"aarch64: {head} ({date}){where}: {agree}: {detail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("comparisons", type=Path)
    ap.add_argument("--context", default="", help="what ran where, e.g. the Python and qemu versions")
    ap.add_argument("--date", default=None, help="the date to print (default: today, UTC)")
    args = ap.parse_args(argv)
    try:
        passed, line = verdict_line(load_comparisons(args.comparisons), args.context, args.date)
    except VerdictError as exc:
        print(f"aarch64_verdict: error: {exc}", file=sys.stderr)
        return 2
    print(line)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
