"""deploy/dev-deps.sh: finds the missing test packages and installs exactly those (root, else sudo), or
stops with one line naming them. Run for real against fake ``dpkg-query``/``id``/``sudo``/``apt-get``
on its PATH, so nothing on this machine is installed or removed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "dev-deps.sh"
NEEDED = ["mosquitto", "chromium", "shellcheck", "systemd", "openssl", "postgresql", "nodejs", "npm", "libatomic1",
          "strace"]
# the line a user without root or sudo is given, then the packages
APT_LINE = "apt-get update && apt-get install --no-install-recommends "

FAKE_DPKG_QUERY = """#!/bin/sh
# dpkg-query -W -f=FORMAT PKG: "installed" for the packages listed in $FAKE_INSTALLED, else not found
pkg="$3"
if grep -qx "$pkg" "$FAKE_INSTALLED"; then printf installed; else echo "no packages found matching $pkg" >&2; exit 1; fi
"""
FAKE_LOGGER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$FAKE_LOG"
"""


def run(tmp_path: Path, installed: list[str], *args: str, uid: int = 0, sudo: bool = False,
        dpkg: bool = True, commands: tuple[str, ...] = (), sudo_password: bool = False,
        ) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    tools = {"id": f"#!/bin/sh\necho {uid}\n", "apt-get": FAKE_LOGGER}
    if dpkg:
        tools["dpkg-query"] = FAKE_DPKG_QUERY
    if sudo:  # logs itself, then runs the command (the fake apt-get logs too), or with -n wants a password
        refuse = 'echo "sudo: a password is required" >&2; exit 1\n' if sudo_password else ""
        tools["sudo"] = (FAKE_LOGGER + (f'[ "$1" = -n ] && {{ {refuse}}}\n' if refuse else "")
                         + 'while [ "${1#-}" != "$1" ]; do shift; done\nexec "$@"\n')
    tools.update(dict.fromkeys(commands, "#!/bin/sh\n"))  # e.g. a node that some other installer put there
    for name, body in tools.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    for real in ("env", "grep", "basename", "sed", "true"):
        (bin_dir / real).symlink_to(shutil.which(real))
    (tmp_path / "installed").write_text("".join(f"{p}\n" for p in installed))
    log = tmp_path / "log"
    log.write_text("")
    env = {"PATH": str(bin_dir), "FAKE_INSTALLED": str(tmp_path / "installed"), "FAKE_LOG": str(log)}
    res = subprocess.run([shutil.which("bash"), str(SCRIPT), *args], env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=30)
    return res, log.read_text().splitlines()


def test_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed")
    res = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == "", res.stdout + res.stderr


def test_nothing_missing_installs_nothing(tmp_path):
    res, calls = run(tmp_path, NEEDED, uid=1000)
    assert res.returncode == 0 and calls == [] and res.stderr == ""


def test_root_installs_exactly_the_missing_packages(tmp_path):
    res, calls = run(tmp_path, [p for p in NEEDED if p not in ("chromium", "shellcheck")])
    assert res.returncode == 0, res.stderr
    assert calls == ["apt-get update -qq",
                     "apt-get install -y -qq --no-install-recommends chromium shellcheck"]


def test_not_root_goes_through_sudo_without_waiting_for_a_password(tmp_path):
    res, calls = run(tmp_path, [p for p in NEEDED if p != "mosquitto"], uid=1000, sudo=True)
    assert res.returncode == 0, res.stderr
    assert calls[:2] == ["sudo -n true", "sudo -n apt-get update -qq"]  # no terminal: -n, never a hanging prompt
    assert calls[-1] == "apt-get install -y -qq --no-install-recommends mosquitto"


def test_no_root_no_sudo_one_line_naming_the_packages_and_exit_1(tmp_path):
    """The line is what root's run does: on a bare Debian image (no package lists yet) a plain `apt-get install`
    answered "Unable to locate package", and it pulled chromium's recommends."""
    res, calls = run(tmp_path, [p for p in NEEDED if p not in ("chromium", "shellcheck", "openssl")], uid=1000)
    assert res.returncode == 1 and calls == []
    assert res.stderr.splitlines() == [f"dev-deps: the tests need these Debian packages; as root run: {APT_LINE}"
                                       "chromium shellcheck openssl"]


