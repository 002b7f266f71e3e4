"""Every `edge-agent …` command line in README.md and docs/*.md names real subcommands and options only:
a renamed or dropped flag fails here instead of in the hands of someone who follows the docs literally."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

from edge_agent.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# from `edge-agent ` to the end of the command: a code span's end, a comment, a pipe, `;`, the line's end
COMMAND = re.compile(r"edge-agent ([^`#|;\n]*)")
PUNCTUATION = "[](){}…,.:'\""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser] | None:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _problems(line: str, root: argparse.ArgumentParser) -> list[str]:
    out = []
    for start in [m.start() for m in re.finditer("edge-agent ", line)]:
        m = COMMAND.match(line, start)
        assert m is not None
        words = [w.strip(PUNCTUATION) for w in m.group(1).split()]
        parser, path = root, []
        while words and (choices := _subcommands(parser)) is not None and words[0] in choices:
            parser = choices[words.pop(0)]
            path.append(parser.prog.split()[-1])
        if not path:
            continue  # `edge-agent` the service user, the unit, a folder: not a command line
        if words and _subcommands(parser) is not None and re.fullmatch(r"[a-z][a-z-]*", words[0]):
            out.append(f"{' '.join(path)}: no such subcommand {words[0]!r}")
            continue
        options = {o for a in parser._actions for o in a.option_strings}
        for word in words:
            flag = word.split("=")[0]
            if flag.startswith("-") and flag != "-" and flag not in options:
                out.append(f"{' '.join(path)}: no option {flag}")
    return out


def test_every_documented_command_line_uses_real_subcommands_and_options():
    root = build_parser()
    problems = [f"{page.relative_to(ROOT)}:{n}: {p}"
                for page in PAGES
                for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
                for p in _problems(line, root)]
    assert not problems, "\n".join(problems)


def test_the_check_sees_a_wrong_flag_and_a_wrong_subcommand():
    root = build_parser()
    assert _problems("`edge-agent demo --brokre mqtt://x`", root) == ["demo: no option --brokre"]
    assert _problems("edge-agent models fecth --dir m", root) == ["models: no such subcommand 'fecth'"]
    assert _problems("sudo -u edge-agent /opt/edge-agent/venv/bin/edge-agent doctor --json --skip clock", root) == []
    assert _problems("edge-agent occupancy eval LABELS.csv [--model ONNX] [--jsn OUT]", root) == [
        "occupancy eval: no option --jsn"]


# `pip install 'edge_agent[x]'` asks the package index for a project named edge-agent (names are normalised),
# which this project never published: at best an error, at worst someone else's package run as root.
FROM_INDEX = re.compile(r"pip install[^\n`]*?[\s'\"]edge[-_]agent\[", re.IGNORECASE)


def test_install_hints_name_the_checkout_never_the_package_index():
    files = [*PAGES, *sorted((ROOT / "deploy").rglob("*.md")), *sorted((ROOT / "edge_agent").rglob("*.py"))]
    hits = [f"{f.relative_to(ROOT)}:{n}: {line.strip()}"
            for f in files for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
            if FROM_INDEX.search(line)]
    assert not hits, "\n".join(hits)
    assert FROM_INDEX.search("raise X(\"needs it: pip install 'edge_agent[yolo]'\")")
    assert not FROM_INDEX.search("pip install -e '.[yolo]' in the source checkout")


def _named_modules(text: str) -> set[str]:
    """Module and package names a page's tables mention: `edge_agent/x/`, `x/`, `x.py` in the first column."""
    names = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names |= {m.rstrip("/").removesuffix(".py").split("/")[-1]
                      for m in re.findall(r"`([\w/.]+)`", first)}
    return names


def test_every_package_and_module_is_in_the_architecture_table_and_the_readme_layout():
    """A newcomer finds each part of edge_agent/ in the README's layout and docs/architecture.md's table."""
    tree = {p.stem if p.is_file() else p.name for p in (ROOT / "edge_agent").iterdir()
            if (p.suffix == ".py" and not p.name.startswith("_")) or (p.is_dir() and (p / "__init__.py").exists())}
    for page in (ROOT / "README.md", ROOT / "docs" / "architecture.md"):
        missing = sorted(tree - _named_modules(page.read_text(encoding="utf-8")))
        assert not missing, f"{page.relative_to(ROOT)} does not name: {missing}"


YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def test_every_yaml_example_in_the_docs_passes_check_config(tmp_path):
    """Each ```yaml block of the docs (and of deploy/'s pages), over a minimal config with the bays it names, is a
    config `check-config` (and so `run`) accepts: an operator copies these, and a renamed key or a narrowed range
    shows here. Read as the agent reads a config file (``parse_yaml``), not by ``yaml.safe_load``: PyYAML alone
    takes the YAML 1.1 traps the agent refuses (``pin: 012`` is 10, ``on:`` the key true), so an example with one
    passed here and was refused when copied."""
    from edge_agent.config.load import parse_config
    from edge_agent.config.yamlfile import parse_yaml
    from tests.web.test_tls import make_cert

    pages = [*PAGES, *sorted((ROOT / "deploy").rglob("*.md"))]
    blocks = [(page, block) for page in pages for block in YAML_BLOCK.findall(page.read_text(encoding="utf-8"))]
    assert len(blocks) >= 5  # docs/locks.md and docs/notify-and-stats.md have two each, deploy/jetson one
    for page, block in blocks:
        section = parse_yaml(block, f"{page.relative_to(ROOT)}: ```yaml")  # a ConfigError names the key
        named = {lock["bay"] for lock in section.get("locks", [])} | {"A"}
        bays = [{"id": b, "polygon": [[i * 200, 0], [i * 200 + 100, 0], [i * 200 + 100, 100], [i * 200, 100]]}
                for i, b in enumerate(sorted(named))]
        data = {"site": {"site_id": "s", "device_id": "d"}, "camera": {"source": "rtsp://cam.example/1"},
                "bays": bays, "data_dir": str(tmp_path / "data"), **section}
        base = None
        if isinstance((section.get("web") or {}).get("tls"), dict):
            if not shutil.which("openssl"):
                continue  # no certificate to make it with: the other blocks are still checked
            # the page's certificate is read at load: the example's files, made beside the "config file"
            tls, base = section["web"]["tls"], tmp_path / "conf"
            cert, key = make_cert(base, "example")
            (base / tls["cert_file"]).parent.mkdir(parents=True, exist_ok=True)
            cert.replace(base / tls["cert_file"])
            key.replace(base / tls["key_file"])
        parse_config(data, f"{page.relative_to(ROOT)}: ```yaml", base)  # a ConfigError names the key


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but `-` and `_` dropped, spaces as `-`, repeats `-1`…"""
    count: dict[str, int] = {}
    anchors = set()
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        anchors.add(slug if slug not in count else f"{slug}-{count[slug]}")
        count[slug] = count.get(slug, 0) + 1
    return anchors


def test_every_relative_link_and_anchor_in_the_docs_resolves():
    pages = [*PAGES, ROOT / "CHANGELOG.md", *sorted(ROOT.glob("models/**/README.md")),
             *sorted((ROOT / "deploy").rglob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for url in LINK.findall(text):
            if re.match(r"[a-z]+:", url):
                continue  # http(s), mailto: not checked here (no network)
            path, _, frag = url.partition("#")
            target = (page.parent / path).resolve() if path else page
            if not target.exists():
                broken.append(f"{page.relative_to(ROOT)}: {url}: no such file")
            elif frag and target.suffix == ".md" and frag not in _anchors(target):
                broken.append(f"{page.relative_to(ROOT)}: {url}: no such heading")
    assert not broken, "\n".join(broken)
    assert "a-run-that-stopped" in _anchors(ROOT / "docs" / "bays.md")


# what the program itself points a user to, in a log line, an error or a page: `docs/web.md#https`
NAMED_DOC = re.compile(r"docs/([A-Za-z_-]+\.(?:md|yaml))(?:#([a-z0-9_-]+))?")


def _named_doc_problems(text: str) -> list[str]:
    out = []
    for m in NAMED_DOC.finditer(text):
        target = ROOT / "docs" / m.group(1)
        if not target.exists():
            out.append(f"{m.group(0)}: no such file")
        elif m.group(2) and m.group(2) not in _anchors(target):
            out.append(f"{m.group(0)}: no such heading")
    return out


def test_every_docs_page_and_heading_the_program_names_exists():
    """Messages such as "renew it (certbot renew; docs/web.md#https)" are read on a device, with no link to
    follow: a heading renamed in the docs left the program pointing at nothing, and the link check above reads
    only the Markdown's own links."""
    files = [*sorted((ROOT / "edge_agent").rglob("*.py")), *sorted((ROOT / "edge_agent").rglob("*.html")),
             *sorted((ROOT / "deploy").rglob("*")), *sorted((ROOT / "config").glob("*.yaml")), *PAGES]
    problems = [f"{f.relative_to(ROOT)}: {p}" for f in files if f.is_file() and f.suffix not in (".onnx", ".png")
                for p in _named_doc_problems(f.read_text(encoding="utf-8", errors="replace"))]
    assert not problems, "\n".join(problems)
    assert len([m for f in files if f.is_file() and f.suffix == ".py"
                for m in NAMED_DOC.finditer(f.read_text(encoding="utf-8"))]) > 20  # the pattern finds them
    assert _named_doc_problems("see docs/web.md#http and docs/webb.md") == [
        "docs/web.md#http: no such heading", "docs/webb.md: no such file"]
