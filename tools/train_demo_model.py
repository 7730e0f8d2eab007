"""Train StreamGale's DEMO lesion model on synthetic CT phantoms and export it to ONNX.

This is a demo model. It has only ever seen the synthetic phantoms of
``streamgale.dicom.synthetic`` (a drawn chest with round "lesions" in the
lungs); it knows nothing about real anatomy or real disease and is not for
clinical use. It exists so that the pipeline has a real network to run, batch
and time. Users bring their own model (an ONNX file plus a ``model.yaml``).

What it does:

1. Generates phantom slices with and without lesions. Each slice goes through
   exactly the serving preprocessing: Hounsfield units -> LUNG window
   (center -600, width 1500, PS3.3 C.11.2.1.2.1 linear function) -> [0, 1]
   float32 -> resize to 128 x 128. Slices are made at 512 and resized by area,
   bilinear or nearest (the model must not care which resize a site uses), or
   made at 128 directly. The lesion circles of each phantom give the exact
   segmentation ground truth.
2. Trains a tiny U-Net (about 40k parameters) with Dice + BCE on the mask and
   BCE on a per-image score (max of the smoothed mask logits, scaled), on CPU.
3. Exports to ONNX (opset 17, dynamic batch): input ``image`` (N, 1, 128, 128),
   outputs ``mask`` (N, 1, 128, 128) probabilities and ``lesion_probability``
   (N, 1); checks ONNX Runtime against PyTorch.
4. Picks the lesion threshold on a validation split, then evaluates the ONNX
   model on a held-out synthetic set (different seeds) and through the DICOM
   path (``ct_series`` -> Part 10 bytes -> pixel_array -> modality LUT -> lung
   window -> resize -> model). Writes ``model.onnx``, ``model.yaml`` and
   ``metrics.json`` into ``--out``.

The committed model (``src/streamgale/models/demo_lesion``) was made with::

    python3 -m venv .train-venv
    .train-venv/bin/pip install torch==2.13.0 numpy onnx onnxscript onnxruntime pydicom
    .train-venv/bin/pip install -e .
    .train-venv/bin/python tools/train_demo_model.py \\
        --out src/streamgale/models/demo_lesion --train-slices 4000 --epochs 3 --seed 0

Re-evaluate the committed model without training::

    .train-venv/bin/python tools/train_demo_model.py \\
        --out src/streamgale/models/demo_lesion --eval-only

(``torch==2.13.0`` resolves to the CPU wheel here; plain ``torch`` would pull
the CUDA packages.) Training is deterministic for a given seed on a given
machine; another CPU may round differently and land on slightly different
weights.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from streamgale.dicom.synthetic import PhantomSpec, ct_series, phantom_slice

FloatArray = npt.NDArray[np.float32]

INPUT_SIZE = 128
SOURCE_SIZE = 512
LUNG_WINDOW = (-600.0, 1500.0)  # (WindowCenter, WindowWidth), PS3.16 / common lung preset
RESIZE_METHODS = ("area", "bilinear", "nearest")
WIDTHS = (8, 16, 32, 32)
BATCH_SIZE = 32
LEARNING_RATE = 1e-2
OPSET = 17


# --------------------------------------------------------------------------- preprocessing


def lung_window(hu: npt.NDArray[Any]) -> FloatArray:
    """HU -> [0, 1] with the DICOM linear VOI function (PS3.3 C.11.2.1.2.1), lung preset."""
    center, width = LUNG_WINDOW
    scaled = (hu.astype(np.float32) - (center - 0.5)) / (width - 1.0) + 0.5
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def resize(image: FloatArray, size: int, method: str) -> FloatArray:
    """Resize a square 2-D image to ``size`` x ``size`` (area, bilinear or nearest)."""
    n = image.shape[0]
    if n == size:
        return image.astype(np.float32)
    if method == "area" and n % size == 0:
        f = n // size
        return image.reshape(size, f, size, f).mean(axis=(1, 3), dtype=np.float32)
    # Half-pixel centres, as PIL / OpenCV / torch (align_corners=False) sample.
    src = (np.arange(size, dtype=np.float64) + 0.5) * n / size - 0.5
    if method == "nearest":
        idx = np.clip(np.floor(src + 0.5), 0, n - 1).astype(np.intp)
        return image[np.ix_(idx, idx)].astype(np.float32)
    src = np.clip(src, 0, n - 1)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    w = (src - lo).astype(np.float32)
    rows = image[lo] * (1 - w)[:, None] + image[hi] * w[:, None]
    out = rows[:, lo] * (1 - w)[None, :] + rows[:, hi] * w[None, :]
    return out.astype(np.float32)


def lesion_mask(spec: PhantomSpec, source_size: int, size: int) -> FloatArray:
    """Ground-truth mask at ``size``: lesion discs drawn as the phantom draws them, then
    area-resized and binarised at half coverage."""
    rr, cc = np.mgrid[0:source_size, 0:source_size].astype(np.float32)
    disc = np.zeros((source_size, source_size), dtype=np.float32)
    for row, col, radius in spec.lesions:
        disc[(rr - row) ** 2 + (cc - col) ** 2 <= radius**2] = 1.0
    return (resize(disc, size, "area") >= 0.5).astype(np.float32)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Example:
    """One preprocessed slice: image (1, S, S), mask (1, S, S), label 0/1."""

    image: FloatArray
    mask: FloatArray
    label: int


def _make_example(args: tuple[np.random.SeedSequence, bool, str, bool]) -> Example:
    seed, lesion, mode, augment = args
    rng = np.random.default_rng(seed)
    noise = float(rng.uniform(6.0, 24.0)) if augment else 12.0
    source = INPUT_SIZE if mode == "direct" else SOURCE_SIZE
    hu, spec = phantom_slice(source, rng, lesion=lesion, noise_hu=noise)
    image = resize(lung_window(hu), INPUT_SIZE, "area" if mode == "direct" else mode)
    mask = lesion_mask(spec, source, INPUT_SIZE)
    return Example(image[None], mask[None], int(bool(spec.lesions)))


def synthetic_set(
    n: int, seed: Sequence[int], *, mode: str | None, augment: bool, pool: Any
) -> list[Example]:
    """``n`` slices, half with lesions; ``mode=None`` draws the source mode per slice."""
    children = np.random.SeedSequence(list(seed)).spawn(n)
    picker = np.random.default_rng(list(seed))
    modes = ("direct", *RESIZE_METHODS)
    jobs = [
        (child, i % 2 == 0, mode or modes[int(picker.integers(0, len(modes)))], augment)
        for i, child in enumerate(children)
    ]
    return _progress_map(pool, _make_example, jobs, f"generate {n} slices")


def _dicom_series(args: tuple[int, int, int]) -> tuple[FloatArray, list[int], FloatArray, bool]:
    """One ct_series through Part 10 bytes and the serving preprocessing (area resize)."""
    import pydicom

    seed, slices, number = args
    datasets = ct_series(
        slices=slices, size=SOURCE_SIZE, lesion=True, seed=seed, patient_id=f"SG-EVAL-{number}"
    )
    images, labels = [], []
    replay = np.random.default_rng(seed)  # ct_series' own rng, replayed for the lesion circles
    masks, replay_ok = [], True
    for index, ds in enumerate(datasets):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        read = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
        hu = read.pixel_array.astype(np.float32) * float(read.RescaleSlope) + float(
            read.RescaleIntercept
        )  # modality LUT, PS3.3 C.11.1.1.2
        images.append(resize(lung_window(hu), INPUT_SIZE, "area")[None])
        labels.append(int(read.ImageComments == "lesion"))
        with_lesion = slices // 3 <= index < max(2 * slices // 3, slices // 3 + 1)
        replay_hu, spec = phantom_slice(SOURCE_SIZE, replay, lesion=with_lesion)
        replay_ok = replay_ok and np.array_equal(replay_hu.astype(np.float32), hu)
        masks.append(lesion_mask(spec, SOURCE_SIZE, INPUT_SIZE)[None])
    return np.stack(images), labels, np.stack(masks), replay_ok


def _progress_map(pool: Any, fn: Callable[[Any], Any], jobs: list[Any], what: str) -> list[Any]:
    out = []
    for done, item in enumerate(pool.imap(fn, jobs, chunksize=8), start=1):
        out.append(item)
        if done % 50 == 0 or done == len(jobs):
            _status(f"{what}: {done}/{len(jobs)}")
    _status("", end="\n")
    return out


def _status(text: str, end: str = "") -> None:
    print(f"\r\033[K{text}", end=end, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- metrics


def auc(scores: FloatArray, labels: npt.NDArray[np.int64]) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification(
    probs: FloatArray, labels: npt.NDArray[np.int64], threshold: float
) -> dict[str, float]:
    """Accuracy, sensitivity, specificity and AUC of per-image probabilities."""
    pred = probs >= threshold
    pos = labels == 1
    return {
        "n": len(labels),
        "n_lesion": int(pos.sum()),
        "accuracy": float((pred == pos).mean()),
        "sensitivity": float(pred[pos].mean()),
        "specificity": float((~pred[~pos]).mean()),
        "auc": auc(probs, labels),
    }


def dice(masks: FloatArray, truth: FloatArray, labels: npt.NDArray[np.int64], t: float) -> float:
    """Mean per-slice Dice over the slices that have a lesion."""
    pred = masks[labels == 1] >= t
    gt = truth[labels == 1] >= 0.5
    inter = (pred & gt).sum(axis=(1, 2, 3))
    total = pred.sum(axis=(1, 2, 3)) + gt.sum(axis=(1, 2, 3))
    return float(np.mean(2.0 * inter / np.maximum(total, 1)))


def choose_threshold(probs: FloatArray, labels: npt.NDArray[np.int64]) -> float:
    """Best balanced accuracy on a 0.01 grid; among ties, the one nearest 0.5."""
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2)
    pos = labels == 1
    scores = [((probs[pos] >= t).mean() + (probs[~pos] < t).mean()) / 2 for t in grid]
    best = max(scores)
    candidates = [t for t, s in zip(grid, scores, strict=True) if s >= best - 1e-12]
    return float(min(candidates, key=lambda t: (abs(t - 0.5), t)))


# --------------------------------------------------------------------------- model


def build_model() -> Any:
    """The tiny U-Net: 3 poolings, additive skips, a per-image head on the mask logits."""
    import torch
    from torch import nn
    from torch.nn import functional as F  # noqa: N812

    def conv(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
        )

    w0, w1, w2, w3 = WIDTHS

    class TinyUNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc0, self.enc1 = conv(1, w0), conv(w0, w1)
            self.enc2 = nn.Sequential(conv(w1, w2), conv(w2, w2))
            self.bottom = nn.Sequential(conv(w2, w3), conv(w3, w3))
            self.dec2, self.dec1, self.dec0 = conv(w3, w1), conv(w1, w0), conv(w0, w0)
            self.skip2 = nn.Conv2d(w2, w3, 1) if w2 != w3 else nn.Identity()
            self.head = nn.Conv2d(w0, 1, 1)
            # Lesions cover <1% of pixels: start from that prior so the first hundred steps
            # are not spent learning "background" (the focal-loss paper's trick).
            nn.init.constant_(self.head.bias, -4.0)
            # Per-image logit = scale * max(smoothed mask logits) + bias: a lesion is
            # "present" when some 3x3 neighbourhood is confidently lesion.
            self.image_scale = nn.Parameter(torch.ones(1))
            self.image_bias = nn.Parameter(torch.zeros(1))

        def forward(self, x: Any) -> tuple[Any, Any]:
            e0 = self.enc0(x)
            e1 = self.enc1(F.max_pool2d(e0, 2))
            e2 = self.enc2(F.max_pool2d(e1, 2))
            b = self.bottom(F.max_pool2d(e2, 2))
            d2 = self.dec2(F.interpolate(b, scale_factor=2.0) + self.skip2(e2))
            d1 = self.dec1(F.interpolate(d2, scale_factor=2.0) + e1)
            d0 = self.dec0(F.interpolate(d1, scale_factor=2.0) + e0)
            logits = self.head(d0)
            smooth = F.avg_pool2d(logits, 3, stride=1, padding=1, count_include_pad=False)
            peak = torch.amax(smooth, dim=(2, 3))
            return logits, peak * self.image_scale + self.image_bias

    return TinyUNet()


def export_wrapper(model: Any) -> Any:
    """The served graph: probabilities, not logits."""
    import torch
    from torch import nn

    class Served(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, image: Any) -> tuple[Any, Any]:
            logits, image_logit = self.net(image)
            return torch.sigmoid(logits), torch.sigmoid(image_logit)

    return Served().eval()


def train(model: Any, data: list[Example], epochs: int, seed: int) -> float:
    """Adam + cosine schedule; loss = BCE(mask) + soft Dice(mask) + BCE(image). Returns s."""
    import torch
    from torch.nn import functional as F  # noqa: N812

    images = torch.from_numpy(np.stack([e.image for e in data]))
    masks = torch.from_numpy(np.stack([e.mask for e in data]))
    labels = torch.tensor([[float(e.label)] for e in data])
    steps = epochs * ((len(data) + BATCH_SIZE - 1) // BATCH_SIZE)
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.1
    )
    generator = torch.Generator().manual_seed(seed)
    model.train()
    started, step = time.perf_counter(), 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            flip = bool(torch.rand(1, generator=generator) < 0.5)  # the phantom is symmetric
            x, y = images[batch], masks[batch]
            if flip:
                x, y = torch.flip(x, dims=(3,)), torch.flip(y, dims=(3,))
            logits, image_logit = model(x)
            prob = torch.sigmoid(logits)
            inter = (prob * y).sum()
            soft_dice = 1 - (2 * inter + 1) / (prob.sum() + y.sum() + 1)
            loss = (
                F.binary_cross_entropy_with_logits(logits, y)
                + soft_dice
                + F.binary_cross_entropy_with_logits(image_logit, labels[batch])
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            elapsed = time.perf_counter() - started
            eta = elapsed / step * (steps - step)
            _status(
                f"train epoch {epoch}/{epochs} step {step}/{steps} "
                f"loss {loss.item():.4f} {elapsed:.0f}s (eta {eta:.0f}s)"
            )
    _status("", end="\n")
    model.eval()
    return time.perf_counter() - started


def export(model: Any, path: Path) -> None:
    """torch -> ONNX (opset 17, dynamic batch), with demo metadata, in one file."""
    import onnx
    import torch

    served = export_wrapper(model)
    example = torch.zeros(2, 1, INPUT_SIZE, INPUT_SIZE)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.onnx.export(
        served,
        (example,),
        dynamo=True,
        input_names=["image"],
        output_names=["mask", "lesion_probability"],
        opset_version=OPSET,
        dynamic_shapes={"image": {0: batch}},
        external_data=False,
    )
    proto = program.model_proto
    proto.ir_version = 8  # opset 17 needs no more; older ONNX Runtimes load IR 8
    proto.graph.name = "streamgale-demo-lesion"
    proto.doc_string = "DEMO MODEL trained on synthetic phantoms; not for clinical use"
    for key, value in {
        "name": "demo-lesion",
        "version": "1.0.0",
        "demo": "true",
        "preprocessing": "HU -> lung window (c=-600, w=1500) -> [0,1] -> 128x128",
    }.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    path.write_bytes(proto.SerializeToString())


def check_parity(model: Any, path: Path, data: list[Example], work: Path) -> float:
    """Largest |ONNX Runtime - PyTorch| over both outputs on 8 slices (one batch).

    Also leaves ``work/parity.npz`` (inputs and PyTorch outputs) and the PyTorch
    weights ``work/checkpoint.pt``, so another ONNX Runtime can be checked without torch.
    """
    import onnxruntime as ort
    import torch

    x = np.stack([e.image for e in data[:8]])
    with torch.no_grad():
        expected = [t.numpy() for t in export_wrapper(model)(torch.from_numpy(x))]
    work.mkdir(parents=True, exist_ok=True)
    np.savez(work / "parity.npz", image=x, mask=expected[0], lesion_probability=expected[1])
    torch.save(model.state_dict(), work / "checkpoint.pt")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["mask", "lesion_probability"], {"image": x})
    return float(max(np.abs(a - b).max() for a, b in zip(expected, got, strict=True)))


# --------------------------------------------------------------------------- evaluation


def predict(path: Path, images: Iterable[FloatArray]) -> tuple[FloatArray, FloatArray]:
    """Run the ONNX model in batches of 16: (masks, per-image probabilities)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    stacked = np.stack(list(images)).astype(np.float32)
    masks, probs = [], []
    for start in range(0, len(stacked), 16):
        mask, prob = session.run(None, {"image": stacked[start : start + 16]})
        masks.append(mask)
        probs.append(prob[:, 0])
    return np.concatenate(masks), np.concatenate(probs)


