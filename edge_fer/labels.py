"""The one definition of the emotion labels, shared by training, export and runtime."""

from __future__ import annotations

#: Canonical label order: the model's output index i means LABELS[i]. Alphabetical, as the
#: image-folder layout of the common Kaggle download lists them.
LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")

#: The original fer2013.csv numbers its emotions differently (0-6 = angry, disgust, fear, happy,
#: sad, surprise, neutral); this maps a CSV id to its canonical name.
FER2013_CSV_IDS: dict[int, str] = {
    0: "angry",
    1: "disgust",
    2: "fear",
    3: "happy",
    4: "sad",
    5: "surprise",
    6: "neutral",
}

NUM_CLASSES = len(LABELS)


def label_index(name: str) -> int:
    """Index of a label name in LABELS; raises KeyError naming the valid labels."""
    try:
        return LABELS.index(name)
    except ValueError:
        raise KeyError(f"unknown label {name!r}; expected one of {', '.join(LABELS)}") from None
