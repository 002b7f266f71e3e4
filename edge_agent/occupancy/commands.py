"""``edge-agent occupancy train | folds | eval``: the bay classifier's training and scoring.

``train`` and ``folds`` need the ``train`` extra (torch), imported only when they run;
``eval`` needs only the default install.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge_agent.bays.model_files import DEFAULT_MODEL, SITE_MODEL
from edge_agent.cliargs import output_over_input, repeat_arg, whole_number
from edge_agent.config.limits import MAX_THREADS
from edge_agent.durable import write_output
from edge_agent.occupancy.backbone import PRETRAINED  # a constant: torch is imported only to build the net

if TYPE_CHECKING:
    import numpy as np

    from edge_agent.bays.calibration import Head

FOLDS = (("cnrpark",), ("norpark_trondheim",), ("pklot_ufpr05",))


DEGRADE_HELP = ("also score degraded copies of the images (night under lamps, IR night, low light, fog, rain, blur, "
                "JPEG 20): one row each, the held-out lots together for folds (edge_agent/occupancy/degrade.py)")


THREADS = whole_number(1, MAX_THREADS)  # --threads


def actions(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The ``occupancy`` group's subcommands, the group made on first use: ``runtime`` adds the actions that
    need the agent (``eval-visits``, ``label``) to the same group."""
    group = sub.choices.get("occupancy") or sub.add_parser("occupancy", help="train / score the per-bay vehicle "
                                                                             "classifier")
    found = [a for a in group._actions if isinstance(a, argparse._SubParsersAction)]
    return found[0] if found else group.add_subparsers(dest="occupancy_cmd", metavar="ACTION", required=True)


def register(sub: argparse._SubParsersAction) -> None:
    osub = actions(sub)

    t = osub.add_parser("train", help="train the classifier on a bays-dev folder, export ONNX (needs the train extra)")
    t.add_argument("--data", type=Path, required=True, metavar="DIR", help="bays-dev style folder")
    t.add_argument("--out", type=Path, default=DEFAULT_MODEL, metavar="ONNX")
    t.add_argument("--scenes", default="shippable", metavar="LIST",
                   help="scenes to train on: 'shippable' (licence allows committing the model: CNRPark, and PKLot "
                        "UFPR05 with the project's own labels), "
                        "'all', or a comma list of scenes / lots (default: shippable)")
    t.add_argument("--hold-out", action="append", default=[], metavar="SCENE",
                   help="leave this scene or lot (cnrpark = camA + camB) out of training; repeatable")
    t.add_argument("--report", type=Path, default=None, metavar="JSON",
                   help="training summary + scores on every scene not trained on (default: OUT.json)")
    _train_opts(t)
    t.set_defaults(func=_train)

    f = osub.add_parser("folds", help="scene-held-out validation: one model per fold, scored on its held-out lot")
    f.add_argument("--data", type=Path, required=True, metavar="DIR")
    f.add_argument("--out-dir", type=Path, required=True, metavar="DIR", help="fold models, folds.json, folds.md")
    f.add_argument("--degrade", action="store_true", help=DEGRADE_HELP)
    _train_opts(f)
    f.set_defaults(func=_folds)

    e = osub.add_parser("eval", help="score the classifier on a frames.csv-style labels file")
    e.add_argument("labels", type=Path, metavar="LABELS.csv")
    e.add_argument("--model", type=Path, default=None, metavar="ONNX",
                   help="default: occupancy.onnx, or with --calibration the model it was made for")
    e.add_argument("--json", type=Path, default=None, metavar="OUT", help="write metrics + per-bay predictions")
    e.add_argument("--images", type=Path, default=None, metavar="DIR",
                   help="folder the image paths are relative to (default: the CSV's folder)")
    e.add_argument("--calibration", type=Path, default=None, metavar="JSON",
                   help="score with this per-site calibration (edge-agent occupancy calibrate)")
    e.add_argument("--degrade", action="store_true", help=DEGRADE_HELP)
    e.add_argument("--threads", type=THREADS, default=1, help=f"onnxruntime threads, 1 to {MAX_THREADS}")
    e.set_defaults(func=_eval)

    c = osub.add_parser("calibrate", help="fit a per-site head on this camera's labelled frames (default install)")
    c.add_argument("labels", type=Path, metavar="LABELS.csv", help="frames.csv-style labels of this camera's frames")
    c.add_argument("--out", type=Path, required=True, metavar="JSON",
                   help="calibration file; point occupancy.calibration at it")
    c.add_argument("--images", type=Path, default=None, metavar="DIR",
                   help="folder the image paths are relative to (default: the CSV's folder)")
    c.add_argument("--model", type=Path, default=SITE_MODEL, metavar="ONNX",
                   help="the model whose head is refitted (default: occupancy-site.onnx, whose ImageNet features "
                        "separate one camera's bays best; the agent must then run it: occupancy.model)")
    c.add_argument("--l2", type=float, default=0.1, help="pull towards the shipped head (default 0.1)")
    c.set_defaults(func=_calibrate)

    b = osub.add_parser("bench", help="ms per bay crop on one core (onnxruntime, intra_op_num_threads=1)")
    b.add_argument("--model", type=Path, default=DEFAULT_MODEL, metavar="ONNX")
    b.add_argument("--repeat", type=repeat_arg, default=30, help="timed runs per measurement, 1 to 10000")
    b.set_defaults(func=_bench)


