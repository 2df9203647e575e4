"""Training-stream augmentation from Keras preprocessing layers, each part configurable or off.

The layers sit in front of the network in the *training* model only (they act when training=True),
so their random-seed state is saved with every checkpoint and a resumed run draws the same numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import keras
from keras import layers


@dataclass
class AugmentConfig:
    """Strengths of each augmentation; 0 (or False) turns that part off."""

    rotation_deg: float = 15.0
    zoom: float = 0.1
    shift: float = 0.1
    shear: float = 0.0
    flip: bool = True
    brightness: float = 0.1
    contrast: float = 0.1
    erasing: float = 0.25

    @classmethod
    def preset(cls, name: str) -> AugmentConfig:
        """``ours`` (default), ``report`` (rotation 30, zoom .15, shift .2, shear .15, flip) or ``none``."""
        if name == "ours":
            return cls()
        if name == "report":
            return cls(
                rotation_deg=30, zoom=0.15, shift=0.2, shear=0.15, flip=True, brightness=0, contrast=0, erasing=0
            )
        if name == "none":
            return cls(rotation_deg=0, zoom=0, shift=0, shear=0, flip=False, brightness=0, contrast=0, erasing=0)
        raise ValueError(f"unknown augmentation preset {name!r}; choose ours, report or none")

    def to_dict(self) -> dict:
        return asdict(self)


def build_augmenter(cfg: AugmentConfig, seed: int) -> list[keras.layers.Layer]:
    """The augmentation layers for ``cfg`` (raw 0..255 gray input), each seeded from ``seed``."""
    out: list[keras.layers.Layer] = []
    fill = {"fill_mode": "reflect"}
    if cfg.flip:
        out.append(layers.RandomFlip("horizontal", seed=seed, name="aug_flip"))
    if cfg.rotation_deg:
        out.append(layers.RandomRotation(cfg.rotation_deg / 360.0, seed=seed + 1, name="aug_rotate", **fill))
    if cfg.zoom:
        out.append(layers.RandomZoom(cfg.zoom, cfg.zoom, seed=seed + 2, name="aug_zoom", **fill))
    if cfg.shift:
        out.append(layers.RandomTranslation(cfg.shift, cfg.shift, seed=seed + 3, name="aug_shift", **fill))
    if cfg.shear:
        out.append(layers.RandomShear(cfg.shear, cfg.shear, seed=seed + 4, name="aug_shear", fill_mode="reflect"))
    if cfg.brightness:
        out.append(layers.RandomBrightness(cfg.brightness, value_range=(0, 255), seed=seed + 5, name="aug_bright"))
    if cfg.contrast:
        out.append(layers.RandomContrast(cfg.contrast, value_range=(0, 255), seed=seed + 6, name="aug_contrast"))
    if cfg.erasing:
        out.append(
            layers.RandomErasing(
                factor=cfg.erasing, scale=(0.02, 0.15), value_range=(0, 255), seed=seed + 7, name="aug_erase"
            )
        )
    return out
