"""What one event looks like on each kind of sink: a signed JSON document, or robot markdown.

Kept apart from delivery so the texts can be read and tested without a network. Robot markdown
says what a property manager needs in the group chat: what, which bay, which plate, how long,
when (site time), and a link to the violation's page when ``web.public_url`` is set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from edge_agent.clock import utc_offset
from edge_agent.events.types import Event

TITLES = {  # (zh, en)
    # what was seen, for the manager to review: the robot message reaches the group before anyone looked, and said
    # "违规占用充电车位" — a verdict — of a misread plate or a tow truck as of a fuel car (the caption's rule, newuser37)
    "violation_started": ("充电车位有车停放，待审核", "Car in a charging bay, to review"),
    "violation_ended": ("待审核的停放已结束", "Stay to review ended"),
    "overstay_started": ("充电完成后超时占位", "Overstay after charging"),
    "overstay_ended": ("超时占位结束", "Overstay ended"),
    "lock_fault": ("地锁故障", "Lock fault"),
    "lock_tamper": ("地锁被破坏", "Lock tampered"),
    "lock_refused": ("地锁拒绝动作", "Lock move refused"),
    "lock_maintenance": ("地锁维护模式", "Lock maintenance mode"),
    "camera_lost": ("摄像头离线", "Camera lost"),
    "camera_restored": ("摄像头恢复", "Camera restored"),
    "charger_suspect": ("疑似僵尸桩", "Charger suspect (never charging)"),
    "charger_mismatch": ("充电状态与车位不符", "Charger says charging, bay empty"),
    "charger_silent": ("充电桩无状态上报", "Charger silent"),
}
REASONS = {
    "fuel_vehicle": ("车牌判读为燃油车", "plate read as a fuel car"),  # the reading, as the photo's caption says
    "unidentified": ("车牌未能确认", "plate not confirmed"),
    "deny_list": ("车牌在黑名单上", "plate on the deny-list"),
    "departed": ("车辆已离开", "vehicle left"),
    "identified": ("已识别为新能源车", "identified as an NEV"),
    "allowed": ("车牌已加入白名单", "plate put on the allow-list"),
    "agent_stopped": ("设备曾停止运行，离开时间未知", "the agent had stopped; when it left was not seen"),
    "bay_removed": ("车位已从配置中移除", "the bay was taken out of the config"),
    "charging": ("充电桩报告重新开始充电", "the charger reports charging again"),
    "charger_idle": ("充电桩报告空闲", "the charger reports idle"),
}
# Markdown that free text (an operator's command ``reason``, carried by ``lock_moved`` once an operator asks for
# those) could use to add a link, a heading or lines of its own to a message the group reads as the device's:
# shown as the full-width forms a reader reads the same. Newlines become spaces; at most TEXT_MAX characters.
_INERT = str.maketrans({"[": "［", "]": "］", "(": "（", ")": "）", "<": "‹", ">": "›", "*": "＊", "_": "＿",
                        "`": "ʼ", "#": "＃", "!": "！", "|": "｜", "\\": "＼", "\r": " ", "\n": " ", "\t": " "})
TEXT_MAX = 200
FIELDS = {"bay": ("车位", "Bay"), "plate": ("车牌", "Plate"), "kind": ("类型", "Kind"),
          "duration": ("时长", "Duration"), "time": ("时间", "Time"), "detail": ("详情", "Details"),
          "open": ("查看", "Open"), "min": ("分钟", "min")}


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


def link(ev: Event, public_url: str | None) -> str | None:
    """The page a reader should open: the violation for violation events, the live bays otherwise."""
    if not public_url:
        return None
    base = public_url.rstrip("/")
    if ev.type == "violation_started":
        return f"{base}/violations/by-event/{ev.event_id}"
    return f"{base}/bays"


def _duration_s(ev: Event) -> float | None:
    d = ev.data
    for key in ("duration_s", "parked_s", "stayed_s", "finished_for_s"):
        if isinstance(d.get(key), (int, float)):
            return float(d[key])
    return None


def markdown(ev: Event, tz: ZoneInfo, lang: str, public_url: str | None, site: str) -> tuple[str, str]:
    """(title, markdown text) for a group robot."""
    i = 1 if lang == "en" else 0
    title = TITLES.get(ev.type, (ev.type, ev.type))[i]
    f = {k: v[i] for k, v in FIELDS.items()}
    lines = [f"### {title}", f"> {f['bay']}: **{ev.bay_id or '-'}** · {site}"]
    plate = ev.data.get("plate")
    if plate:
        lines.append(f"> {f['plate']}: **{_text(plate)}**")
    reason = ev.data.get("reason")
    if reason:
        lines.append(f"> {f['kind']}: {REASONS[reason][i] if reason in REASONS else _text(reason)}")
    dur = _duration_s(ev)
    if dur is not None:
        lines.append(f"> {f['duration']}: {dur / 60:.0f} {f['min']}")
    local = datetime.fromisoformat(ev.ts).astimezone(tz)
    lines.append(f"> {f['time']}: {local:%Y-%m-%d %H:%M:%S} {utc_offset(local)}")  # the DST hour shows twice
    url = link(ev, public_url)
    if url:
        lines.append(f"\n[{f['open']} {f['detail']}]({url})")
    return title, "\n".join(lines)


def _text(value: object) -> str:
    """Free text as inert markdown on one line (``_INERT``)."""
    text = str(value).translate(_INERT)
    return text if len(text) <= TEXT_MAX else text[:TEXT_MAX - 1] + "…"


def webhook(ev: Event, url: str, key: str | None, now: float, site: str, device: str,
            public_url: str | None) -> Request:
    """JSON POST; with a key, ``X-Edge-Signature: sha256=HMAC(key, "<X-Edge-Timestamp>.<body>")``."""
    body = json.dumps({"site": site, "device": device, "link": link(ev, public_url), "event": ev.to_dict()},
                      ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-Event-Id": ev.event_id}
    if key:
        stamp = str(int(now))
        mac = hmac.new(key.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers.update({"X-Edge-Timestamp": stamp, "X-Edge-Signature": f"sha256={mac}"})
    return Request(url, body, headers)


def wecom(ev: Event, url: str, key: str, tz: ZoneInfo, lang: str, public_url: str | None, site: str) -> Request:
    """WeCom group robot: ``POST …/webhook/send?key=KEY`` with ``{"msgtype": "markdown", …}``."""
    _, text = markdown(ev, tz, lang, public_url, site)
    body = json.dumps({"msgtype": "markdown", "markdown": {"content": text}}, ensure_ascii=False).encode()
    return Request(f"{url}?key={quote_plus(key)}", body, {"Content-Type": "application/json",
                                                          "X-Event-Id": ev.event_id})


def dingtalk(ev: Event, url: str, token: str, sign_secret: str | None, now: float, tz: ZoneInfo, lang: str,
             public_url: str | None, site: str) -> Request:
    """DingTalk robot: ``?access_token=…`` and, with 加签, ``&timestamp=ms&sign=base64(HMAC(secret, "ms\\nsecret"))``."""
    title, text = markdown(ev, tz, lang, public_url, site)
    body = json.dumps({"msgtype": "markdown", "markdown": {"title": title, "text": text}},
                      ensure_ascii=False).encode()
    q = f"access_token={quote_plus(token)}"
    if sign_secret:
        ms = str(int(now * 1000))
        mac = hmac.new(sign_secret.encode(), f"{ms}\n{sign_secret}".encode(), hashlib.sha256).digest()
        q += f"&timestamp={ms}&sign={quote_plus(base64.b64encode(mac).decode())}"
    return Request(f"{url}?{q}", body, {"Content-Type": "application/json", "X-Event-Id": ev.event_id})


def robot_ok(kind: str, status: int, text: str) -> bool:
    """2xx, and for robots ``errcode == 0`` (both answer 200 with an error code when they refuse)."""
    if not 200 <= status < 300:
        return False
    if kind == "webhook":
        return True
    try:
        doc: Any = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("errcode") == 0


__all__ = ["Request", "dingtalk", "link", "markdown", "robot_ok", "webhook", "wecom"]
