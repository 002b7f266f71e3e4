"""Train the bay occupancy CNN and export it to ONNX (needs the ``train`` extra: torch, onnx).

Small on purpose: ~100 k parameters on a 64x64 crop run in about a millisecond on one core,
and a small net with heavy augmentation learns "is there a car" rather than one lot's asphalt.
Balanced sampling (every scene and class drawn equally often) keeps the big, mostly-occupied
CNRPark camera B from teaching "everything is a car". Fixed epochs, no early stopping: the
held-out scene is never looked at while training.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_agent.bays.crop import CROP_SIZE
from edge_agent.occupancy.augment import PRE_SIZE, Framing, augment_batch
from edge_agent.occupancy.dataset import BayLabel, load_crops

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    epochs: int = 10
    samples_per_epoch: int = 3072
    batch: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-3
    seed: int = 13
    # Extra crops per frame bay from jittered polygons (dataset.jitter_polygon): installers draw bays looser or
    # tighter than our labels. PKLot frames with the dataset's own, looser polygons: 0.883 -> 0.898 with 3.
    polygon_variants: int = 3
    # Loss weight of occupied bays relative to empty ones. A car called empty is the costly mistake (a lock
    # could rise under it), and on a camera it never saw the net finds fewer of the cars than of the empty
    # bays (scene-held-out recalls 0.85 / 0.92 at 1.0; 0.89 / 0.89 at 1.5, accuracy 0.879 -> 0.889).
    occupied_weight: float = 1.5
    threads: int = 2
    size: int = CROP_SIZE
    widths: tuple[int, ...] = (24, 32, 48, 64)
    # "small": the from-scratch net above (models/occupancy.onnx); "mobilenetv2": ImageNet-pretrained
    # MobileNetV2 cut after ``cut`` (occupancy.backbone; models/occupancy-site.onnx), fine-tuned at lr 1e-3
    backbone: str = "small"
    pretrained: Path | None = None
    cut: int = 10
    framing: Framing = field(default_factory=Framing)
    metadata: dict[str, str] = field(default_factory=dict)


def build_net(widths: Sequence[int], backbone: str = "small", pretrained: Path | None = None,
              cut: int = 10):  # noqa: ANN201 - torch.nn.Module
    import torch
    from torch import nn

    if backbone not in ("small", "mobilenetv2"):
        raise ValueError(f"unknown backbone {backbone!r} (small, mobilenetv2)")

    def block(cin: int, cout: int, stride: int = 1) -> list:
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    class OccupancyNet(nn.Module):
        """Raw BGR 0..255 in, p(occupied) out; per-image standardisation first (exposure-free)."""

        def __init__(self) -> None:
            super().__init__()
            self.rgb = backbone == "mobilenetv2"  # ImageNet weights read RGB
            if self.rgb:
                from edge_agent.occupancy.backbone import pretrained_features

                if pretrained is None:
                    raise ValueError("the mobilenetv2 backbone needs its pretrained weights file")
                self.features = pretrained_features(pretrained, cut)
                with torch.no_grad():
                    n_out = int(self.features(torch.zeros(1, 3, 64, 64)).shape[1])
            else:
                w = list(widths)
                layers = block(3, w[0], stride=2) + block(w[0], w[1])  # 32x32
                layers += [nn.MaxPool2d(2)] + block(w[1], w[2]) + block(w[2], w[2])  # 16x16
                layers += [nn.MaxPool2d(2)] + block(w[2], w[3]) + block(w[3], w[3])  # 8x8
                self.features = nn.Sequential(*layers)
                n_out = w[3]
            self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(n_out, 1))

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            """The pooled features the head reads: what a per-site calibration refits a head on."""
            x = x / 255.0
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            std = ((x - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
            x = (x - mean) / (std + 0.02)
            if self.rgb:
                x = x.flip(1)
            return self.features(x).mean(dim=(2, 3))

        def logits(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.embed(x)).squeeze(1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.logits(x))

    return OccupancyNet()


def _balanced_draw(labels: Sequence[BayLabel], n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices with every (scene, class) group drawn equally often."""
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, b in enumerate(labels):
        groups.setdefault((b.scene, b.occupied), []).append(i)
    keys = sorted(groups)
    per = int(np.ceil(n / len(keys)))
    idx = np.concatenate([rng.choice(groups[k], per, replace=True) for k in keys])
    rng.shuffle(idx)
    return idx[:n]


