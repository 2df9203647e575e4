"""``edge-fer filters``: what a layer's filters respond to, and what one face looks like inside the network.

Activation maximisation: start every filter from the same gray noise and climb the gradient of that
filter's mean activation with respect to the input pixels (normalised steps, pixels kept in 0..255).
One report drew this figure for its first layer and found most patterns stayed noise-like. Feature maps:
one face through the chosen layer, one tile per channel. Grids are drawn tile by tile with OpenCV, so a
grid's geometry says exactly how many tiles it has (:func:`grid_shape`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_fer.atomic import atomic_path
from edge_fer.errors import EdgeFerError
from edge_fer.preprocessing import INPUT_SIZE

#: Grid drawing: tile side (pixels, after upscaling), gap between tiles, header height, background.
TILE = 96
GAP = 4
HEADER = 28
BACKGROUND = 255


#: Gradient-ascent steps from noise: by about 40 the patterns of edgefer-s's layers stop changing visibly.
FILTER_STEPS = 40
#: Filters drawn per layer at most (an 8x8 grid stays legible).
MAX_FILTERS = 64


def conv_layers(model: Any) -> list[str]:
    """Names of the layers whose output is a spatial feature map (convolutions and what follows them)."""
    import keras

    names = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer | keras.layers.Rescaling | keras.layers.Dropout):
            continue
        shape = getattr(getattr(layer, "output", None), "shape", None)
        conv = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
        if shape is not None and len(shape) == 4 and isinstance(layer, conv):
            names.append(layer.name)
    return names


def resolve_layer(model: Any, name: str | None) -> str:
    """``name`` checked against the model (a clear error listing the choices), or the first conv layer."""
    convs = conv_layers(model)
    if name is None:
        if not convs:
            raise EdgeFerError(f"model {model.name} has no convolutional layer to inspect")
        return convs[0]
    spatial = [
        layer.name
        for layer in model.layers
        if len(getattr(getattr(layer, "output", None), "shape", ()) or ()) == 4 and layer.name != "face"
    ]
    if name not in spatial:
        raise EdgeFerError(f"no layer {name!r} with feature maps in {model.name}; choose one of: {', '.join(spatial)}")
    return name


def maximise_filters(
    model: Any,
    layer: str,
    steps: int = FILTER_STEPS,
    step_size: float = 4.0,
    max_filters: int | None = None,
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """(F, 48, 48) float32 images in 0..255, image f maximising the mean activation of filter f.
    ``on_step(done, steps)`` is called after each gradient-ascent step (all filters move together)."""
    import keras
    import tensorflow as tf

    probe = keras.Model(model.input, model.get_layer(layer).output)
    channels = int(probe.output.shape[-1])
    n = channels if max_filters is None else min(channels, max_filters)
    rng = np.random.default_rng(seed)
    noise = 128.0 + 20.0 * rng.standard_normal((1, INPUT_SIZE, INPUT_SIZE, 1))
    x = tf.Variable(np.repeat(noise, n, axis=0).astype(np.float32))
    pick = tf.one_hot(tf.range(n), channels)  # image f looks at channel f only
    for step in range(steps):
        with tf.GradientTape() as tape:
            act = probe(x, training=False)
            score = tf.reduce_sum(tf.reduce_mean(act, axis=(1, 2)) * pick)
        grad = tape.gradient(score, x)
        rms = tf.sqrt(tf.reduce_mean(tf.square(grad), axis=(1, 2, 3), keepdims=True)) + 1e-8
        x.assign(tf.clip_by_value(x + step_size * grad / rms, 0.0, 255.0))
        if on_step is not None:
            on_step(step + 1, steps)
    return x.numpy()[..., 0]


def feature_maps(model: Any, layer: str, face: np.ndarray) -> np.ndarray:
    """(H, W, C) activations of one (48, 48) face at ``layer``."""
    import keras

    probe = keras.Model(model.input, model.get_layer(layer).output)
    x = np.asarray(face, np.float32).reshape(1, INPUT_SIZE, INPUT_SIZE, 1)
    return np.asarray(probe(x, training=False))[0]


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) of a near-square grid for ``n`` tiles."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / cols)), cols


def tile_box(i: int, cols: int) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of tile ``i`` in a grid image."""
    r, c = divmod(i, cols)
    y0, x0 = HEADER + GAP + r * (TILE + GAP), GAP + c * (TILE + GAP)
    return y0, x0, y0 + TILE, x0 + TILE


