"""docs/architecture.md's import order, checked against every import in ``edge_agent`` (also those inside
functions): a package imports only the ones before it in the data flow, save the exceptions the doc names.
The order is read from the doc itself, so a package missing there, or an arrow running upward, fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
PACKAGE = REPO / "edge_agent"

# The doc's "Known exceptions", (importer prefix, imported prefix): dotted names below edge_agent.
EVENT_TYPES = ("events.types", "events.bus")  # what everything from the bays on speaks
EXCEPTIONS = [
    *((user, used) for user in ("bays", "locks", "evidence") for used in EVENT_TYPES),
    ("bays.monitor", "evidence"),  # it saves evidence itself
    ("stats.bench", "web"),  # a tool
    ("sim", ""),  # tools: the synthetic scenes, the scenario harness, the benchmarks
]
SIM_USERS = ("runtime.demo",)  # sim is imported by the demo (and the tests), nothing else in the agent


def layers() -> dict[str, int]:
    """``{unit: rank}`` from the doc's ``a → b/c → d / e`` line (peers share a rank)."""
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"A package imports only the ones before it in the data flow:\s*(.+?)\.\n", text, re.S)
    assert m, "docs/architecture.md lost its import order line"
    ranks: dict[str, int] = {}
    for rank, step in enumerate(m.group(1).split("→")):
        for name in re.findall(r"`([a-z_]+)`", step):
            ranks[name] = rank
    return ranks


def units() -> list[str]:
    """Every package and top-level module of edge_agent."""
    return sorted(p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
                  if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and not p.stem.startswith("__")))


def imports(path: Path) -> list[tuple[int, str]]:
    """``(line, dotted name below edge_agent)`` of each edge_agent import in ``path``, relative ones resolved."""
    rel = path.relative_to(PACKAGE).with_suffix("")
    here = list(rel.parts[:-1])  # the package the module is in (for __init__, the package itself)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name[len("edge_agent."):]) for a in node.names if a.name.startswith("edge_agent.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)]
                mod = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module == "edge_agent":
                found += [(node.lineno, a.name) for a in node.names]
                continue
            elif node.module and node.module.startswith("edge_agent."):
                mod = node.module[len("edge_agent."):]
            else:
                continue
            found.append((node.lineno, mod))
    return found


def _under(name: str, prefix: str) -> bool:
    return prefix == "" or name == prefix or name.startswith(prefix + ".")


def upward(ranks: dict[str, int]) -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        unit = module.split(".")[0]
        if unit.startswith("__"):  # the package itself and ``python -m edge_agent``
            continue
        for line, target in imports(path):
            used = target.split(".")[0]
            if used in (unit, "__version__") or used.startswith("__"):
                continue
            if used == "sim":
                if unit != "sim" and not any(_under(module, u) for u in SIM_USERS):
                    bad.append(f"{path.relative_to(REPO)}:{line}: {module} imports {target} (sim is a tool)")
                continue
            if any(_under(module, who) and _under(target, what) for who, what in EXCEPTIONS):
                continue
            if ranks[used] >= ranks[unit]:
                bad.append(f"{path.relative_to(REPO)}:{line}: {module} imports {target} "
                           f"({used} is not before {unit} in docs/architecture.md)")
    return bad


def test_every_package_has_its_place_in_the_import_order():
    missing = [u for u in units() if u not in layers() and u != "sim"]
    assert not missing, f"docs/architecture.md's import order does not name {missing}"


def test_no_package_imports_one_after_it_in_the_data_flow():
    bad = upward(layers())
    assert not bad, "\n".join(bad)


def test_the_check_sees_an_upward_import_inside_a_function(tmp_path, monkeypatch):
    """The checker itself: an import of the runtime from the bays, hidden in a function, is found."""
    fake = tmp_path / "edge_agent"
    (fake / "bays").mkdir(parents=True)
    (fake / "bays" / "__init__.py").write_text("")
    (fake / "bays" / "x.py").write_text("def f():\n    from edge_agent.runtime.agent import Agent\n    from ..web import app\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", fake)
    monkeypatch.setattr(__import__(__name__, fromlist=["REPO"]), "REPO", tmp_path)
    bad = upward(layers())
    assert [b.split(": ", 1)[1].split(" (")[0] for b in bad] == ["bays.x imports runtime.agent", "bays.x imports web"]