def test_sudo_that_wants_a_password_without_a_terminal_gives_the_line(tmp_path):
    """A user in the sudo group, run with no terminal (a script, CI): it said "dev-deps: installing strace" and then
    only sudo's "a password is required", never which packages to install."""
    res, calls = run(tmp_path, [p for p in NEEDED if p != "strace"], uid=1000, sudo=True, sudo_password=True)
    assert res.returncode == 1 and calls == ["sudo -n true"]
    assert res.stderr.splitlines() == [f"dev-deps: the tests need these Debian packages; as root run: {APT_LINE}strace"]


def test_a_command_already_on_path_counts_as_installed(tmp_path):
    """NodeSource's nodejs ships npm: no Debian nodejs / npm packages, yet nothing to install."""
    debian_only = [p for p in NEEDED if p not in ("nodejs", "npm")]
    res, calls = run(tmp_path / "both", debian_only, "--check", commands=("node", "npm"))
    assert res.returncode == 0 and calls == []
    res, _ = run(tmp_path / "node-only", debian_only, "--check", commands=("node",))
    assert res.returncode == 1 and res.stderr.strip() == "dev-deps: missing: npm"


def test_check_only_reports(tmp_path):
    res, calls = run(tmp_path, NEEDED, "--check", "--extras", "paddle")
    assert res.returncode == 1 and calls == []
    assert res.stderr.strip() == "dev-deps: missing: libgl1 libglib2.0-0"


def test_not_debian_lists_the_packages_and_lets_the_tests_run(tmp_path):
    res, calls = run(tmp_path, [], dpkg=False)
    assert res.returncode == 0 and calls == []
    assert " ".join(NEEDED) in res.stderr


def test_bad_option_is_usage_error(tmp_path):
    res, _ = run(tmp_path, NEEDED, "--extras", "yolo")
    assert res.returncode == 2 and "unknown extra 'yolo'" in res.stderr


def test_make_test_runs_it_before_pytest_and_ci_uses_it():
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    plan = subprocess.run(["make", "-n", "-B", "test"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "MAKEFLAGS": ""}).stdout.splitlines()
    deps = next(i for i, ln in enumerate(plan) if "deploy/dev-deps.sh" in ln)
    tests = next(i for i, ln in enumerate(plan) if "-m pytest" in ln)
    assert deps < tests
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "deploy/dev-deps.sh" in ci and "apt-get" not in ci  # one list, in dev-deps.sh


def test_venv_installs_only_python3_venv(tmp_path):
    """`make demo` on a Debian whose python3 lacks ensurepip: only python3-venv, none of the test packages."""
    res, calls = run(tmp_path / "bare", [], "--venv")
    assert res.returncode == 0, res.stderr
    assert calls[-1].split()[-1] == "python3-venv" and not any("mosquitto" in c for c in calls), calls
    res, calls = run(tmp_path / "has-it", ["python3-venv"], "--venv")
    assert res.returncode == 0 and calls == []


def test_venv_line_without_root_names_the_venv_not_the_tests(tmp_path):
    """`make demo` as a user on a bare Debian said "the tests need these Debian packages" for python3-venv."""
    res, calls = run(tmp_path, [], "--venv", uid=1000)
    assert res.returncode == 1 and calls == []
    assert res.stderr.splitlines() == ["dev-deps: python3 -m venv (the project's .venv) needs these Debian packages; "
                                       f"as root run: {APT_LINE}python3-venv"]


def test_with_venv_adds_python3_venv_to_the_one_line_and_the_one_install(tmp_path):
    res, calls = run(tmp_path / "user", [p for p in NEEDED if p != "strace"], "--with-venv", uid=1000)
    assert res.returncode == 1 and calls == []
    assert res.stderr.splitlines() == [
        f"dev-deps: the tests need these Debian packages; as root run: {APT_LINE}strace python3-venv"]
    res, calls = run(tmp_path / "root", [], "--with-venv")
    assert res.returncode == 0, res.stderr
    assert calls[-1] == "apt-get install -y -qq --no-install-recommends " + " ".join([*NEEDED, "python3-venv"])


