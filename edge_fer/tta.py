"""Test-time augmentation: predictions on other views of a face (its mirror image; optionally the face and its
mirror rolled by a few degrees) averaged in, always or only where the model is unsure.

Adaptive averaging buys most of the accuracy of always averaging for a fraction of its cost: a confident
prediction rarely changes when the face is mirrored or rolled. A model's policy travels in its metadata
(``tta``), so every command that loads the model applies it the same way; ``mode='none'`` runs the bare model.
Two policies exist: ``flip-below-confidence`` (one extra view, the mirror) and ``views-below-confidence``
(the mirror, plus the face and its mirror rolled by +-``roll_deg``: five extra views, as the multi-view testing of
Krizhevsky et al. 2012 and the ten-crop evaluations of FER2013 networks, with rolls instead of crops because
roll is what a 48x48 face crop varies in most; measured in docs/experiments.md, section 5).
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
VIEWS_KIND = "views-below-confidence"
MAX_ROLL_DEG = 30.0  # beyond this a rolled face is no longer "the same face, slightly tilted"


def extra_views(roll_deg: float = 0.0) -> tuple[tuple[float, bool], ...]:
    """The views averaged in besides the face itself, as (roll in degrees, mirrored): the mirror alone, or with
    ``roll_deg`` > 0 also the face and its mirror rolled by +-roll_deg."""
    if roll_deg == 0:
        return ((0.0, True),)
    return ((0.0, True), (roll_deg, False), (-roll_deg, False), (roll_deg, True), (-roll_deg, True))


def check_roll(roll_deg: float) -> None:
    if not 0.0 <= roll_deg <= MAX_ROLL_DEG:
        raise EdgeFerError(f"test-time roll {roll_deg} degrees: give 0 (mirror only) to {MAX_ROLL_DEG:g} (e.g. 8)")


def view_of(faces: np.ndarray, roll_deg: float, mirrored: bool) -> np.ndarray:
    """``faces`` (N, H, W, 1), mirrored left-right and/or rolled by ``roll_deg`` degrees (counter-clockwise)
    about the crop's centre, edges replicated; same shape and dtype."""
    out = faces[:, :, ::-1] if mirrored else faces
    if roll_deg:
        import cv2

        h, w = faces.shape[1:3]
        m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), roll_deg, 1.0)
        out = np.stack([cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REPLICATE) for f in out[..., 0]])
        return out[..., None].astype(faces.dtype, copy=False)
    return np.ascontiguousarray(out)


class FlipTTA:
    """A classifier that averages in other views of the faces whose top probability is below ``below`` (every
    face when ``below`` is None): the mirror, and with ``roll_deg`` > 0 the face and its mirror rolled by
    +-roll_deg; counts how many faces it gave the extra views (``flipped``)."""

    def __init__(self, inner: Any, below: float | None = None, roll_deg: float = 0.0):
        check_roll(roll_deg)
        self.inner, self.below, self.roll_deg = inner, below, float(roll_deg)
        self.views = extra_views(self.roll_deg)
        self.meta: ModelMeta = inner.meta
        self.backend: str = inner.backend
        self.path: Path = inner.path
        self.faces = 0
        self.flipped = 0

    def predict(self, faces: np.ndarray) -> np.ndarray:
        probs = np.array(self.inner.predict(faces), np.float32, copy=True)
        unsure = np.arange(len(faces)) if self.below is None else np.flatnonzero(probs.max(axis=1) < self.below)
        if len(unsure):
            some = faces[unsure]
            total = probs[unsure]
            for roll, mirrored in self.views:
                total = total + self.inner.predict(view_of(some, roll, mirrored))
            probs[unsure] = total / (1 + len(self.views))
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
        if self.roll_deg:
            return {"mode": VIEWS_KIND, "below_confidence": self.below, "roll_deg": self.roll_deg}
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
    mode = policy.get("mode")
    roll = policy.get("roll_deg", 0.0) if mode == VIEWS_KIND else 0.0
    number = (int, float)
    rolls_ok = mode == POLICY_KIND or (isinstance(roll, number) and 0 < roll <= MAX_ROLL_DEG)
    if mode not in (POLICY_KIND, VIEWS_KIND) or not isinstance(policy.get("below_confidence"), number) or not rolls_ok:
        raise ModelError(
            f"model {classifier.path}: test-time policy {policy} is not one this runtime implements; upgrade edge-fer"
        )
    return FlipTTA(classifier, float(policy["below_confidence"]), float(roll))


def tta_description(classifier: Any) -> dict[str, Any] | None:
    """The policy a (possibly wrapped) classifier applies, with the share of faces it mirrored so far."""
    if not isinstance(classifier, FlipTTA):
        return None
    return {**classifier.policy(), "flipped_fraction": round(classifier.flipped_fraction, 4)}


def policy_views(policy: dict[str, Any]) -> str:
    """What a policy does to the faces it averages, for people: "mirrors" or "mirrors and rolls +-8 degrees"."""
    return f"mirrors and rolls +-{policy['roll_deg']:g} degrees" if policy.get("roll_deg") else "mirrors"


def describe_tta(report: dict[str, Any]) -> str:
    """One line for people: what a report's policy did."""
    views = f"mirrored and rolled +-{report['roll_deg']:g} degrees" if report.get("roll_deg") else "mirrored"
    share = f"{views} {report.get('flipped_fraction', 0):.1%} of faces"
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


def set_flip_policy(
    classifier: Any, faces: np.ndarray, budget: float, source: str, roll_deg: float = 0.0
) -> dict[str, Any]:
    """Choose the cut that gives ``budget`` of ``faces`` the extra views (training faces, never validation: no
    labels are used, only the model's confidence) and write it into the model's sidecar. ``roll_deg`` > 0 adds
    the rolled views (policy ``views-below-confidence``); 0 mirrors only (``flip-below-confidence``)."""
    check_roll(roll_deg)
    top = np.concatenate([classifier.predict(faces[i : i + 256]).max(axis=1) for i in range(0, len(faces), 256)])
    policy: dict[str, Any] = {
        "mode": VIEWS_KIND if roll_deg else POLICY_KIND,
        "below_confidence": round(flip_threshold(top, budget), 6),
        "budget": budget,
        "chosen_on": {"faces": len(faces), "source": source},
    }
    if roll_deg:
        policy["roll_deg"] = float(roll_deg)
    meta = read_meta(classifier.path) or classifier.meta
    meta.extra = {**meta.extra, "tta": policy}
    write_meta(classifier.path, meta)
    classifier.meta = meta
    return policy
