"""Image resizing: Pillow beside StreamGale's numpy resampler, per size and method.

Both resize one float32 CT slice (the preprocessing input) to a model's input
size. The numpy side is the separable kernel resampler
(``streamgale.dicom.pixels.resample._separable_resize``, and for whole-factor
"area" shrinks its block mean); Pillow is ``Image.resize`` on a mode "F"
image with the same kernels (BILINEAR, BOX). Runs alternate and the best of
``--repeat`` is kept for each, so a busy machine slows both alike; the ratio
is numpy time / Pillow time (above 1: Pillow is faster). Also printed: the
largest difference between the two outputs, and which one ``resize`` uses.

    .venv/bin/python bench/resize.py
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from streamgale.dicom.pixels.resample import (
    Interpolation,
    _block_mean,
    _pillow_resize,
    _separable_resize,
)

CASES = [
    ((512, 512), (128, 128)),
    ((512, 512), (224, 224)),
    ((512, 512), (256, 256)),
    ((512, 512), (358, 358)),
    ((256, 256), (512, 512)),
    ((512, 512), (1024, 1024)),
]


def _numpy(image: np.ndarray, size: tuple[int, int], kind: Interpolation) -> np.ndarray:
    # The kernel resampler takes the block mean itself for whole-factor "area".
    return _separable_resize(image, *size, kind)


def _best(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    image = (np.random.default_rng(0).random((512, 512)) * 4000 - 1000).astype(np.float32)
    print(f"Pillow {Image.__version__}; best of {args.repeat}, one float32 slice")
    print("| from | to | method | numpy | Pillow | numpy/Pillow | max diff | resize uses |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for shape, size in CASES:
        source = image if shape == image.shape else image[: shape[0], : shape[1]].copy()
        for kind in (Interpolation.BILINEAR, Interpolation.AREA):
            ours = _best(lambda: _numpy(source, size, kind), args.repeat)  # noqa: B023
            pillow = _best(lambda: _pillow_resize(source, *size, kind), args.repeat)  # noqa: B023
            diff = np.abs(_numpy(source, size, kind) - _pillow_resize(source, *size, kind)).max()
            used = "numpy" if _block_mean(source.shape, size, kind) else "Pillow"
            print(
                f"| {shape[0]}x{shape[1]} | {size[0]}x{size[1]} | {kind.value} | {ours:.2f} ms "
                f"| {pillow:.2f} ms | {ours / pillow:.2f} | {diff:.1e} | {used} |"
            )


if __name__ == "__main__":
    main()