def evaluate_set(path: Path, data: list[Example], threshold: float) -> dict[str, float]:
    """Classification metrics and lesion-slice Dice of the ONNX model on ``data``."""
    labels = np.array([e.label for e in data], dtype=np.int64)
    masks, probs = predict(path, (e.image for e in data))
    truth = np.stack([e.mask for e in data])
    return {
        **classification(probs, labels, threshold),
        "dice": dice(masks, truth, labels, threshold),
    }


def evaluate(path: Path, seed: int, threshold: float, pool: Any) -> dict[str, Any]:
    """Held-out synthetic set per resize method, and the DICOM path."""
    results: dict[str, Any] = {}
    for mode in ("area", "bilinear", "nearest", "direct"):
        held_out = synthetic_set(1000, (seed, 2), mode=mode, augment=False, pool=pool)
        results[f"held_out_{mode}"] = evaluate_set(path, held_out, threshold)
    series = [(20_000 + seed * 1000 + k, 25, k) for k in range(40)]
    parts = _progress_map(pool, _dicom_series, series, "DICOM path: 40 series x 25 slices")
    images = np.concatenate([p[0] for p in parts])
    labels = np.array([label for p in parts for label in p[1]], dtype=np.int64)
    masks, probs = predict(path, images)
    dicom = classification(probs, labels, threshold)
    if all(p[3] for p in parts):  # ground-truth circles reproduced exactly
        dicom["dice"] = dice(masks, np.concatenate([p[2] for p in parts]), labels, threshold)
    results["dicom_path"] = dicom
    return results


