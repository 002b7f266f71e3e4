"""Remote commands: checked, then dispatched to the runtime's ``AgentControl``; always a reply.

Broker ACLs are the first line of defence; here every command must also be well-formed
JSON matching its schema, fresh (``ts`` within ``command_max_age_s`` of our clock, either
way, so a recorded command cannot be replayed later) and, when a per-device key is
configured, signed: ``sig`` = hex (either case) HMAC-SHA256(key, name + "\\n" + canonical JSON of the
payload without ``sig``), canonical = keys sorted, no spaces, UTF-8; during a key rollout the
previous key is accepted too. A command may name its ``device`` and its ``site`` (then signed with the rest): one
named for another device or site is refused, so two devices given one key cannot run each other's commands, nor
``pole-1`` at two sites; ``require_device`` / ``require_site`` refuse one that names none. A command seen once is refused again while any window could take
it (replay), also after a restart (``ReplayMemory`` on disk), whichever key signed it.
Anything refused changes nothing and is logged; replies and logs quote at most
``QUOTE_MAX`` characters of any received value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeAlias

from edge_agent.clock import Clock, iso, parse_iso
from edge_agent.control import AgentControl, ControlError, ControlResult
from edge_agent.events.log_budget import LogBudget
from edge_agent.events.replay import ReplayMemory
from edge_agent.events.schemas import QUOTE_MAX, clip, command_schema, first_error, quote, sim_schema
from edge_agent.events.topics import COMMANDS, SIM_COMMANDS, Topics
from edge_agent.freetext import hidden, said
from edge_agent.jsondepth import too_deep, too_many_values, unique_names
from edge_agent.plates import check_plate_list

log = logging.getLogger(__name__)

# Refused commands in the log: a burst of REFUSAL_LOG_BURST lines, then one more every REFUSAL_LOG_EVERY_S; the rest
# go to debug and the next line logged says how many. Why: each refusal was a warning, so a backend retrying a bad
# command every second wrote 3,600 lines an hour, and anyone who may publish to the command topic (no key needed to
# be refused) as many lines as messages; the replies still say every refusal to the sender.
REFUSAL_LOG_BURST, REFUSAL_LOG_EVERY_S = 20, 60.0
# The outcome of a command that passed every check (done, or refused by the agent: a ``lock`` the interlock holds) is
# an info line on a budget of the same size: a backend retrying a ``lock`` refused ``occupancy_unsure`` 50 times a
# second wrote 1,971 lines (383 KB) in 40 s (probe flood). A few commands an hour are each still logged; the reply,
# and the lock's events, still say every one.


# The commands that say what a bay's arm should be: each one acted on is that bay's newest word (``_check_order``)
LAST_WORD = frozenset({"lock", "unlock", "maintenance"})
REPLY_FIELDS = ("reply_to", "correlation_id", "id")  # what a reply takes from a command's payload
ENVELOPE = ("ts", "id", "reply_to", "correlation_id", "sig", "device", "site")  # command-envelope.json's fields
# A person's words, as the review page takes a dismissal's reason: any text, line breaks and tabs too, but no other
# control character (NUL, ESC, DEL, C1) and no invisible format character (a bidi override, a zero-width space):
# ``freetext.hidden``. Why: a NUL went into the lock's events, the outbox and events.jsonl as \u0000, which
# PostgreSQL's jsonb refuses; a U+202E made the operator shown in a log or a page row read as another (attacker41).
TEXT_FIELDS = ("operator", "reason")
# The largest command the schemas allow is a set-lists of 2 × 100,000 plates of at most 16 characters, each
# written as \uXXXX escapes: 19.8 MB. A bigger payload is no command; it is refused before it is parsed (a
# 20 MB one took 2 s of the command thread to refuse, and a flood of them held hundreds of MB in the queue).
COMMAND_MAX_BYTES = 24 * 2**20
# The most values (array elements, object members) a command can hold: that set-lists's 2 × 100,000 plates and its
# envelope's few fields. More is no command; refused ``too_large`` before it is parsed, since the parse and the
# schema check cost per value: a payload well under 24 MiB held the command thread, and every ``unlock`` behind it,
# 53 s (1.8 million object names) to over 300 s (7 million ``{}``) under load (attacker41).
COMMAND_MAX_VALUES = 2 * 100_000 + 64


def canonical(name: str, body: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return name.encode() + b"\n" + text.encode("utf-8")


def sign_command(name: str, body: dict[str, Any], key: bytes) -> dict[str, Any]:
    """What a backend does before publishing: returns ``body`` with ``sig`` added."""
    return {**body, "sig": hmac.new(key, canonical(name, body), hashlib.sha256).hexdigest()}


def _not_finite(literal: str) -> float:
    """``NaN`` / ``Infinity`` are not JSON (RFC 8259); Python's parser takes them unless told."""
    raise ValueError(f"{literal} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to inf
        raise ValueError(f"{text[:40]} is not a finite number")
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")  # only a \uD800-\uDFFF escape can make one
_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(body: Any) -> bool:
    """JSON's ``\\ud800`` escape parses to half a UTF-16 pair, no Unicode character: echoed in a reply
    (``id``) or carried into an event (``operator``) it cannot be encoded as UTF-8, and the reply was lost
    (the command ran, silently) or the command failed half done. A loop, not recursion: the parser's
    nesting limit leaves no room for a recursive walk."""
    stack = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


@dataclass(frozen=True)
class Command:
    name: str
    payload: bytes
    response_topic: str | None = None  # MQTT 5 property
    correlation: bytes | None = None  # MQTT 5 property
    namespace: str = "cmd"  # "sim": a simulator fault (``{prefix}/sim/{name}``), same checks as a command
    retained: bool = False  # delivered from the broker's retained store: sent in the past, maybe long ago

    @property
    def signed_name(self) -> str:
        """What the signature covers: ``sim/stall`` for a sim command, so a signed command is never both."""
        return self.name if self.namespace == "cmd" else f"{self.namespace}/{self.name}"


@dataclass
class Reply:
    topic: str
    body: dict[str, Any]
    correlation: bytes | None = None
    acted: bool = False  # the command passed every check and reached the agent (done or refused by it)


Outcome: TypeAlias = tuple[bool, str, str, dict[str, Any]]  # ok, code, message, data: what a reply says


class Refused(ControlError):
    """Refused by the command layer itself (JSON, schema, age, signature), before the agent sees it; ``data`` goes
    into the reply (``wrong_device``'s ``field``: a program reads which name is wrong, never the message)."""

    def __init__(self, code: str, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(code, message)
        self.data = data or {}


@dataclass
class CommandHandler:
    control: AgentControl
    topics: Topics
    device: str
    clock: Clock
    max_age_s: float = 60.0
    hmac_key: bytes | None = None
    replay: ReplayMemory | None = None  # required when hmac_key is set
    hmac_previous: bytes | None = None  # during a key rollout: the key being replaced, accepted as well
    require_device: bool = False  # every command must name this device (``device``): ``mqtt.command_device``
    site: str | None = None  # this device's ``site_id``: a command naming another (``site``) is refused
    require_site: bool = False  # every command must name this site (``site``): ``mqtt.command_site``

    def __post_init__(self) -> None:
        if self.hmac_key is not None and self.replay is None:
            raise ValueError("signed commands need a ReplayMemory (on disk, so a restart does not forget)")
        # per bay, the ``ts`` of the newest lock command acted on (µs since the epoch) and whether a lowering was
        # among those of that ``ts`` (``_check_order``); the command thread's only. Kept over a restart where the
        # replay memory is (signed commands: unsigned, anyone may send a fresh lock anyway)
        self._last_word: dict[str, tuple[int, bool]] = self.replay.last_words() if self.replay is not None else {}
        # too_large runs on the MQTT thread, the rest on the command thread
        self._refusals = LogBudget(log, self.clock.monotonic, REFUSAL_LOG_BURST, REFUSAL_LOG_EVERY_S,
                                   logging.WARNING, "refused command(s)")
        self._outcomes = LogBudget(log, self.clock.monotonic, REFUSAL_LOG_BURST, REFUSAL_LOG_EVERY_S,
                                   logging.INFO, "command(s) answered")

    def _refusal(self, fmt: str, *args: object) -> None:
        """Log a refused command at warning while the budget allows, else at debug (counted)."""
        self._refusals.say(fmt, *args)

    def set_keys(self, key: bytes, previous: bytes | None = None) -> None:
        """A reload re-read the key file (a rotation): commands are checked against these from now on."""
        self.hmac_key, self.hmac_previous = key, previous

    def handle(self, cmd: Command) -> Reply:
        body, refused = self.check(cmd)
        if refused is not None:
            return refused
        return self._answer(cmd, body, self._outcome(cmd, lambda: self._dispatch(cmd, body)))

    def check(self, cmd: Command) -> tuple[dict[str, Any], Reply | None]:
        """Parse and check ``cmd`` (JSON, schema, age, signature, replay) without running it: its body, and its
        refusal when it may not run."""
        body: dict[str, Any] = {}

        def checked() -> Outcome:
            body.update(self._parse(cmd))
            self._check(cmd, body)
            return True, "checked", "", {}

        ok, code, message, data = self._outcome(cmd, checked, quiet=True)
        return body, None if ok else self._reply(cmd, body, ok, code, message, data)

    @staticmethod
    def reply_stub(cmd: Command, body: dict[str, Any]) -> tuple[Command, dict[str, Any]]:
        """What answering ``cmd`` later needs (where, and which ids to echo), without its payload or lists: a
        held ``set-lists`` of 20 MB kept whole, 100 held would hold 2 GB."""
        return replace(cmd, payload=b""), {k: body[k] for k in REPLY_FIELDS if k in body}

    def set_lists_together(self, held: list[tuple[Command, dict[str, Any]]], allow: list[str] | None,
                           deny: list[str] | None) -> list[Reply]:
        """Checked ``set-lists`` commands (``reply_stub``) applied as one: ``allow`` and ``deny`` as the last of them
        to name each gave it (last writer wins), one write of ``overrides.yaml``; each answered with its outcome."""

        def apply() -> Outcome:
            result = self.control.set_lists(allow, deny)
            return result.ok, "ok" if result.ok else "refused", result.message, dict(result.data)

        outcome = self._outcome(held[-1][0], apply)
        return [self._answer(cmd, body, outcome) for cmd, body in held]

    def _answer(self, cmd: Command, body: dict[str, Any], outcome: Outcome) -> Reply:
        reply = self._reply(cmd, body, *outcome)
        reply.acted = True  # every check passed: the agent acted (done, or refused by it)
        return reply

    def _outcome(self, cmd: Command, act: Callable[[], Outcome], quiet: bool = False) -> Outcome:
        """``act``'s outcome, or the refusal or failure it raised, logged (``quiet``: success is not)."""
        name = quote(cmd.signed_name, 60)
        try:
            ok, code, message, data = act()
        except Refused as exc:
            ok, code, message, data = False, exc.code, clip(str(exc)), dict(exc.data)
            self._refusal("command %s refused: %s: %s", name, exc.code, message)
        except ControlError as exc:
            ok, code, message, data = False, exc.code, clip(str(exc)), {}
            self._refusal("command %s refused by the agent: %s: %s", name, exc.code, message)
        except Exception as exc:  # the agent's bug: still a reply, never a dead command thread
            log.exception("command %s failed", name)
            ok, code, message, data = False, "internal_error", clip(f"{type(exc).__name__}: {exc}"), {}
        else:
            if not quiet:
                self._outcomes.say("command %s: %s %s", name, code, clip(message))
        return ok, code, message, data

    def busy(self, cmd: Command) -> Reply:
        """The reply for a command the full queue dropped: nothing ran, try again later."""
        return self._reply(cmd, self._cheap_parse(cmd), False, "busy", "too many commands waiting; nothing done, send it again later", {})

    def shutting_down(self, cmd: Command) -> Reply:
        """The reply for a command that came while the agent stops: nothing ran; send it again once it is back."""
        return self._reply(cmd, self._cheap_parse(cmd), False, "shutting_down",
                           "the agent is stopping; nothing done, send it again once it is back online", {})

    def too_large(self, cmd: Command, limit: int = COMMAND_MAX_BYTES) -> Reply:
        """The reply for a payload bigger than any command: never parsed, nothing done."""
        self._refusal("command %s refused: too_large: %d bytes (limit %d)", quote(cmd.signed_name, 60),
                      len(cmd.payload), limit)
        return self._reply(cmd, {}, False, "too_large",
                           f"payload of {len(cmd.payload)} bytes: no command is over {limit} bytes; nothing done", {})

    def _cheap_parse(self, cmd: Command) -> dict[str, Any]:
        """The payload read for its ``reply_to`` / ``correlation_id`` only when small: a flood stays cheap."""
        if len(cmd.payload) <= 64 * 1024:
            try:
                return self._parse(cmd)
            except Refused:
                pass
        return {}

    def _reply(self, cmd: Command, body: dict[str, Any], ok: bool, code: str, message: str,
               data: dict[str, Any]) -> Reply:
        reply_to = cmd.response_topic or (body.get("reply_to") if isinstance(body.get("reply_to"), str) else None)
        topic = self.topics.safe_reply_topic(reply_to)
        if reply_to and topic != reply_to:
            self._refusal("command %s: reply_to %s not allowed (own tree or a command inbox): replying on %s",
                          quote(cmd.name, 60), quote(reply_to, 100), topic)
        corr, cid = body.get("correlation_id"), body.get("id")
        correlation = cmd.correlation if cmd.correlation is None or len(cmd.correlation) <= QUOTE_MAX else None
        return Reply(
            topic=topic,
            correlation=correlation,
            body={
                "ok": ok,
                "command": cmd.signed_name if cmd.name in (SIM_COMMANDS if cmd.namespace == "sim" else COMMANDS)
                else None,
                "code": code,
                "message": message,
                "data": data,
                "ts": iso(self.clock.now()),
                "device": self.device,
                "correlation_id": corr if isinstance(corr, str) and len(corr) <= QUOTE_MAX else None,
                "id": cid if isinstance(cid, str) and len(cid) <= 128 else None,
            },
        )

    def _parse(self, cmd: Command) -> dict[str, Any]:
        # values first: the depth check walks the brackets outside strings in Python, and behind the value cap it
        # walks at most that many (24 MiB of '{},' were 16 million brackets walked, 1.2 s, review106)
        if too_many_values(cmd.payload, COMMAND_MAX_VALUES):  # [{},{},…: refused before it is parsed (jsondepth)
            raise Refused("too_large", f"more than {COMMAND_MAX_VALUES} values (array elements, object members): no "
                          "command holds that many; nothing done")
        if too_deep(cmd.payload):  # [[[[…: refused before the parser runs the stack to its limit (jsondepth)
            raise Refused("malformed_json", "payload is not JSON: nested too deeply")
        try:
            body = json.loads(cmd.payload.decode("utf-8"), parse_constant=_not_finite, parse_float=_finite_float,
                              object_pairs_hook=unique_names)
        except RecursionError:  # deeper than the parser's stack: malformed for us, not our crash
            raise Refused("malformed_json", "payload is not JSON: nested too deeply") from None
        except ValueError as exc:  # bad UTF-8, bad JSON, a non-finite number, an integer too long, a name twice
            why = "a number has too many digits" if "integer string conversion" in str(exc) else str(exc)
            raise Refused("malformed_json", f"payload is not JSON: {why}") from None
        if _SURROGATE_ESCAPE.search(cmd.payload) and _lone_surrogate(body):
            raise Refused("malformed_json", "payload is not JSON text: a \\uD800-\\uDFFF escape without its pair "
                          "(a lone surrogate is no Unicode character)")
        if not isinstance(body, dict):
            raise Refused("schema_violation", "payload must be a JSON object")
        return body

    def _check(self, cmd: Command, body: dict[str, Any]) -> None:
        name = cmd.name
        known = SIM_COMMANDS if cmd.namespace == "sim" else COMMANDS
        if name not in known:
            kind = "sim command" if cmd.namespace == "sim" else "command"  # the namespace of the rest is "cmd"
            raise Refused("unknown_command", f"unknown {kind} {quote(name, 60)}; "
                          f"known: {', '.join(known)}")
        if cmd.retained:  # the broker kept it and hands it to every (re)connect: never acted on, signed or not
            raise Refused("retained", "a retained command (published with the retain flag) is not run: it would "
                          "run again at every reconnect; publish commands without retain")
        signed = canonical(cmd.signed_name, body)
        if self.hmac_key is not None:
            sig = body.get("sig")
            if not isinstance(sig, str) or not sig:
                raise Refused("missing_signature", "signing is on: the command needs a 'sig'")
            # as bytes: compare_digest raises TypeError on text that is not ASCII ("internal_error" before)
            given = sig.lower().encode("utf-8", "surrogatepass")
            keys = [k for k in (self.hmac_key, self.hmac_previous) if k is not None]
            if not any(hmac.compare_digest(given, hmac.new(k, signed, hashlib.sha256).hexdigest().encode())
                       for k in keys):
                # what is signed, said: a backend signing the topic, "stall" for sim/stall, or spaced JSON saw
                # only "does not match" (newuser39)
                raise Refused("bad_signature", f"the signature does not match the payload: sig is HMAC-SHA256 over "
                              f"'{cmd.signed_name}', a newline and the payload without sig as JSON with keys sorted, "
                              "no spaces, UTF-8 unescaped (docs/mqtt.md, Signing)")
        problem = first_error(sim_schema(name) if cmd.namespace == "sim" else command_schema(name), body)
        if problem:
            raise Refused("schema_violation", problem)
        self._check_named("device", body.get("device"), self.device, self.require_device)
        self._check_named("site", body.get("site"), self.site or "", self.require_site)
        for field in TEXT_FIELDS:
            text = body.get(field)
            if isinstance(text, str) and (bad := hidden(text)) is not None:
                raise Refused("schema_violation", f"{field}: {said(bad)} is not text")
        sent = self._check_fresh(body["ts"])
        memory = self.replay if self.hmac_key is not None else None
        # what was signed, not the signature: during a rollout one command signed with each key is still one
        # (a signature itself: what earlier versions kept, refused while such an entry lasts after an upgrade)
        # a lowering is never refused for that doubt (DOWN is always allowed; the memory still runs each once)
        # (``lock-reset`` is none: it ends a latched fault, re-opening raises; an ``unlock`` lowers what it would)
        lowering = cmd.namespace == "cmd" and (name == "unlock" or (name == "maintenance" and body.get("on") is True))
        if (memory is not None and not lowering and (until := memory.forgot_until(self.max_age_s)) is not None
                and sent <= until):
            raise Refused("replay", "the replay memory was damaged and started afresh: a command stamped up to "
                          f"{iso(until)} may have been received already; send it again with a later ts")
        if memory is not None and not lowering and (upto := memory.older_than_kept(sent, self.max_age_s)) is not None:
            raise Refused("replay", f"ts is not after {iso(upto)}, up to which the replay memory has forgotten the "
                          "commands it received: whether this one was received before is no longer known (fresh "
                          "only because this device's clock went back?); send it again with a later ts")
        if memory is not None and (memory.seen(body["sig"].lower())
                                   or not memory.remember(hashlib.sha256(signed).hexdigest(), sent, self.max_age_s)):
            raise Refused("replay", "this signed command was already received")
        bay = body.get("bay")
        if bay is not None and bay not in self.control.bay_ids():
            raise Refused("unknown_bay", f"no bay {quote(bay, 70)} on this device")
        if cmd.namespace == "cmd" and name in LAST_WORD and isinstance(bay, str):
            self._check_order(name, bay, sent, lowering)
        if name == "set-lists":
            try:
                for key in ("allow", "deny"):
                    check_plate_list(key, body.get(key) or [])
            except ValueError as exc:
                raise Refused("bad_plate", str(exc)) from None

    def _check_order(self, name: str, bay: str, sent: datetime, lowering: bool) -> None:
        """A ``lock`` sent before the newest lock command acted on for its bay is refused: delivered out of order
        (a captured signed ``lock`` that never reached the device, published after the backend's ``unlock``) it
        raised the arm against the backend's last word. So is one of the same ``ts`` as an ``unlock`` or a
        ``maintenance`` on (``lowering``) acted on: which came first cannot be told (a backend stamping whole
        seconds), and any doubt leaves the arm down. An older ``unlock`` or ``maintenance`` still runs: a lowering
        is never refused. Kept over a restart with the replay memory."""
        at = ReplayMemory.micros(sent)
        newest, lowered = self._last_word.get(bay, (None, False))
        if name == "lock" and newest is not None and (at < newest or (at == newest and lowered)):
            raise Refused("out_of_order", f"ts is {(newest - at) / 1e6:.3f} s older than the newest lock command "
                          f"acted on for bay {quote(bay, 70)}" + (" (an unlock or maintenance of the same ts)"
                                                                  if at == newest else "")
                          + ": a lock sent before it is not run")
        if newest is None or at > newest:
            word = (at, lowering)
        elif at == newest and lowering and not lowered:
            word = (at, True)
        else:
            return
        self._last_word[bay] = word
        if self.replay is not None:
            try:
                self.replay.note_word(bay, *word)
            except sqlite3.Error as exc:  # kept in memory: a full card must not stop a lowering
                log.error("bay %s: the newest lock command's ts not kept on disk (%s): a restart forgets it",
                          quote(bay, 70), exc)

    def _check_named(self, field: str, named: str | None, ours: str, required: bool) -> None:
        """A command that names a ``device`` (``site``) is for that device (site) only. Why: the signature covers
        the name and the body, not the topic, so where two devices share a key (a fleet given one, against the
        docs) a command captured on one's topic ran again on the other's; and ``device`` binds the id, not the
        site, so a fleet naming its devices alike at every site (``pole-1``) ran it at every other site. Named
        inside the signed body, it cannot be moved. ``required`` (``mqtt.command_device`` / ``command_site``)
        refuses one that names none."""
        site, which = field == "site", {"field": field}  # ``data.field``: a backend tells which without the message
        if named is None:
            if required:
                raise Refused("wrong_device", f"{field}: this device ({'site ' * site}{quote(ours, 70)}) takes only "
                              f"commands that name {'its site' if site else 'it'} (mqtt.command_{field}: required)",
                              which)
        elif named != ours:
            raise Refused("wrong_device", f"{field}: the command is for {'site ' * site}{quote(named, 70)}, this "
                          f"{'device is at' if site else 'is'} {quote(ours, 70)}", which)

    def _check_fresh(self, ts: str) -> datetime:
        try:
            sent = parse_iso(ts)
        except ValueError:
            raise Refused("schema_violation", f"ts: {quote(ts, 60)} is not ISO-8601") from None
        if sent.tzinfo is None:
            raise Refused("schema_violation", "ts: needs a UTC offset (e.g. +08:00 or Z)")
        age = (self.clock.now() - sent).total_seconds()
        if abs(age) > self.max_age_s:
            side = "old" if age > 0 else "in the future"
            # a Pi without a real-time clock reads its last shutdown's time until NTP sets it: every command is
            # then stale, and the sender was left to suspect its own clock
            why = (f"; this device's clock ({iso(self.clock.now())}) is not synchronised (NTP), commands are "
                   "judged against it" if self.clock.synced() is False else "")
            raise Refused("stale", f"ts is {abs(age):.0f} s {side} (limit {self.max_age_s:.0f} s){why}")
        return sent

    def _dispatch(self, cmd: Command, b: dict[str, Any]) -> tuple[bool, str, str, dict[str, Any]]:
        c, name = self.control, cmd.name
        if cmd.namespace == "sim":
            fields = {k: v for k, v in b.items() if k not in ENVELOPE and k != "bay"}
            sim = c.simulate(b["bay"], name, fields)
            return sim.ok, "ok" if sim.ok else "refused", sim.message, dict(sim.data)
        if name == "snapshot":
            evidence_id = c.snapshot(b.get("bay"))
            return True, "ok", "snapshot stored", {"evidence_id": evidence_id}
        result: ControlResult
        if name == "lock":
            result = c.lock(b["bay"], b["reason"], b["operator"])
        elif name == "unlock":
            result = c.unlock(b["bay"], b["reason"], b["operator"])
        elif name == "lock-reset":
            result = c.reset_lock(b["bay"], b["operator"])
        elif name == "maintenance":
            result = c.set_maintenance(b["bay"], b["on"], b["operator"])
        elif name == "reload-config":
            result = c.reload_config()
        elif name == "set-lists":
            result = c.set_lists(b.get("allow"), b.get("deny"))
        else:  # charger-status
            result = c.charger_status(b["bay"], b["status"])
        return result.ok, "ok" if result.ok else "refused", result.message, dict(result.data)
