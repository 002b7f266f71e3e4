"""Reading a YAML config file: bounded, regular files only, UTF-8, and no key written twice.

Every YAML the agent reads as configuration (the config file, ``{data_dir}/overrides.yaml``) goes through
:func:`read_yaml`, so each rule below holds for ``run``, SIGHUP, ``check-config``, ``doctor``, ``replay``
and the installer page alike, and each problem is a ``ConfigError`` line, never a traceback:

- **at most** ``MAX_BYTES`` (1 MiB; the largest real config is a few KiB): a 50 MB file once took 2.4 GB
  to parse, and ``check-config /dev/zero`` grew without end;
- **a regular file**: a device or a FIFO is refused before a byte is read (opened non-blocking, so a
  FIFO with no writer cannot hang the reload either);
- **UTF-8 text**: a binary or GBK-encoded file is named, not a ``UnicodeDecodeError``;
- **a key is the text written**: ``on:`` is the key ``on`` (YAML 1.1 made it the bool true: the documented
  ``simulator.script[].on`` had to be quoted), ``1:`` the key ``1``;
- **each key once per mapping**: YAML keeps the last of two equal keys without a word, so a second
  ``fps:`` further down silently won; the error names the key path and both lines;
- **aliases expand to at most** ``MAX_NODES`` values: a "billion laughs" document is a few hundred bytes;
- **no NUL character** in a key or value (``"\\0"`` in a quoted string): no setting can hold one, and a path
  with one (``data_dir``) was a ``ValueError: embedded null byte`` traceback before any check ran;
- **no environment variable to expand** (``${CAMERA_URL}``, ``$HOME/data``), **nor a home folder**
  (``~/data``): nothing expands them, so the text itself was the camera source or a folder named ``$HOME``
  or ``~`` in the working directory; secrets have ``*_env`` keys;
- **numbers in decimal**: a plain ``012`` (octal 10), ``22:00`` (base 60: 1320), ``0x10`` or ``0b11`` is named with
  what YAML 1.1 made of it (``pin: 012`` drove GPIO10 without a word);
- **a value YAML can build**: a plain ``2026-02-30`` (no such date), ``0x_``, a tagged ``!!float abc`` or
  ``!!bool maybe`` is named with its key path (PyYAML's constructor raised a ``ValueError`` / ``KeyError`` of its own);
- **a syntax error names a look-alike** on its line: a full-width ``：`` or ``，``, an ideographic space, ``“ ”``;
- **nesting and numbers a parser can hold**: a few thousand ``[`` deep overflowed PyYAML's recursive
  composer (``RecursionError``), an integer of over 4300 digits Python's int parser (``ValueError``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from edge_agent.config.errors import ConfigError, key_path
from edge_agent.durable import NotRegularFile, read_small

MAX_BYTES = 1 << 20
MAX_NODES = 200_000
MAX_INT_DIGITS = 100  # no setting takes a longer number; Python refuses to parse over 4300 digits
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_STR = "tag:yaml.org,2002:str"
_ENV_VAR = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:[:?+-][^}]*)?\}|^\$[A-Za-z_][A-Za-z0-9_]*")
_MERGE = "tag:yaml.org,2002:merge"
# A shell's home folder: ``~``, ``~/x``, ``~user/x`` (nothing expands it either: ``data_dir: ~/edge`` made a folder
# named ``~`` in the working directory, and a ``*_file`` key meant root's home under ``sudo`` but the service user's
# under systemd).
_HOME = re.compile(r"^~[A-Za-z0-9._-]*(?=/|$)")


def read_text(path: Path) -> str:
    """The file's text; ``ConfigError`` (source: the file) when it is not a readable, small, UTF-8 regular file."""
    try:
        data = read_small(path, MAX_BYTES)
    except NotRegularFile as exc:
        what = "a folder" if exc.folder else "not a regular file"
        raise ConfigError(str(path), [f"(file): {what} (a config is a YAML text file)"]) from None
    except OSError as exc:
        raise ConfigError(str(path), [f"(file): cannot read: {exc.strerror or exc}"]) from None
    if len(data) > MAX_BYTES:
        raise ConfigError(str(path), [f"(file): larger than {MAX_BYTES >> 20} MiB: not a config file "
                                      "(a config is a few KiB of YAML)"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"(file): not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                                      "save the config as UTF-8"]) from None


def parse_yaml(text: str, source: str) -> Any:
    """The document in ``text``; ``ConfigError`` for a syntax error, a key written twice or an alias bomb."""
    try:
        loader = yaml.SafeLoader(text)  # checks every character first: a control character raises here
    except yaml.reader.ReaderError as exc:
        raise ConfigError(source, [_unprintable(text, exc)]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _keys_as_written(node)
        _check_nodes(node, source)
        return loader.construct_document(node)
    except RecursionError:
        raise ConfigError(source, ["(yaml): nested deeper than a parser can follow: not a config file"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        lines = text.splitlines()
        marks = [m for m in (getattr(exc, "context_mark", None), mark) if m is not None]
        near = {n for m in marks for n in (m.line - 1, m.line) if 0 <= n < len(lines)}  # a scalar runs on a line
        hint = lookalikes("".join(_COMMENT.sub("", lines[n]) for n in sorted(near)))  # a comment's ： is its own
        if "'\\t'" in problem or "tab character" in problem:  # "found character '\t' that cannot start any token"
            hint = TAB_HINT
        hint = hint or next((h for p, h in _LAYOUT_HINTS if problem.startswith(p)), "")
        raise ConfigError(source, [f"(yaml): {where}{problem}" + (f"; {hint}" if hint else "")]) from None
    finally:
        loader.dispose()


def _unprintable(text: str, exc: yaml.reader.ReaderError) -> str:
    """Where the character YAML refuses is, said as a person finds it (line and column, its code).

    Why: it was a traceback (``yaml.reader.ReaderError``) from ``run``, ``check-config`` and SIGHUP alike. A NUL
    is what a power cut while an editor saved leaves (a file of zero bytes); ESC, a terminal's colour codes
    pasted in; DEL and other C0 / C1 control characters, a binary paste."""
    pos = exc.position if 0 <= exc.position <= len(text) else 0
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    if text and not text.strip("\x00"):
        return ("(file): all NUL bytes, no text: what a power cut while the file was being written leaves; restore it "
                "from a copy (the agent's overrides.yaml: from config-backups/ beside it)")
    return (f"(file): line {line}, column {column}: the control character U+{exc.character:04X} cannot be in a "
            "config (YAML text); remove it")


# What a Chinese input method (or a word processor) types for YAML's own characters: they look the same and are
# not them, so "fps：5" was "could not find expected ':'" and "[60，200]" one text "60，200", with nothing to say why.
_LOOKALIKES = {"\uff1a": ":", "\uff0c": ",", "\u3000": "a space", "\u00a0": "a space", "\uff3b": "[",
               "\uff3d": "]", "\uff5b": "{", "\uff5d": "}", "\uff03": "#", "\uff0d": "-", "\u201c": '"',
               "\u201d": '"', "\u2018": "'", "\u2019": "'"}


_COMMENT = re.compile(r"(^|\s)#.*$")
# An editor's Tab key: PyYAML says only "found character '\t' that cannot start any token".
TAB_HINT = "a tab character (an editor's Tab key): YAML indents with spaces only; replace the tab with spaces"
# PyYAML's words for a line out of place name its parser's states ("expected <block end>, but found '<block mapping
# start>'"): an operator who indented one key a space short was told nothing they could act on.
_LAYOUT_HINTS = (
    ("expected <block end>", "this line does not line up with the lines above it: the keys of one section (and the "
                             "items of one list) start in the same column, indented with spaces"),
    ("mapping values are not allowed here", "a ': ' where no key can start: this line is indented deeper than the "
                                            "key above it, the line above lost its indentation, or a value holds "
                                            "': ' (put such a value in quotes)"),
    ("could not find expected ':'", "on this line or the one above, a key without ': ' after it (write "
                                    "`key: value`, a space after the colon), or a line that does not line up with "
                                    "the keys around it"),
    ("expected ',' or ']'", "a [ … ] list not closed on its line (a missing ]), or text in it holding ':' or ',' "
                            "that needs quotes"),
    ("expected ',' or '}'", "a { … } mapping not closed on its line (a missing }), or text in it holding ':' or ',' "
                            "that needs quotes"),
)


def lookalikes(text: str) -> str:
    """A hint naming the characters in ``text`` that look like YAML syntax and are not ("" when none)."""
    found = list(dict.fromkeys(c for c in text if c in _LOOKALIKES))
    if not found:
        return ""
    named = ", ".join(f"{c!r} (U+{ord(c):04X}) for {_ascii(_LOOKALIKES[c])}" for c in found)
    return (f"it holds {named}: a full-width or typographic character (a Chinese input method's, a word "
            "processor's) is not YAML syntax; type the ASCII one")


def _ascii(meant: str) -> str:
    """The character meant, quoted as the lookalike is (``for ':'``; unquoted it read ``for ::``)."""
    return repr(meant) if len(meant) == 1 else meant


def read_yaml(path: Path) -> tuple[Any, str]:
    """(document, text) of the YAML file ``path`` under the rules above."""
    text = read_text(path)
    return parse_yaml(text, str(path)), text


def _keys_as_written(root: yaml.Node) -> None:
    """Every plain mapping key is the text written: a setting's name is never a true/false, a number or null.

    YAML 1.1 makes the plain key ``on`` the bool true, so the documented ``simulator.script[].on: false`` was
    refused as "locks[0].simulator.script[0].stall[1]: Keys should be strings" unless quoted, and a stray
    ``yes:`` or ``1:`` was named as ``[1]``; now each is the key it reads as (``on``, or an unknown key named as
    written). Each node once (an alias is the same node), iteratively (nesting is bounded by ``_check_nodes``)."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.style is None and k.tag not in (_STR, _MERGE):
                    k.tag = _STR
                todo.append(v)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)


def _check_nodes(root: yaml.Node, source: str) -> None:
    """Duplicate keys (with their key path and both lines) and the expanded size of aliases."""
    sizes: dict[int, int] = {}
    problems: list[str] = []
    constructor = yaml.constructor.SafeConstructor()

    def walk(node: yaml.Node, loc: tuple[Any, ...], key: bool = False) -> int:
        known = sizes.get(id(node))
        if known is not None:  # an alias: counted again (that is what expanding it costs), not walked again
            return known
        sizes[id(node)] = 1  # a cycle (an alias inside its own anchor) counts once
        total = 1
        if isinstance(node, yaml.ScalarNode):
            problem = _scalar_problem(node, key)
            if problem:
                problems.append(f"{key_path(loc)}: {problem}")
        elif isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in node.value:
                name = _key(constructor, k)
                if k.tag != _MERGE and name is not None:
                    if name in seen:
                        problems.append(f"{key_path((*loc, str(name)))}: written twice (lines {seen[name]} and "
                                        f"{k.start_mark.line + 1}); YAML would silently keep the last — remove one")
                    else:
                        seen[name] = k.start_mark.line + 1
                total += walk(k, loc, key=True) + walk(v, (*loc, "?" if name is None else str(name)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                total += walk(item, (*loc, i))
        sizes[id(node)] = total
        if total > MAX_NODES:
            raise ConfigError(source, [f"{key_path(loc)}: aliases expand to over {MAX_NODES} values: "
                                       "not a config file"])
        return total

    walk(root, ())
    if problems:
        raise ConfigError(source, problems)


def _scalar_problem(node: yaml.ScalarNode, key: bool = False) -> str | None:
    """What no setting can hold, said before the constructor fails on it with a traceback (``key``: a mapping key,
    a name, not a value to expand)."""
    if "\0" in node.value:
        return "holds a NUL character (\\0): no setting can; remove it"
    if node.tag == _INT and sum(c.isdigit() for c in node.value) > MAX_INT_DIGITS:
        return f"a number of over {MAX_INT_DIGITS} digits: no setting takes one"
    trap = _not_decimal(node) or _unreadable(node)
    if trap:
        return trap
    if key:
        return None
    found = _ENV_VAR.search(node.value) if node.tag == _STR else None
    if found:
        return (f"{found.group(0)} looks like an environment variable, and the config expands none: write the "
                "value itself (secrets: the *_env keys name a variable)")
    home = _HOME.match(node.value) if node.tag == _STR else None
    if home:
        return (f"{home.group(0)} looks like a home folder, and the config expands none (it would name a folder "
                "called ~, or another home for each user who runs a command): write the absolute path")
    return None


def _not_decimal(node: yaml.ScalarNode) -> str | None:
    """A plain number YAML 1.1 reads in another base than the one it looks written in: ``012`` is octal 10,
    ``22:00`` base 60 (1320), ``0x10`` 16. Taken silently, ``pin: 012`` in a zero-padded wiring table drove GPIO10,
    and ``quiet_hours.start: 22:00`` was "not a valid string" with nothing to say why. The config's numbers are
    decimal; a text that looks like one (an id ``010``, a time ``22:00``) goes in quotes."""
    if node.style is not None or node.tag not in (_INT, _FLOAT):
        return None
    text = node.value
    digits = text.lstrip("+-")
    if ":" in text:
        base = "base 60"
    elif digits[:2] in ("0x", "0b"):
        base = {"0x": "hexadecimal", "0b": "binary"}[digits[:2]]
    elif node.tag == _INT and len(digits) > 1 and digits[0] == "0":
        base = "octal"
    else:
        return None
    try:
        value = yaml.constructor.SafeConstructor().construct_object(node)
    except Exception:  # noqa: BLE001 - not a number after all: _unreadable says so
        return None
    if base == "octal":
        meant = int(text.replace("_", ""), 10)
        # 05 is 5 either way: "(5, not 5)" read as a contradiction to the operator whose 0.4.0 config it stopped
        read = f"the same {meant} here, but 010 would be 8" if value == meant else f"{value:g}, not {meant}"
        return (f"{text} is read by YAML 1.1 as an octal number ({read}): write numbers without a "
                f"leading 0, and a text (an id, a time) in quotes ('{text}')")
    return (f"{text} is read by YAML 1.1 as the {base} number {value:g}: write numbers in decimal, and a text "
            f"(an id, a time) in quotes ('{text}')")


# The scalar kinds whose constructor reads the text itself and fails with a Python error, not a YAML one.
_CONSTRUCTED = {_INT: "an integer", _FLOAT: "a number", "tag:yaml.org,2002:bool": "a true/false value",
                "tag:yaml.org,2002:timestamp": "a date"}


def _unreadable(node: yaml.ScalarNode) -> str | None:
    """A value YAML calls a number, a true/false or a date and cannot build as one: a plain ``2026-02-30`` (a date
    that does not exist), ``0x_`` or ``0b_``, or a value tagged ``!!float abc``, ``!!int ''``, ``!!bool maybe``,
    ``!!timestamp x``. PyYAML's constructor then raised a ``ValueError`` / ``KeyError`` / ``IndexError`` /
    ``AttributeError`` of its own, not a ``YAMLError``: a traceback from ``check-config``, ``run`` and a reload."""
    kind = _CONSTRUCTED.get(node.tag)
    if kind is None:
        return None
    try:
        yaml.constructor.SafeConstructor().construct_object(node)
    except yaml.YAMLError:
        return None  # said with its line by the constructor itself
    except Exception as exc:  # noqa: BLE001 - whatever PyYAML's own parsing of the text raises
        why = f" ({exc})" if isinstance(exc, ValueError) else ""
        return (f"{_shown(node.value)} is read by YAML 1.1 as {kind}, and it is not a valid one{why}: "
                "correct it, or put a text in quotes")
    return None


def _shown(text: str, limit: int = 60) -> str:
    """A scalar's text as an error line shows it: quoted, cut to ``limit`` characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


def _key(constructor: yaml.constructor.SafeConstructor, node: yaml.Node) -> Any:
    """A mapping key as the loader would build it, for comparison (None: not a plain scalar key)."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    try:
        value = constructor.construct_object(node)
    except Exception:  # noqa: BLE001 - an integer key too long for Python, a ``!!bool maybe`` key (named by walk)
        return None
    try:
        hash(value)
    except TypeError:
        return None
    return value