def _train_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--own-labels", type=Path, action="append", default=None, metavar="CSV",
                   help="this project's own frame annotations (file paths relative to --data); they replace "
                        "the dataset's labels of the scenes they cover (default: models/labels/*.csv)")
    p.add_argument("--no-own-labels", action="store_true", help="use only the dataset's own labels")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--samples", type=int, default=None, metavar="N", help="training crops per epoch")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=THREADS, default=2, help=f"torch threads, 1 to {MAX_THREADS} (default 2)")
    p.add_argument("--backbone", choices=("small", "mobilenetv2"), default="small",
                   help="small: the from-scratch net (occupancy.onnx); mobilenetv2: ImageNet-pretrained, cut at "
                        "stride 16 (occupancy-site.onnx, the model to calibrate per site)")
    p.add_argument("--pretrained", type=Path, default=None, metavar="PT",
                   help="MobileNetV2 ImageNet weights (default: models/" + PRETRAINED + ", from "
                        "`edge-agent models fetch --group train`)")


def _config(args: argparse.Namespace, **meta: str):  # noqa: ANN202
    from edge_agent.occupancy.train import TrainConfig

    cfg = TrainConfig(seed=args.seed, threads=args.threads, metadata=dict(meta))
    if args.backbone == "mobilenetv2":  # (the small net's metadata stays as it was: same bytes as the shipped file)
        cfg.backbone, cfg.lr = "mobilenetv2", 1e-3  # fine-tuning: a third of the from-scratch rate
        cfg.metadata["backbone"] = "mobilenetv2"
        cfg.pretrained = args.pretrained or DEFAULT_MODEL.parent / PRETRAINED
    if args.epochs is not None:
        cfg.epochs = args.epochs
    if args.samples is not None:
        cfg.samples_per_epoch = args.samples
    return cfg


NOTICES = {
    "cnrpark": ("Made with CNRPark+EXT (ODbL 1.0); Amato et al., 'Deep learning for decentralized parking lot "
                "occupancy detection', Expert Systems with Applications 72, 2017"),
    "pklot": ("PKLot UFPR05 images (CC BY 4.0; Almeida et al., 'PKLot - A robust dataset for parking lot "
              "classification', Expert Systems with Applications 42, 2015) with edge_agent's own bay labels"),
}