FAKE_PYTHON = """#!/bin/sh
# a Debian python3 without python3-venv until $FAKE_INSTALLED lists it; `-m venv DIR` makes a DIR/bin/python
case "$1 $2" in "-c import ensurepip") grep -qx python3-venv "$FAKE_INSTALLED"; exit;; -c*) exit 0;; esac
if [ "$1" = -m ] && [ "$2" = venv ]; then mkdir -p "$3/bin"; printf '#!/bin/sh\\n' > "$3/bin/python"; chmod +x "$3/bin/python"; exit 0; fi
exit 0
"""


def _repo_with_fake_tools(tmp_path: Path, has_venv: bool, uid: int = 0) -> tuple[Path, Path]:
    """A copy of the Makefile and dev-deps.sh, and a PATH folder of fake apt tools (python3-venv installed or not)
    plus ``fakepython``, a python without ensurepip."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "deploy/dev-deps.sh"):
        shutil.copy2(REPO / name, repo / name)
    run(tmp_path / "tools", ["python3-venv"] if has_venv else [], "--check", uid=uid)  # builds the fake tools
    bin_dir = tmp_path / "tools" / "bin"
    (bin_dir / "fakepython").write_text(FAKE_PYTHON)
    (bin_dir / "fakepython").chmod(0o755)
    return repo, bin_dir


@pytest.mark.parametrize("has_venv", [False, True])
def test_make_installs_python3_venv_only_when_ensurepip_is_missing(tmp_path, has_venv):
    """The Makefile's venv step, run by make against a python without ensurepip (and fake apt tools)."""
    repo, bin_dir = _repo_with_fake_tools(tmp_path, has_venv)
    for real in ("mkdir", "printf", "chmod", "touch", "sh", "bash"):
        if not (bin_dir / real).exists():
            (bin_dir / real).symlink_to(shutil.which(real))
    env = {"PATH": str(bin_dir), "FAKE_INSTALLED": str(tmp_path / "tools" / "installed"),
           "FAKE_LOG": str(tmp_path / "tools" / "log")}
    (tmp_path / "tools" / "log").write_text("")
    res = subprocess.run([shutil.which("make"), "-C", str(repo), "venv", "PYTHON=fakepython"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    calls = (tmp_path / "tools" / "log").read_text().splitlines()
    if has_venv:
        assert calls == []
    else:
        assert calls[-1] == "apt-get install -y -qq --no-install-recommends python3-venv", calls
    assert (repo / ".venv" / ".installed").exists()


@pytest.mark.parametrize("has_venv", [False, True])
def test_make_test_asks_for_python3_venv_in_the_same_line_as_the_test_packages(tmp_path, has_venv):
    """`make test` as a user without root on a bare Debian (python3 without ensurepip): the line named the test
    packages only; once they were installed, the venv's step stopped again on python3-venv. Now one line has both,
    and a python3 with ensurepip adds nothing."""
    repo, bin_dir = _repo_with_fake_tools(tmp_path, has_venv, uid=1000)
    for real in ("sh", "bash"):
        (bin_dir / real).symlink_to(shutil.which(real))
    env = {"PATH": str(bin_dir), "FAKE_INSTALLED": str(tmp_path / "tools" / "installed"),
           "FAKE_LOG": str(tmp_path / "tools" / "log"), "MAKEFLAGS": ""}
    res = subprocess.run([shutil.which("make"), "-C", str(repo), "--no-print-directory", "test", "PYTHON=fakepython"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    wanted = [*NEEDED, "python3-venv"] if not has_venv else NEEDED
    assert res.stderr.splitlines()[0] == (f"dev-deps: the tests need these Debian packages; as root run: {APT_LINE}"
                                          + " ".join(wanted))
    assert not (repo / ".venv").exists()


# logs `-m venv ...` calls; `-m venv [--clear] DIR` makes a DIR/bin/python that accepts anything
LOGGING_PYTHON = """#!/bin/sh
if [ "$1" = -m ] && [ "$2" = venv ]; then
  echo "venv $*" >> "$FAKE_LOG"
  for a; do dir="$a"; done
  mkdir -p "$dir/bin"; printf '#!/bin/sh\\n' > "$dir/bin/python"; chmod +x "$dir/bin/python"
fi
exit 0
"""


def _logging_python(tmp_path: Path) -> tuple[Path, Path]:
    """A PATH holding only ``fakepython`` (each call logged to the returned file) and the tools make's recipes use."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "fakepython").write_text(LOGGING_PYTHON)
    (bin_dir / "fakepython").chmod(0o755)
    for real in ("mkdir", "printf", "chmod", "sh", "touch"):
        (bin_dir / real).symlink_to(shutil.which(real))
    log = tmp_path / "log"
    log.write_text("")
    return bin_dir, log


def test_a_moved_checkout_gets_a_new_venv(tmp_path):
    """The venv's scripts and editable install hold the folder it was made in: after the checkout was moved
    or renamed, `make demo` stopped at `.venv/bin/edge-agent: No such file or directory` while the stamp
    said the venv was up to date. In the same folder the venv is kept."""
    bin_dir, log = _logging_python(tmp_path)

    def make_venv(repo: Path) -> list[str]:
        before = len(log.read_text().splitlines())
        res = subprocess.run([shutil.which("make"), "-C", str(repo), "venv", "PYTHON=fakepython"], capture_output=True,
                             text=True, timeout=60, env={"PATH": str(bin_dir), "FAKE_LOG": str(log)})
        assert res.returncode == 0, res.stdout + res.stderr
        return log.read_text().splitlines()[before:]

    repo = tmp_path / "edge agent"  # a space in the path, as a user's folder may have
    (repo / "deploy").mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "deploy/dev-deps.sh"):
        shutil.copy2(REPO / name, repo / name)
    assert make_venv(repo) == ["venv -m venv .venv"]
    assert make_venv(repo) == []  # up to date where it was made
    moved = repo.rename(tmp_path / "moved")
    assert make_venv(moved) == ["venv -m venv --clear .venv"]
    assert (moved / ".venv" / ".installed").read_text() == f"{moved}\n"
    assert make_venv(moved) == []


def _fake_make_tree(tmp_path: Path, dev_deps_rc: int = 0) -> tuple[Path, dict[str, str], Path]:
    """A checkout with the real Makefile and fakes that log each step: ``deploy/dev-deps.sh`` (exits
    ``dev_deps_rc``), the venv's python, ``npm``."""
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    (repo / "tests" / "asyncapi").mkdir(parents=True)
    shutil.copy2(REPO / "Makefile", repo / "Makefile")
    shutil.copy2(REPO / "pyproject.toml", repo / "pyproject.toml")
    shutil.copy2(REPO / "tests" / "asyncapi" / "package-lock.json", repo / "tests" / "asyncapi" / "package-lock.json")
    log = tmp_path / "log"
    log.write_text("")
    # it does some work, as the real one checks each package, so a job started beside it has started by its end
    (repo / "deploy" / "dev-deps.sh").write_text(f'#!/bin/sh\ni=0\nwhile [ $i -lt 20000 ]; do i=$((i + 1)); done\n'
                                                 f'echo "dev-deps $*" >> "$FAKE_LOG"\nexit {dev_deps_rc}\n')
    (repo / "deploy" / "dev-deps.sh").chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "fakepython").write_text(LOGGING_PYTHON.replace("exit 0\n", (  # the version make asks when parsing: not a step
        'case "$1 $2" in "-c "*python_version*|"-c import ensurepip") ;; -c*) echo "python -c" >> "$FAKE_LOG";; esac\n'
        'exit 0\n')))
    (bin_dir / "npm").write_text('#!/bin/sh\necho "npm $*" >> "$FAKE_LOG"\nmkdir -p node_modules\n')
    for name in ("fakepython", "npm"):
        (bin_dir / name).chmod(0o755)
    for real in ("mkdir", "printf", "chmod", "sh", "touch"):
        (bin_dir / real).symlink_to(shutil.which(real))
    return repo, {"PATH": str(bin_dir), "FAKE_LOG": str(log), "MAKEFLAGS": ""}, log


def test_an_unfinished_venv_is_made_anew(tmp_path):
    """A set-up that failed or was cut short leaves a venv without the stamp: `PYTHON=python3.9 make demo` left
    one that pip had refused, and every later `make demo` with a good python3 failed the same way ("requires a
    different Python: 3.9.18") because `python3 -m venv .venv` kept its interpreter. Now it is cleared."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    repo, env, log = _fake_make_tree(tmp_path)
    (repo / ".venv" / "bin").mkdir(parents=True)  # what the refused set-up left: a venv, no stamp
    res = subprocess.run([shutil.which("make"), "-C", str(repo), "venv", "PYTHON=fakepython"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert [ln for ln in log.read_text().splitlines() if ln != "python -c"] == ["venv -m venv --clear .venv"]
    assert "make: using Python" not in res.stdout  # the fake says nothing; a real one is below


def test_an_older_python_is_refused_in_one_line_before_any_venv(tmp_path):
    """The real interpreter running the tests, against a minimum it does not meet (`PY_MIN`): one line naming
    it and the minimum, and no venv made from it (pip refused only after `python3.9 -m venv` had run)."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    repo, env, log = _fake_make_tree(tmp_path)
    python = tmp_path / "bin" / "realpython"  # by a plain name: this checkout's path may hold a space or a quote
    python.symlink_to(sys.executable)
    res = subprocess.run([shutil.which("make"), "-C", str(repo), "--no-print-directory", "venv",
                          "PYTHON=realpython", "PY_MIN=99.0"], env=env, capture_output=True, text=True, timeout=60)
    v = sys.version_info
    assert res.returncode == 2
    assert res.stderr.splitlines()[0] == (f"make: refusing Python {v[0]}.{v[1]}.{v[2]} ({python}): "
                                          "edge-agent needs Python 99.0 or newer; name one with "
                                          "PYTHON=/path/to/python3")
    assert not (repo / ".venv").exists() and log.read_text() == ""
    res = subprocess.run([shutil.which("make"), "-C", str(repo), "venv", "PYTHON=no-such-python3"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.splitlines()[0] == (
        "make: no no-such-python3 here: edge-agent needs Python 3.10 or newer; name one with PYTHON=/path/to/python3")


def test_npm_waits_for_the_packages_that_bring_it(tmp_path):
    """`make asyncapi-tools` ran `npm ci` without the dev-deps that install nodejs and npm."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    repo, env, log = _fake_make_tree(tmp_path)
    res = subprocess.run([shutil.which("make"), "-C", str(repo), "asyncapi-tools", "PYTHON=fakepython"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert log.read_text().splitlines() == ["dev-deps ", "npm ci --silent --no-audit --no-fund"]


@pytest.mark.parametrize("goals", [["test"], [], ["lint", "test"]])
def test_make_j2_test_runs_dev_deps_alone_first(tmp_path, goals):
    """`make -j2 test` started dev-deps, the venv (whose python3-venv step runs apt-get too: apt's lock refuses
    the second) and `npm ci` (npm not installed yet) at once. Now dev-deps runs alone first: where it stops
    (no root, no sudo) nothing else has started — also for `make` (all) and with `lint` beside `test`."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    repo, env, log = _fake_make_tree(tmp_path, dev_deps_rc=1)
    res = subprocess.run([shutil.which("make"), "-C", str(repo), "-j2", *goals, "PYTHON=fakepython"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert log.read_text().splitlines() == ["dev-deps "]
    assert not (repo / ".venv").exists()


def test_a_checkout_path_with_an_apostrophe_keeps_its_venv(tmp_path):
    """The stamp was written with the folder in shell quotes: under `/home/me/bob's work` the set-up failed at
    its last line ("Unterminated quoted string") after a full pip install, every time."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    repo, env, log = _fake_make_tree(tmp_path)
    repo = repo.rename(tmp_path / "bob's work, 测试")
    for _ in range(2):
        res = subprocess.run([shutil.which("make"), "-C", str(repo), "venv", "PYTHON=fakepython"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
    assert (repo / ".venv" / ".installed").read_text(encoding="utf-8") == f"{repo}\n"
    assert [ln for ln in log.read_text().splitlines() if ln.startswith("venv")] == ["venv -m venv .venv"]  # once


VERSIONED_PYTHON = """#!/bin/sh
# python3.X: says its version (the name's suffix); `-m venv [--clear] DIR` logs and writes DIR/pyvenv.cfg
version="${0##*python}.0"
case "$1" in
  -c) case "$2" in *python_version*) echo "$version";; esac; exit 0;;
  -m) echo "venv $(basename "$0") $*" >> "$FAKE_LOG"; for a; do dir="$a"; done
      mkdir -p "$dir/bin"; printf 'home = /x\\nversion = %s\\n' "$version" > "$dir/pyvenv.cfg"
      printf '#!/bin/sh\\n' > "$dir/bin/python"; chmod +x "$dir/bin/python";;
esac
exit 0
"""


def test_a_python_named_of_another_version_remakes_the_venv(tmp_path):
    """`PYTHON=python3.12 make demo` on a checkout whose venv is 3.11 kept the 3.11 venv without a word: a
    run meant to try 3.12 tried 3.11. The version named is compared with the venv's (pyvenv.cfg)."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    repo, env, log = _fake_make_tree(tmp_path)
    bin_dir = Path(env["PATH"])
    for name in ("python3.11", "python3.12"):
        (bin_dir / name).write_text(VERSIONED_PYTHON)
        (bin_dir / name).chmod(0o755)
    for real in ("sed", "basename"):
        (bin_dir / real).symlink_to(shutil.which(real))

    def make_venv(*args: str) -> list[str]:
        before = len(log.read_text().splitlines())
        res = subprocess.run([shutil.which("make"), "-C", str(repo), "venv", *args], env=env, capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        return [ln for ln in log.read_text().splitlines()[before:] if ln.startswith("venv")]

    assert make_venv("PYTHON=python3.11") == ["venv python3.11 -m venv .venv"]
    assert make_venv("PYTHON=python3.11") == []  # the same version: kept
    assert make_venv("PYTHON=python3.12") == ["venv python3.12 -m venv --clear .venv"]
    assert make_venv("PYTHON=python3.12") == []
    assert make_venv() == []  # no PYTHON named: the venv there is kept, whatever python3 is


def test_the_extras_venvs_are_made_anew_when_pyproject_changes_or_the_checkout_moves(tmp_path):
    """`.venv-paddle` and `.venv-yolo` had no stamp (a venv and a pip install at every `make test-paddle`), and
    `.venv-train`'s was a `touch`: an extra's pins changed in pyproject.toml were installed over what the venv had
    (a package the extra dropped stayed), and in a moved checkout its scripts named the old folder. Each is now
    stamped as .venv is: made anew (--clear) on a changed pyproject.toml or a moved checkout, kept otherwise."""
    bin_dir, log = _logging_python(tmp_path)
    stamps = [f".venv-{x}/.installed" for x in ("paddle", "yolo", "train")]

    def make(repo: Path) -> list[str]:
        before = len(log.read_text().splitlines())
        res = subprocess.run([shutil.which("make"), "-C", str(repo), *stamps, "PYTHON=fakepython"], capture_output=True,
                             text=True, timeout=60, env={"PATH": str(bin_dir), "FAKE_LOG": str(log)})
        assert res.returncode == 0, res.stdout + res.stderr
        return log.read_text().splitlines()[before:]

    repo = tmp_path / "edge agent"
    (repo / "deploy").mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "deploy/dev-deps.sh"):
        shutil.copy2(REPO / name, repo / name)
    made = [f"venv -m venv .venv-{x}" for x in ("paddle", "yolo", "train")]
    anew = [f"venv -m venv --clear .venv-{x}" for x in ("paddle", "yolo", "train")]
    assert make(repo) == made
    assert make(repo) == []  # up to date
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('yolo = ["ultralytics>=8.1"]', 'yolo = ["ultralytics>=8.3"]'))
    earlier = pyproject.stat().st_mtime - 10  # the venvs were made before the edit
    for stamp in stamps:
        os.utime(repo / stamp, (earlier, earlier))
    assert make(repo) == anew
    assert make(repo) == []
    moved = repo.rename(tmp_path / "moved")
    assert make(moved) == anew
    assert all((moved / s).read_text() == f"{moved}\n" for s in stamps)
    assert make(moved) == []