def train(labels: Sequence[BayLabel], out: Path, cfg: TrainConfig) -> dict:
    """Train on ``labels``, write the ONNX model to ``out``, return a summary (params, size, loss)."""
    import torch

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.monotonic()
    crops, kept = load_crops(labels, PRE_SIZE, cfg.polygon_variants, np.random.default_rng(cfg.seed))
    if len(kept) == 0:
        raise ValueError("no training images could be read")
    y_all = np.array([b.occupied for b in kept], dtype=np.float32)
    log.info("loaded %d crops in %.0f s", len(kept), time.monotonic() - t0)

    net = build_net(cfg.widths, cfg.backbone, cfg.pretrained, cfg.cut)
    params = sum(p.numel() for p in net.parameters())
    steps = cfg.epochs * (cfg.samples_per_epoch // cfg.batch)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(cfg.occupied_weight))
    history = []
    for epoch in range(cfg.epochs):
        net.train()
        idx = _balanced_draw(kept, cfg.samples_per_epoch, rng)
        total, seen, correct = 0.0, 0, 0
        for s in range(0, len(idx) - cfg.batch + 1, cfg.batch):
            bi = idx[s:s + cfg.batch]
            x = augment_batch(crops[bi], cfg.size, rng, cfg.framing)
            xb = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))
            yb = torch.from_numpy(y_all[bi])
            ys = yb * 0.96 + 0.02  # mild label smoothing: a few labels in every source are wrong
            logits = net.logits(xb)
            loss = loss_fn(logits, ys)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(bi)
            seen += len(bi)
            correct += int(((logits > 0).float() == yb).sum())
        history.append({"epoch": epoch + 1, "loss": total / seen, "train_acc": correct / seen})
        log.info("epoch %d/%d loss %.4f acc %.3f (%.0f s)", epoch + 1, cfg.epochs, total / seen,
                 correct / seen, time.monotonic() - t0)
    net.eval()
    export(net, out, cfg, crops[:32])
    return {"params": params, "bytes": out.stat().st_size, "train_crops": len(kept),
            "seconds": round(time.monotonic() - t0, 1), "history": history}


def export(net, out: Path, cfg: TrainConfig, sample: np.ndarray) -> None:  # noqa: ANN001
    """ONNX export (opset 17, dynamic batch), then check onnxruntime agrees with torch.

    Two outputs: ``p_occupied`` [N] and ``features`` [N, F], the pooled features the linear head reads;
    the head's weights go into the metadata (``head``), so a per-site calibration can refit it from there
    (``edge_agent.bays.calibration``) without torch."""
    import onnx
    import torch

    class _Both(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            f = self.net.embed(x)
            return torch.sigmoid(self.net.head(f).squeeze(1)), f

    from edge_agent.bays.classifier import BayClassifier
    from edge_agent.occupancy.augment import centre

    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, cfg.size, cfg.size)
    tmp = out.with_suffix(".tmp.onnx")
    torch.onnx.export(_Both().eval(), dummy, str(tmp), input_names=["crops_bgr"],
                      output_names=["p_occupied", "features"],
                      dynamic_axes={"crops_bgr": {0: "n"}, "p_occupied": {0: "n"}, "features": {0: "n"}},
                      opset_version=17, dynamo=False)
    model = onnx.load(str(tmp))
    linear = net.head[-1]
    head = {"w": [round(float(v), 8) for v in linear.weight.detach().reshape(-1)],
            "b": round(float(linear.bias.detach().reshape(-1)[0]), 8)}
    meta = {"crop": f"edge_agent.bays.crop.bay_crop size={cfg.size}", "input": "BGR float32 0..255 NCHW",
            "output": "p_occupied [N], features [N, F]", "head": json.dumps(head), **cfg.metadata}
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=str(v))
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp))
    x = centre(sample, cfg.size)
    with torch.no_grad():
        want = net(torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))).numpy()
    got = BayClassifier.load(tmp).predict(list(x))
    err = float(np.abs(want - got).max())
    if err > 1e-4:
        tmp.unlink()
        raise RuntimeError(f"onnxruntime and torch disagree by {err:.2e} after export")
    tmp.replace(out)
    log.info("exported %s (%d bytes), onnxruntime matches torch within %.1e", out, out.stat().st_size, err)


def write_json(path: Path, obj: dict) -> None:
    """A report whole or not at all (``durable.write_output``), as the model beside it: after hours of training, a
    Ctrl-C or a full disk while it was written in place left a cut-off file under the model's name."""
    from edge_agent.durable import write_output

    path.parent.mkdir(parents=True, exist_ok=True)
    write_output(path, json.dumps(obj, indent=2) + "\n")
