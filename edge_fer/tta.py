"""Test-time flip averaging: the mirrored face's prediction averaged in, always or only where the model is unsure.

Adaptive flipping buys most of the accuracy of always flipping for a fraction of its cost: a confident
prediction rarely changes when the face is mirrored. A model's policy travels in its metadata
(``tta``), so every command that loads the model applies it the same way; ``mode='none'`` runs the bare model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_fer.choices import TTA
from edge_fer.errors import EdgeFerError, ModelError
from edge_fer.metadata import ModelMeta, read_meta, write_meta

TTA_MODES = tuple(m.value for m in TTA)
POLICY_KIND = "flip-below-confidence"


class FlipTTA:
    """A classifier that averages in the mirrored face for faces whose top probability is below ``below``
    (every face when ``below`` is None); counts how many it mirrored."""

    def __init__(self, inner: Any, below: float | None = None):
        self.inner, self.below = inner, below
        self.meta: ModelMeta = inner.meta
        self.backend: str = inner.backend
        self.path: Path = inner.path
        self.faces = 0
        self.flipped = 0

    def predict(self, faces: np.ndarray) -> np.ndarray:
        probs = np.array(self.inner.predict(faces), np.float32, copy=True)
        unsure = np.arange(len(faces)) if self.below is None else np.flatnonzero(probs.max(axis=1) < self.below)
        if len(unsure):
            mirrored = np.ascontiguousarray(faces[unsure][:, :, ::-1])
            probs[unsure] = (probs[unsure] + self.inner.predict(mirrored)) / 2.0
        self.faces += len(faces)
        self.flipped += len(unsure)
        return probs

    @property
    def flipped_fraction(self) -> float:
        return self.flipped / self.faces if self.faces else 0.0

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "tta": self.policy()}

    def policy(self) -> dict[str, Any]:
        """What this wrapper does, for reports."""
        if self.below is None:
            return {"mode": "flip"}
        return {"mode": POLICY_KIND, "below_confidence": self.below}


def with_tta(classifier: Any, mode: str = "model") -> Any:
    """``classifier`` under a flip policy: the model's own (``model``; bare if it has none), none, or always."""
    if mode not in TTA_MODES:
        raise EdgeFerError(f"unknown test-time augmentation {mode!r}; choose one of {', '.join(TTA_MODES)}")
    if mode == "none":
        return classifier
    if mode == "flip":
        return FlipTTA(classifier)
    policy = classifier.meta.extra.get("tta")
    if not policy:
        return classifier
    if policy.get("mode") != POLICY_KIND or not isinstance(policy.get("below_confidence"), (int, float)):
        raise ModelError(f"model {classifier.path}: test-time policy {policy} is not one this runtime implements")
    return FlipTTA(classifier, float(policy["below_confidence"]))


def tta_description(classifier: Any) -> dict[str, Any] | None:
    """The policy a (possibly wrapped) classifier applies, with the share of faces it mirrored so far."""
    if not isinstance(classifier, FlipTTA):
        return None
    return {**classifier.policy(), "flipped_fraction": round(classifier.flipped_fraction, 4)}


def describe_tta(report: dict[str, Any]) -> str:
    """One line for people: what a report's policy did."""
    share = f"mirrored {report.get('flipped_fraction', 0):.1%} of faces"
    if report.get("mode") == "flip":
        return f"{share} (always)"
    return f"{share} (those with top probability below {report['below_confidence']:.3f})"


def check_flip_budget(budget: float) -> None:
    """Refuse a budget that is not a share of faces (callers check before any costly work)."""
    if not 0.0 < budget < 1.0:
        raise EdgeFerError(f"flip budget {budget}: give the share of faces to mirror, between 0 and 1 (e.g. 0.3)")


def flip_threshold(top_probs: np.ndarray, budget: float) -> float:
    """The confidence below which a ``budget`` share of these faces falls: the adaptive policy's cut."""
    check_flip_budget(budget)
    if len(top_probs) == 0:
        raise EdgeFerError("flip budget: no faces to set the confidence cut on")
    return float(np.quantile(np.asarray(top_probs, np.float64), budget))


def set_flip_policy(classifier: Any, faces: np.ndarray, budget: float, source: str) -> dict[str, Any]:
    """Choose the cut that mirrors ``budget`` of ``faces`` (training faces, never validation: no labels are
    used, only the model's confidence) and write it into the model's sidecar."""
    top = np.concatenate([classifier.predict(faces[i : i + 256]).max(axis=1) for i in range(0, len(faces), 256)])
    policy = {
        "mode": POLICY_KIND,
        "below_confidence": round(flip_threshold(top, budget), 6),
        "budget": budget,
        "chosen_on": {"faces": len(faces), "source": source},
    }
    meta = read_meta(classifier.path) or classifier.meta
    meta.extra = {**meta.extra, "tta": policy}
    write_meta(classifier.path, meta)
    classifier.meta = meta
    return policy