def _labels(args: argparse.Namespace, cmd: str) -> list | None:
    """Every labelled bay of ``--data``, with this project's own annotations where it has them;
    None (reported) when the folder cannot be read."""
    from edge_agent.occupancy.dataset import own_label_files, read_bays_dev

    own = [] if args.no_own_labels else (args.own_labels if args.own_labels is not None else own_label_files())
    try:
        return read_bays_dev(args.data, own_labels=own)
    except (ValueError, OSError) as exc:
        print(f"occupancy {cmd}: {exc}", file=sys.stderr)
        return None


def _train_and_score(every: list, train_scenes: list[str], out: Path, args: argparse.Namespace) -> dict:
    from edge_agent.bays.classifier import BayClassifier
    from edge_agent.occupancy.dataset import shippable_scenes
    from edge_agent.occupancy.evaluate import score
    from edge_agent.occupancy.train import train

    train_labels = [b for b in every if b.scene in train_scenes]
    if not train_labels:
        raise ValueError(f"no labelled bays of scenes {train_scenes} in {args.data}")
    train_scenes = sorted({b.scene for b in train_labels})  # what was really there
    meta = {"trained_on": ",".join(train_scenes), "seed": str(args.seed),
            "own_labels": ",".join(sorted({b.scene for b in train_labels if b.own}))}
    if set(train_scenes) <= set(shippable_scenes(every)):
        meta["notice"] = "; ".join(v for k, v in NOTICES.items() if any(s.startswith(k) for s in train_scenes))
    summary = train(train_labels, out, _config(args, **meta))
    unseen = [b for b in every if b.scene not in train_scenes]
    scored = score(BayClassifier.load(out), unseen)
    return {"model": str(out), "trained_on": train_scenes, **summary, "held_out": scored.report(),
            "_scored": scored}


def _need_torch(cmd: str) -> bool:
    import importlib.util

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("onnx") is None:
        print(f"occupancy {cmd}: needs the train extra (torch, onnx): `make train-occupancy` builds .venv-train, "
              "or pip install -e '.[train]'", file=sys.stderr)
        return False
    return True


def _train(args: argparse.Namespace) -> int:
    if not _need_torch("train"):
        return 2
    from edge_agent.occupancy.dataset import expand_scenes, shippable_scenes
    from edge_agent.occupancy.evaluate import format_table
    from edge_agent.occupancy.train import write_json

    every = _labels(args, "train")
    if every is None:
        return 1
    if args.scenes == "shippable":
        scenes = shippable_scenes(every)
    elif args.scenes == "all":
        scenes = sorted({b.scene for b in every})
    else:
        scenes = expand_scenes(s.strip() for s in args.scenes.split(",") if s.strip())
    held = set(expand_scenes(args.hold_out))
    scenes = [s for s in scenes if s not in held]
    try:
        res = _train_and_score(every, scenes, args.out, args)
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"occupancy train: {exc}", file=sys.stderr)
        return 1
    res.pop("_scored")
    write_json(args.report or args.out.with_suffix(".json"), res)
    print(f"{args.out}: {res['params']} parameters, {res['bytes']} bytes, trained on {', '.join(scenes)}")
    if res["held_out"]["overall"]["n"]:
        print("scenes not trained on:")
        print(format_table(res["held_out"]))
    return 0


