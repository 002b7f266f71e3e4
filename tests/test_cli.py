"""The ``edge-agent`` command table: every stage's subcommands load, or the CLI fails loudly."""

from __future__ import annotations

import pytest

from edge_agent import cli


def test_every_stage_registers_its_commands():
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert {"models", "recognize", "run", "demo", "review", "doctor"} <= set(sub.choices)


def _leaves(parser):  # noqa: ANN001, ANN202 - every command that runs a job (``occupancy calibrate``, ``run``)
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):
            yield from _leaves(child)


def test_each_commands_help_says_what_it_does_and_its_exits():
    """``edge-agent run --help`` (and every other command's) listed its options only: what the command is for was
    in the top menu alone, and no help said what its exit status means (probe newuser36)."""
    leaves = list(_leaves(cli.build_parser()))
    assert len(leaves) >= 25
    bare = [p.prog for p in leaves if not p.description]
    assert not bare, bare
    for p in leaves:
        text = p.format_help()
        assert p.description.split()[0] in text and "exit status: 0 done, 1 the job ran but failed, 2" in text, p.prog


def test_a_missing_command_module_is_an_error_not_a_silently_shorter_menu(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "edge_agent.bays.commands"))
    with pytest.raises(ModuleNotFoundError, match="edge_agent.bays.commands"):
        cli.build_parser()


