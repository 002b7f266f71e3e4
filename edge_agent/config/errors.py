"""``ConfigError`` and the one place its lines are worded.

Every config problem — a pydantic field error, a cross-section check, a YAML syntax error, a file that
cannot be read — ends up as one ``key.path: message`` line here. Two rules hold for all of them because
they are applied here and nowhere else:

- credentials inside URLs are masked (``mqtt://user:***@host``, ``?password=***``): an error line reaches
  terminals, tickets and the journal, and the value it quotes may be a broker or camera URL;
- a key the models do not know is shown only by a short prefix (``root…``): a file that is not a config
  (``check-config /etc/shadow``) must not be echoed back line by line.
"""

from __future__ import annotations

import re
from typing import Any

from edge_agent.masking import mask_url_credentials

MAX_PROBLEMS = 50  # more lines than this is not a config with typos but the wrong file
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,12}")


class ConfigError(Exception):
    """Invalid config; ``problems`` holds one ``key.path: message`` line each (credentials masked)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = mask_url_credentials(source)
        shown = [mask_url_credentials(p) for p in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"… and {len(problems) - MAX_PROBLEMS} more problems (is this the agent's config file?)")
        self.problems = shown
        super().__init__(f"{self.source}: " + "; ".join(shown))

    def report(self) -> str:
        n = len(self.problems)
        lines = [f"{self.source}: invalid config ({n} problem{'s' if n != 1 else ''})"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class ListenError(OSError):
    """The address a config section names cannot be listened on (port taken, address not this host's, a name
    that does not resolve): ``strerror`` is the one line naming the keys, for ``run`` to print (exit 2)."""

    def __init__(self, section: str, host: str, port: int, exc: OSError) -> None:
        super().__init__(exc.errno, f"{section}.host / {section}.port: cannot listen on {host}:{port} "
                                    f"({exc.strerror or exc})")


def shown_key(key: object) -> str:
    """A key as an error line may show it: a plain name as is, anything else by a short prefix."""
    text = str(key)
    if _PLAIN_KEY.match(text):
        return text
    m = _KEY_PREFIX.match(text)
    return (m.group(0) if m else "") + "…"


def key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + shown_key(part)
    return out or "(top level)"
