"""Counts in messages people read: "1 image", "2 images", "1,204 faces"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` with thousands separators and ``noun``, made plural (``plural``, or ``noun + "s"``) unless n is 1."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