def _folds(args: argparse.Namespace) -> int:
    if not _need_torch("folds"):
        return 2
    import numpy as np

    from edge_agent.bays.classifier import BayClassifier
    from edge_agent.occupancy.dataset import expand_scenes
    from edge_agent.occupancy.degrade import DEGRADATIONS
    from edge_agent.occupancy.evaluate import Scored, format_degraded, format_table, score
    from edge_agent.occupancy.train import write_json

    labels = _labels(args, "folds")
    if labels is None:
        return 1
    every = sorted({b.scene for b in labels})
    folds, parts = {}, []
    degraded: list[dict] = []
    for fold in FOLDS:
        held = expand_scenes(fold)
        name = "+".join(fold)
        res = _train_and_score(labels, [s for s in every if s not in held], args.out_dir / f"{name}.onnx", args)
        scored: Scored = res.pop("_scored")
        keep = [i for i, b in enumerate(scored.labels) if b.scene in held]  # only the held-out lot counts
        parts.append(Scored([scored.labels[i] for i in keep], scored.p[keep], []))
        folds[name] = {k: v for k, v in res.items() if k != "held_out"}
        folds[name]["held_out"] = parts[-1].report()
        if args.degrade:
            clf = BayClassifier.load(res["model"])
            degraded.append({d: score(clf, parts[-1].labels, fn) for d, fn in DEGRADATIONS.items()})
        print(f"fold {name}: accuracy {parts[-1].overall().accuracy:.3f}", flush=True)
    allp = Scored([b for s in parts for b in s.labels], np.concatenate([s.p for s in parts]), [])
    rep = {"folds": folds, "combined": allp.report()}
    table = format_table(rep["combined"])
    if degraded:
        rep["degraded"] = {"clean": allp.overall().as_dict()}
        for d in DEGRADATIONS:
            both = [f[d] for f in degraded]
            rep["degraded"][d] = Scored([b for s in both for b in s.labels],
                                        np.concatenate([s.p for s in both]), []).overall().as_dict()
        table += "\n\nThe held-out lots on degraded copies of their images:\n\n" + format_degraded(rep["degraded"])
    write_json(args.out_dir / "folds.json", rep)
    write_output(args.out_dir / "folds.md", table + "\n")
    print(table)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from edge_agent.bays.calibration import made_for
    from edge_agent.bays.classifier import BayClassifier
    from edge_agent.occupancy.dataset import LabelError, read_labels
    from edge_agent.occupancy.evaluate import degraded_reports, format_degraded, format_table, score

    if not args.labels.is_file():
        print(f"occupancy eval: no labels file {args.labels}", file=sys.stderr)
        return 2
    if output_over_input("occupancy eval", "--json", args.json, {"labels file": args.labels, "--model": args.model,
                                                                 "--calibration": args.calibration}):
        return 2
    if args.model is None:
        name = made_for(args.calibration, DEFAULT_MODEL.parent) if args.calibration else None
        args.model = DEFAULT_MODEL.with_name(name or DEFAULT_MODEL.name)
    try:
        labels = read_labels(args.labels, images_root=args.images)
        clf = BayClassifier.load(args.model, threads=args.threads, calibration=args.calibration)
    except (LabelError, FileNotFoundError, ValueError) as exc:
        print(f"occupancy eval: {exc}", file=sys.stderr)
        return 2
    if not labels:
        print(f"occupancy eval: {args.labels} has a header but no labelled bay", file=sys.stderr)
        return 2
    scored = score(clf, labels)
    rep = scored.report()
    print(format_table(rep, ("scene", "scene_weather")))
    if args.degrade:
        rep["degraded"] = degraded_reports(clf, labels, scored)
        print("\ndegraded copies of the same images:")
        print(format_degraded(rep["degraded"]))
    if scored.missing:
        why = next(iter(scored.unreadable.values()), "")  # names the path tried: --images or the CSV's folder
        print(f"{len(scored.missing)} labelled bays skipped: image unreadable "
              f"({', '.join(rep['missing_images'][:5])}; first: {why})", file=sys.stderr)
    if scored.skipped:
        b, why = scored.skipped[0]
        print(f"{len(scored.skipped)} labelled bays skipped: their image does not show them (first: "
              f"{args.labels}:{b.line} bay {b.bay_id!r} of {b.file}: {why})", file=sys.stderr)
    if args.json:
        doc = {"model": str(args.model), "metrics": rep,
               "predictions": scored.predictions()}
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            write_output(args.json, json.dumps(doc, indent=1, allow_nan=False) + "\n")
        except OSError as exc:
            print(f"occupancy eval: cannot write --json {args.json}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    return 1 if scored.missing or scored.skipped else 0


def _calibrate(args: argparse.Namespace) -> int:
    import math

    from edge_agent.occupancy.dataset import LabelError
    from edge_agent.occupancy.site import LIGHT_SPAN_H, MIN_APART_H, fit_site, verdict

    if not math.isfinite(args.l2) or not 0 <= args.l2 <= 1e4:
        print(f"occupancy calibrate: --l2 must be a finite number in [0, 10000], got {args.l2}", file=sys.stderr)
        return 2
    if output_over_input("occupancy calibrate", "--out", args.out, {"labels file": args.labels, "--model": args.model}):
        return 2
    try:
        fit = fit_site(args.labels, args.model, args.images, args.l2)  # the same fit as the installer page's
    except (LabelError, FileNotFoundError, ValueError) as exc:
        print(f"occupancy calibrate: {exc}", file=sys.stderr)
        return 2
    kept, skipped = fit.kept, fit.skipped
    if len(kept) + len(skipped) < fit.labels:
        # the path tried, as eval says it: a labels file read without its --images folder named no image
        print(f"occupancy calibrate: {fit.labels - len(kept) - len(skipped)} labelled bays skipped: image "
              f"unreadable ({len(fit.unreadable)} images; first: {next(iter(fit.unreadable.values()), '')}; image "
              "paths are relative to the labels file's folder, or to --images)", file=sys.stderr)
    if skipped:
        b, why = skipped[0]
        print(f"occupancy calibrate: {len(skipped)} labelled bays skipped: their image does not show them "
              f"(first: {args.labels}:{b.line} bay {b.bay_id!r} of {b.file}: {why})", file=sys.stderr)
    features = fit.features
    cal = fit.cal
    if cal is None or features is None:
        print(f"occupancy calibrate: {fit.error}", file=sys.stderr)
        if features is not None:
            _where_labels_contradict(args.labels, kept, features, fit.y, fit.prior)
        return 2
    print(f"{cal.occupied} occupied + {cal.empty} empty labelled bays from {fit.frames} frames")
    print(f"balanced accuracy on frames held out of the fit: shipped head {cal.cv_accuracy_before:.3f}, "
          f"site head {cal.cv_accuracy_after:.3f}")
    print(f"occupied recall (cars found) on the same frames: shipped head {cal.cv_occupied_recall_before:.3f}, "
          f"site head {cal.cv_occupied_recall_after:.3f}")
    judged = verdict(cal, fit.span_h, fit.swapped, fit.apart_h)
    if judged.swapped:
        print(f"occupancy calibrate: warning: the labels of {', '.join(judged.swapped)} look swapped (the shipped "
              f"model surely contradicts a quarter or more of that frame's bays, right labels 0-6 %): correct them "
              "before using it (the installer page does not offer it)", file=sys.stderr)
    if judged.one_light:
        print(f"occupancy calibrate: warning: the labelled frames were taken within {fit.span_h:.1f} h of the day "
              f"(by their files' times): the held-out check saw one light only, and a head fitted on one light can "
              f"call cars empty at another hour. Label frames over at least {LIGHT_SPAN_H:g} h (morning, noon, "
              "dusk) before using it", file=sys.stderr)
    if judged.one_day:
        print(f"occupancy calibrate: warning: the labelled frames were taken within {fit.apart_h:.1f} h of each other "
              f"(by their files' times): one day's weather, and the same parked cars in the frames the check holds "
              f"out. A head fitted on one day can call cars empty on another day (NORPark: 4.7 % of the next day's "
              f"cars p <= 0.3, the shipped model 2.1 %). Add frames of another day, at least {MIN_APART_H:g} h after "
              "the first, before using it", file=sys.stderr)
    if judged.fewer_cars:
        print("occupancy calibrate: warning: the site head finds fewer of the labelled cars than the shipped one "
              "(it trades them for empty bays). A car called empty is the costly mistake: label more frames with "
              "cars, above all dark, shaded or partly hidden ones, before using it", file=sys.stderr)
    if judged.worse:
        print("occupancy calibrate: the site head does worse than the shipped one on held-out frames: not written "
              "(check the labels, or label more frames)", file=sys.stderr)
    _where_labels_contradict(args.labels, kept, features, fit.y, fit.prior)  # written or not: worth a look
    if judged.worse:
        return 1
    try:
        cal.save(args.out)
    except OSError as exc:
        print(f"occupancy calibrate: cannot write --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    model = args.model.name if args.model.resolve().parent == DEFAULT_MODEL.parent else str(args.model)
    # absolute: the agent reads a relative occupancy.calibration against data_dir, not against this folder (the
    # printed `calibration: data/cal.json`, pasted as told, was refused: "…/data/data/cal.json: no such file")
    print(f"wrote {args.out}. In the agent's config set:\n  occupancy:\n    model: {model}\n"
          f"    calibration: {Path(os.path.abspath(args.out))}")
    return 0


def _where_labels_contradict(labels_csv: Path, kept: list, features: np.ndarray, y: np.ndarray, prior: Head) -> None:
    """Point at the labels to check first: the frames with the most labels the shipped model contradicts surely
    (``sure_contradictions``), each with its lines. "Check the labels" alone left an installer to re-read
    hundreds of rows to find the one frame whose flags were swapped."""
    from collections import defaultdict

    from edge_agent.bays.calibration import sure_contradictions

    idx = sure_contradictions(features, y, prior)
    if not len(idx):
        return
    per_frame: dict[str, list] = defaultdict(list)
    for i in idx:
        per_frame[kept[i].file].append(kept[i])
    bays: dict[str, int] = defaultdict(int)
    for b in kept:
        bays[b.file] += 1
    worst = sorted(per_frame.items(), key=lambda kv: (-len(kv[1]) / bays[kv[0]], kv[0]))[:5]
    print(f"occupancy calibrate: the shipped model contradicts {len(idx)} label(s) surely (p ≥ 0.9 against a 0, "
          "≤ 0.1 against a 1); check these first:", file=sys.stderr)
    for file, rows in worst:
        lines = ", ".join(str(b.line) for b in sorted(rows, key=lambda b: b.line)[:8])
        more = ", …" if len(rows) > 8 else ""
        print(f"  {file}: {len(rows)} of its {bays[file]} bays (lines {lines}{more} of {labels_csv})",
              file=sys.stderr)


def _bench(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from edge_agent.bays.classifier import BayClassifier

    try:
        clf = BayClassifier.load(args.model, threads=1)
    except (FileNotFoundError, ValueError) as exc:  # ModelLoadError: not an ONNX model
        print(f"occupancy bench: {exc}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    print(f"{args.model}: {args.model.stat().st_size} bytes, input {clf.size}x{clf.size}")
    for n in (1, 8, 32):
        crops = list((rng.random((n, clf.size, clf.size, 3)) * 255).astype(np.uint8))
        clf.predict(crops)
        wall, cpu = [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            clf.predict(crops)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        # CPU time too: on a shared machine the wall clock measures the neighbours as well.
        print(f"batch {n:>2}: {np.median(wall) / n * 1000:.2f} ms wall, {np.median(cpu) / n * 1000:.2f} ms CPU "
              f"per crop (median of {len(wall)})")
    from edge_agent.bays.crop import bay_crop

    frame = (rng.random((1080, 1920, 3)) * 255).astype(np.uint8)
    for name, poly in (("small bay 90x60 px", [(900, 500), (990, 505), (985, 565), (895, 560)]),
                       ("big bay 600x400 px", [(600, 500), (1200, 520), (1190, 920), (590, 900)])):
        t = time.process_time()
        for _ in range(args.repeat):
            bay_crop(frame, poly, clf.size)
        print(f"bay_crop, 1920x1080 frame, {name}: {(time.process_time() - t) / args.repeat * 1000:.2f} ms CPU")
    return 0