def _stretch(img: np.ndarray) -> np.ndarray:
    """Contrast-stretch one tile to 0..255 (a constant tile becomes mid-gray)."""
    lo, hi = float(np.min(img)), float(np.max(img))
    if hi - lo < 1e-9:
        return np.full(img.shape, 128, np.uint8)
    return np.clip((img - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def draw_grid(
    tiles: list[np.ndarray], path: Path, title: str, colormap: int | None = None, gray_first: int = 0
) -> Path:
    """Tiles (each 2-D, any size) contrast-stretched, upscaled to TILE, on a white grid with a title;
    ``colormap`` colours all but the first ``gray_first`` tiles."""
    rows, cols = grid_shape(len(tiles))
    h, w = HEADER + GAP + rows * (TILE + GAP), GAP + cols * (TILE + GAP)
    canvas = np.full((h, w, 3), BACKGROUND, np.uint8)
    for i, tile in enumerate(tiles):
        img = cv2.resize(_stretch(np.asarray(tile, np.float32)), (TILE, TILE), interpolation=cv2.INTER_NEAREST)
        if colormap is not None and i >= gray_first:
            img = cv2.applyColorMap(img, colormap)
        else:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        y0, x0, y1, x1 = tile_box(i, cols)
        canvas[y0:y1, x0:x1] = img
    scale = min(0.45, (w - 2 * GAP) / (9.0 * max(len(title), 1)))  # shrink a long title to fit the grid
    cv2.putText(canvas, title, (GAP, HEADER - 9), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), canvas):
            raise EdgeFerError(f"{path}: could not write the PNG")
    return path


def inspect_filters(
    model_path: str | Path,
    layer: str | None = None,
    out_dir: str | Path = "runs/filters",
    face: str | Path | None = None,
    steps: int = FILTER_STEPS,
    max_filters: int | None = MAX_FILTERS,
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write ``filters_<layer>.png`` (activation maximisation) and, given a face, ``feature_maps_<layer>.png``
    (the face first, then one tile per channel). Returns what was written and how far each pattern moved.
    ``on_step(done, steps)``: progress through the gradient ascent."""
    from edge_fer.training.explain import faces_in_image, load_keras_model

    model, _, clf = load_keras_model(model_path)
    name = resolve_layer(model, layer)
    out = Path(out_dir)
    patterns = maximise_filters(model, name, steps=steps, max_filters=max_filters, seed=seed, on_step=on_step)
    start = maximise_filters(model, name, steps=0, max_filters=max_filters, seed=seed)
    channels = int(model.get_layer(name).output.shape[-1])
    filters_png = draw_grid(
        list(patterns), out / f"filters_{name}.png", f"{name}: {len(patterns)}/{channels} filters, max activation"
    )
    report: dict[str, Any] = {
        "model": str(model_path),
        "layer": name,
        "filters": len(patterns),
        "channels": channels,
        "filters_png": str(filters_png),
        # How far each pattern moved from its starting noise (0..255 scale): ~0 means the filter stayed noise.
        "mean_change": [round(float(v), 2) for v in np.abs(patterns - start).mean(axis=(1, 2))],
        "feature_maps_png": None,
    }
    if face is not None:
        faces, _ = faces_in_image(Path(face), clf)
        if len(faces) == 0:
            raise EdgeFerError(f"{face}: no face found for the feature maps")
        maps = feature_maps(model, name, faces[0])
        tiles = [faces[0], *np.moveaxis(maps, -1, 0)]
        report["feature_maps_png"] = str(
            draw_grid(
                tiles,
                out / f"feature_maps_{name}.png",
                f"{Path(face).name} -> {name}: input, then {maps.shape[-1]} maps {maps.shape[0]}x{maps.shape[1]}",
                colormap=cv2.COLORMAP_VIRIDIS,
                gray_first=1,
            )
        )
        report["feature_map_channels"] = int(maps.shape[-1])
    return report
