"""Counts in messages read as English."""

from edge_fer.wording import counted


def test_counted() -> None:
    assert counted(1, "image") == "1 image"
    assert counted(0, "face") == "0 faces"
    assert counted(2, "face") == "2 faces"
    assert counted(28709, "face") == "28,709 faces"
    assert counted(1, "match", "matches") == "1 match" and counted(3, "match", "matches") == "3 matches"
