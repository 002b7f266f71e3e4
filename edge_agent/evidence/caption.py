"""The words burned into an evidence photo: what happened, in the site's language (``web.language``).

The photo is what a property manager forwards to a tow company or shows a driver, outside the page: its caption
said ``violation_started  fuel_vehicle`` and ``not NEV (format+colour)``, the agent's codes, and a timestamp
with milliseconds (newuser34). It now says it in words (the bay, the plate
and its colour, NEV or not) with the site time to the second and its UTC offset. A device without a CJK font
draws ASCII only, so its captions stay English (Chinese words would come out as ``?``).

A violation's photo says what the agent saw (how the plate was read, how long the car stood in the bay) and that no
person has reviewed it yet: it said "违规占用充电车位" — a verdict — on a photo burnt before any reviewer looked
(a misread plate, a tow truck, a dismissed case all carried it; probe newuser36). The verdict is the reviewer's.
"""

from __future__ import annotations

from pathlib import Path

from edge_agent.clock import parse_iso
from edge_agent.fonts import FontMissing, cjk_font

_ZH, _EN = 0, 1
WHAT = {  # the photo's event
    # an observation and its standing, never a verdict: the reviewer gives that (newuser36). The standing when the
    # photo was taken: it is burnt once and served unchanged after a decision, where "not yet reviewed" on a
    # confirmed case said nobody had looked (review78)
    "violation_started": ("在充电车位停放{dur}，拍摄时未经人工审核", "in the charging bay{dur}, not reviewed when taken"),
    "vehicle_identified": ("车辆已识别", "Vehicle identified"),
    "snapshot": ("现场快照", "Snapshot"),
}
WHY = {  # a violation's reason
    "fuel_vehicle": ("车牌判读为燃油车", "plate read as a fuel car"),  # the reading, not the car's class
    # no plate confirmed: none read, or one read whole whose class stayed undecided (it stands in the photo:
    # "not readable" was false of it, review78)
    "unidentified": ("车牌未能确认", "plate not confirmed"),
    "deny_list": ("车牌在黑名单上", "plate on the deny-list"),
}
COLOUR = {
    "blue": ("蓝牌", "blue plate"),
    "green": ("绿牌", "green plate"),
    "yellow": ("黄牌", "yellow plate"),
    "yellow_green": ("黄绿牌", "yellow-green plate"),
    "white": ("白牌", "white plate"),
    "black": ("黑牌", "black plate"),
}
WORDS = {
    "bay": ("车位 {bay}", "Bay {bay}"),
    "all_bays": ("全部车位", "all bays"),
    "no_plate": ("未确认车牌", "no plate confirmed"),  # an undecided plate was read (review78)
    # the plate's reading, as line 2 says it: a flat "非新能源车" beside "车牌判读为燃油车，未经人工审核" stated the class
    # the reviewer has yet to confirm (review78, newuser37)
    "nev": ("判读为新能源车", "read as an NEV"),
    "not_nev": ("判读为非新能源车", "read as not an NEV"),
    # a list's verdict is the site's word about the plate, not what the plate is: a deny-listed green NEV plate
    # captioned "非新能源车" contradicted its own picture (probe review71)
    "deny_list": ("黑名单", "on the deny-list"),
    "allow_list": ("白名单", "on the allow-list"),
    "sep": ("：", ": "),
}


def language(lang: str, models_dir: str | Path | None) -> str:
    """``lang``, or English where Chinese cannot be drawn (no CJK font on this device that loads)."""
    if lang != "zh":
        return "en"
    try:
        cjk_font(20, models_dir)  # loaded, not only found (cached: the caption draws with it)
    except FontMissing:
        return "en"
    return "zh"


def _w(table: dict[str, tuple[str, str]], key: str | None, lang: str) -> str:
    pair = table.get(key or "")
    return pair[_ZH if lang == "zh" else _EN] if pair else (key or "")


def when(ts: str) -> str:
    """``2026-12-07T13:50:34.123+08:00`` as ``2026-12-07 13:50:34 UTC+08:00`` (the site's time, to the second)."""
    try:
        t = parse_iso(ts)
    except ValueError:
        return ts
    off = t.strftime("%z")
    return t.strftime("%Y-%m-%d %H:%M:%S") + (f" UTC{off[:3]}:{off[3:]}" if off else "")


def duration(seconds: object, lang: str) -> str:
    """``parked_s`` as the caption says it: `` 2 分钟`` / `` for 2 min`` (seconds under a minute); nothing when it is
    no number (an event from an older agent)."""
    try:
        s = max(0, int(float(seconds)))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return ""
    h, m = divmod(s // 60, 60)
    if lang == "zh":
        return f" {s} 秒" if s < 60 else " " + (f"{h} 小时 " if h else "") + f"{m} 分钟"
    return f" for {s} s" if s < 60 else " for " + (f"{h} h " if h else "") + f"{m} min"


def event_lines(event_type: str, bay: str, data: dict, nev: bool | None, ts: str, lang: str,
                grounds: str | None = None) -> list[str]:
    """Three lines: the bay, the plate, its colour and the verdict; what happened (and why); when. ``grounds``:
    the verdict's reason; a list's (``allow_list`` / ``deny_list``) is named instead of NEV or not."""
    first = [_w(WORDS, "bay", lang).format(bay=bay), str(data.get("plate") or _w(WORDS, "no_plate", lang))]
    if data.get("colour"):
        first.append(_w(COLOUR, str(data["colour"]), lang))
    if nev is not None and grounds in ("allow_list", "deny_list"):
        first.append(_w(WORDS, grounds, lang))
    elif nev is not None:
        first.append(_w(WORDS, "nev" if nev else "not_nev", lang))
    what = _w(WHAT, event_type, lang)
    if event_type == "violation_started":
        what = what.format(dur=duration(data.get("parked_s"), lang))
        if data.get("reason"):
            what = _w(WHY, str(data["reason"]), lang) + _w(WORDS, "sep", lang) + what
        what = what[:1].upper() + what[1:]
    return ["  ".join(first), what, when(ts)]


def snapshot_lines(bay: str | None, ts: str, lang: str) -> list[str]:
    where = _w(WORDS, "bay", lang).format(bay=bay) if bay else _w(WORDS, "all_bays", lang)
    return [f"{_w(WHAT, 'snapshot', lang)}  {where}", when(ts)]