def test_the_version_a_device_reports_is_the_packages(capsys):
    """``--version`` and the MQTT status's ``version`` are ``edge_agent.__version__``; pip and the fleet read
    pyproject.toml's. Two copies that drift tell the fleet an upgrade did not land (or did)."""
    from pathlib import Path

    from edge_agent import __version__

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+ (the Jetson's 3.10 skips)

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_a_reader_that_goes_away_ends_any_command_quietly(tmp_path):
    """``users list | head -1``, ``stats --csv | head``, ``doctor --json | head``: the reader gone, the next
    print was a BrokenPipeError traceback (and another at exit). Every command now stops quietly, exit 1.
    The pipe's read end is closed before the command starts, so its first write meets no reader."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r, w = os.pipe()
    os.close(r)
    try:
        out = subprocess.run([sys.executable, "-m", "edge_agent", "api", "asyncapi"], stdout=w, stderr=subprocess.PIPE,
                             text=True, timeout=120, cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin",
                                                                    "LC_ALL": "C.UTF-8"})
    finally:
        os.close(w)
    assert (out.returncode, out.stderr) == (1, "")


def test_a_file_a_command_cannot_open_is_one_line_naming_it(monkeypatch, capsys):
    """A labels file owned by root (``eval``, ``occupancy eval`` / ``calibrate``), a ``--json`` into ``/proc``:
    an ``OSError`` naming a file was a traceback from whichever command met it; it is one line, exit 2."""
    from edge_agent.perception import commands

    def unreadable(args):
        raise PermissionError(13, "Permission denied", str(args.labels))

    monkeypatch.setattr(commands, "_eval", unreadable)
    assert cli.main(["eval", "--labels", "/srv/labels.csv"]) == 2
    assert capsys.readouterr().err == "edge-agent eval: /srv/labels.csv: Permission denied\n"

    def unnamed(args):
        raise OSError("no file named: a fault of the code, kept as its traceback")

    monkeypatch.setattr(commands, "_eval", unnamed)
    with pytest.raises(OSError, match="kept as its traceback"):
        cli.main(["eval", "--labels", "/srv/labels.csv"])


@pytest.mark.parametrize("argv, says", [
    (["bench", "--repeat", "0"], "argument --repeat: must be 1 to 10000, not 0"),
    (["bench", "--sizes", "640,big"], "argument --sizes: not a whole number: 'big'"),
    (["bench", "--sizes", "640,100"], "argument --sizes: must be 160 to 4096, not 100"),
    (["occupancy", "bench", "--repeat", "-3"], "argument --repeat: must be 1 to 10000, not -3"),
])
def test_bench_numbers_are_checked_before_the_models_load(argv, says, capsys):
    """``bench --repeat 0`` was a ``statistics`` traceback after the models loaded, ``--sizes 640,big`` a
    ValueError after the stage timings, and ``occupancy bench --repeat -3`` printed medians "of 1"."""
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2 and says in capsys.readouterr().err


def test_bench_labels_and_json_are_checked_before_the_work(tmp_path, capsys):
    """``bench --labels`` that is not there was a FileNotFoundError traceback after the stage timings."""
    assert cli.main(["bench", "--labels", str(tmp_path / "nope.csv")]) == 2
    assert capsys.readouterr().err == f"bench: no labels file {tmp_path / 'nope.csv'}\n"
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert cli.main(["bench", "--json", str(blocker / "b.json")]) == 2
    assert capsys.readouterr().err.startswith(f"bench: cannot write --json {blocker / 'b.json'}: ")


_IMPORTS_OF = """
import contextlib, io, json, sys
from edge_agent import cli
seen = {}
for line in sys.argv[1:]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            cli.main(line.split())
        except SystemExit:
            pass
    seen[line] = sorted(m for m in ("fastapi", "cv2", "onnxruntime", "jsonschema", "paho") if m in sys.modules)
print(json.dumps(seen))
"""


def test_the_quick_commands_load_no_heavy_library(tmp_path):
    """Every command builds every command's parser, so a parser module that imports a heavy library at its top
    loads it for all: ``edge-agent --help`` cost ~1 s of CPU (3–5 s on a Pi), FastAPI, Jinja2 and jsonschema
    through ``edge_agent.web``'s package file, OpenCV through the occupancy parsers. The parsers import none;
    each command imports what it needs when it runs. ``check-config`` checks the bay polygons with OpenCV, so
    it may load that one, never the page's, the models' or MQTT's libraries. One process, commands in order:
    what a command loads stays loaded for the ones after it."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    lines = ["--help", "--version", "consume --help", "occupancy label --help", "review --help",
             f"check-config {root / 'config' / 'demo.yaml'}"]
    out = subprocess.run([sys.executable, "-c", _IMPORTS_OF, *lines], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
    assert out.returncode == 0, out.stderr
    expected = {line: [] for line in lines} | {lines[-1]: ["cv2"]}
    assert json.loads(out.stdout) == expected


_SIGNAL_AT = """
import os, signal, sys
from edge_agent import cli
where, sig = sys.argv[1], getattr(signal, sys.argv[2])
real = getattr(cli, where)
def signalled(*args):  # the signal is real, sent to this process; its handler runs right here, in the main thread
    os.kill(os.getpid(), sig)
    return real(*args)
setattr(cli, where, signalled)
raise SystemExit(cli.main(sys.argv[3:]))
"""


@pytest.mark.parametrize("where", ["build_parser", "heap_returns_large_blocks"])  # modules loading; the command's start
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("argv, stopped", [
    (["review", "--config", "/nonexistent/site.yaml"], 0),  # services: a stop is how they end, at any moment
    (["consume", "--broker", "mqtt://127.0.0.1:1"], 0),
    (["run", "--config", "/nonexistent/site.yaml"], 0),
    (["check-config", "/nonexistent/site.yaml"], "128+"),  # a job cut short: 128 + the signal
    (["occupancy", "eval", "/nonexistent/frames.csv"], "128+"),
])
def test_a_stop_signal_while_a_command_starts_ends_it_as_once_it_runs(tmp_path, where, sig, argv, stopped):
    """``review`` / ``consume`` exit 0 on SIGTERM or Ctrl-C once running, as ``run`` does, and as systemd expects of
    a unit it stops; but in their first seconds (the command modules loading, a database opening) a SIGTERM killed
    them where they stood (no clean-up; -15) and a Ctrl-C was a ``KeyboardInterrupt`` traceback (-2) or exit 130.
    Every command now unwinds from its first line: a service exits 0, a job 128 + the signal, no traceback."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", _SIGNAL_AT, where, sig, *argv], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin",
                                                         "LC_ALL": "C.UTF-8"},
                         # a Ctrl-C reaches it as from a terminal: a CI started in the background (``cmd &``,
                         # ``nohup``) hands its children SIGINT ignored, and an ignored signal stays ignored
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    expected = 128 + getattr(signal, sig) if stopped == "128+" else stopped
    assert (out.returncode, out.stderr) == (expected, "")


@pytest.mark.parametrize("argv", [["run"], ["doctor"], ["review"], ["users", "list"], ["users", "add", "li"],
                                  ["stats"], ["evidence", "forget", "粤BD12345"]])
def test_every_command_on_the_agents_config_takes_dash_c(argv):
    """``run`` took ``-c`` (the demo prints ``edge-agent run -c …``), ``doctor``, ``review``, ``users`` and ``stats``
    refused it: "the following arguments are required: --config" to an operator who had just typed one (newuser35)."""
    assert cli.build_parser().parse_args([*argv, "-c", "site.yaml"]).config == "site.yaml"


@pytest.mark.parametrize(("argv", "meant"), [
    (["usres", "list"], "users"),  # a command
    (["users", "add", "bob", "--role", "reviwer", "--config", "x.yaml"], "reviewer"),  # an option's choice
    (["occupancy", "evl"], "eval"),  # a subcommand's action
])
def test_a_misspelt_choice_on_the_command_line_is_told_the_one_meant(argv, meant, capsys):
    """``--role reviwer`` was argparse's "invalid choice: 'reviwer' (choose from …)" alone (probe newuser41), like
    the config's own choices before: the line now ends with the nearest one."""
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exc.value.code == 2 and "invalid choice" in err and err.endswith(f"did you mean '{meant}'?"), err


def test_a_choice_like_none_on_the_command_line_is_not_given_a_guess(capsys):
    with pytest.raises(SystemExit):
        cli.main(["users", "add", "bob", "--role", "root", "--config", "x.yaml"])
    assert "did you mean" not in capsys.readouterr().err


@pytest.mark.parametrize("degrees", ["100", "9", "27"])
def test_a_number_on_the_command_line_is_not_guessed_by_its_spelling(degrees, capsys):
    """``--rotate 100`` was told "did you mean '180'?" and ``9`` '90' (probe review108): digits alike are no slip of
    the keys (100° is nearest 90°), and a guessed angle turns every photo the wrong way. Words are still guessed."""
    with pytest.raises(SystemExit):
        cli.main(["recognize", "--rotate", degrees, "photo.jpg"])
    err = capsys.readouterr().err
    assert "invalid choice" in err and "did you mean" not in err, err