# --------------------------------------------------------------------------- outputs


MODEL_YAML = """\
# StreamGale model config for the DEMO lesion model (written by tools/train_demo_model.py).
# DEMO MODEL: trained on synthetic phantoms only; not for clinical use. Bring your own model.
name: demo-lesion
version: "1.0.0"
path: model.onnx
task: segmentation
description: "DEMO MODEL trained on synthetic phantoms; not for clinical use"
inputs:
  - {{name: image, shape: [-1, 1, {size}, {size}], dtype: float32}}
outputs: [mask, lesion_probability]
preprocessing: {{voi: lung, size: [{size}, {size}], normalise: none}}
labels: [lesion]
thresholds: {{lesion: {threshold}}}
max_batch_size: 16
max_wait_ms: 5
"""


def parameter_count(model: Any) -> int:
    """Trainable parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters()))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for model.onnx etc.")
    parser.add_argument("--train-slices", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-only", action="store_true", help="evaluate <out>/model.onnx")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("build/demo_model"),
        help="scratch folder for the PyTorch checkpoint and parity data (not committed)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "model.onnx"
    metrics_path = args.out / "metrics.json"
    metrics: dict[str, Any] = {"seed": args.seed}
    if args.eval_only and metrics_path.exists():  # keep the training record, refresh the rest
        metrics = json.loads(metrics_path.read_text())
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        validation = synthetic_set(400, (args.seed, 1), mode=None, augment=True, pool=pool)
        if not args.eval_only:
            import torch

            torch.manual_seed(args.seed)
            torch.set_num_threads(2)
            torch.use_deterministic_algorithms(True)
            data = synthetic_set(
                args.train_slices, (args.seed, 0), mode=None, augment=True, pool=pool
            )
            model = build_model()
            seconds = train(model, data, args.epochs, args.seed)
            export(model, onnx_path)
            metrics.update(
                parameters=parameter_count(model),
                train_slices=args.train_slices,
                epochs=args.epochs,
                train_seconds=round(seconds, 1),
                onnx_bytes=onnx_path.stat().st_size,
                max_abs_diff_onnxruntime_vs_torch=check_parity(
                    model, onnx_path, validation, args.work
                ),
            )
        _, val_probs = predict(onnx_path, (e.image for e in validation))
        val_labels = np.array([e.label for e in validation], dtype=np.int64)
        threshold = choose_threshold(val_probs, val_labels)
        metrics["threshold"] = threshold
        metrics["validation"] = classification(val_probs, val_labels, threshold)
        metrics.update(evaluate(onnx_path, args.seed, threshold, pool))
    (args.out / "model.yaml").write_text(MODEL_YAML.format(size=INPUT_SIZE, threshold=threshold))
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
