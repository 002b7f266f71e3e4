"""UI text: Chinese by default, English on request. A plain dict per language, no gettext toolchain."""

from __future__ import annotations

LANGUAGES = ("zh", "en")

_TEXT: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "app_title": ("充电车位管理", "Charging bays"),
    "nav_violations": ("违规记录", "Violations"),
    "nav_bays": ("实时车位", "Live bays"),
    "nav_stats": ("统计", "Statistics"),
    "st_chart_violations": ("每日违规", "Violations per day"),
    "st_chart_bays": ("各车位占用 / 充电 / 空闲（小时）", "Per bay: occupied / charging / free (hours)"),
    "st_chart_heat": ("占用率：星期 × 小时", "Occupancy: weekday × hour"),
    "st_table": ("数据表", "Table"),
    "st_day": ("日期", "Day"),
    "st_violations": ("违规次数", "Violations"),
    "st_violation_min": ("违规分钟", "Violation min"),
    "st_fuel_min": ("燃油车占用分钟", "Fuel car min"),
    "st_visits": ("停车次数", "Visits"),
    "st_occupied_h": ("占用小时", "Occupied h"),
    "st_charging_h": ("充电小时", "Charging h"),
    "st_parked_h": ("停车未充电小时", "Parked, not charging h"),
    "st_free_h": ("空闲小时", "Free h"),
    "st_occupied_pct": ("占用率", "Occupied"),
    "st_nev": ("新能源", "NEV"),
    "st_fuel": ("燃油", "Fuel"),
    "st_unidentified": ("未识别", "Unidentified"),
    "st_dwell": ("停留中位数（分）", "Median dwell (min)"),
    "st_bay_days": ("每车位每日", "Per bay and day"),
    "st_show": ("显示", "Show"),
    "st_weekdays": ("一,二,三,四,五,六,日", "Mon,Tue,Wed,Thu,Fri,Sat,Sun"),
    "st_no_charger": ("未接入充电桩状态", "no charger status fed"),
    "nav_installer": ("车位标定", "Installer"),
    "nav_audit": ("操作日志", "Audit log"),
    "logout": ("退出", "Log out"),
    "login": ("登录", "Log in"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码错误", "Wrong user name or password"),
    "login_limited": ("登录失败次数过多，请稍后再试", "Too many failed logins, try again later"),
    "login_busy": ("登录请求过多，请稍后再试", "Too many logins at once, try again in a moment"),
    "bay": ("车位", "Bay"),
    "all": ("全部", "All"),
    "plate": ("车牌", "Plate"),
    "colour": ("颜色", "Colour"),
    "from": ("开始日期", "From"),
    "to": ("结束日期", "To"),
    "decision": ("处理状态", "Decision"),
    "filter": ("筛选", "Filter"),
    "reset": ("重置", "Reset"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "started": ("开始时间", "Started"),
    "ended": ("结束时间", "Ended"),
    "ongoing": ("进行中", "ongoing"),
    "reason": ("原因", "Reason"),
    "verdict": ("判定", "Verdict"),
    "nev": ("新能源车", "NEV"),
    "not_nev": ("非新能源车", "not an NEV"),
    "unknown": ("无法判断", "unknown"),
    "open": ("待处理", "Open"),
    "confirmed": ("已确认", "Confirmed"),
    "dismissed": ("已驳回", "Dismissed"),
    "no_violations": ("没有符合条件的违规记录", "No violations match"),
    "total": ("共 {n} 条", "{n} in total"),
    "page_of": ("第 {page} / {pages} 页", "Page {page} of {pages}"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "detail": ("详情", "Details"),
    "back": ("返回列表", "Back to list"),
    "frame": ("现场照片", "Frame"),
    "crop": ("车牌特写", "Plate crop"),
    "no_image": ("没有图片", "No image"),
    "timeline": ("车位时间线", "Visit timeline"),
    "lock_actions": ("地锁动作", "Lock actions"),
    "no_lock_actions": ("无地锁动作", "No lock actions"),
    "decision_history": ("处理记录", "Decision history"),
    "confirm": ("确认违规", "Confirm"),
    "dismiss": ("驳回", "Dismiss"),
    "reopen": ("重新打开", "Reopen"),
    "dismiss_reason": ("驳回原因", "Reason for dismissal"),
    "decided_meanwhile": ("#{id} 已被 {user} 处理为「{decision}」，本次操作未生效",
                          "#{id} was already {decision} by {user}: nothing changed"),
    "add_allow": ("加入白名单", "Add to allow-list"),
    "add_deny": ("加入黑名单", "Add to deny-list"),
    "on_allow": ("在白名单中", "on the allow-list"),
    "on_deny": ("在黑名单中", "on the deny-list"),
    "saved": ("已保存", "Saved"),
    "why_allow_list": ("白名单", "allow-list"),
    "why_deny_list": ("黑名单", "deny-list"),
    "state": ("状态", "State"),
    "lock": ("地锁", "Lock"),
    "since": ("状态开始", "Since"),
    "last_snapshot": ("最新画面", "Last snapshot"),
    "take_snapshot": ("拍摄画面", "Take snapshot"),
    "no_bays": ("还没有车位状态", "No bay state yet"),
    "camera_down": ("摄像头离线", "camera offline"),
    "camera_moved": ("摄像头已移动：车位框不再对准车位，地锁不会升起。请在安装页重新画车位，或确认当前画面。",
                     "The camera has moved: the bay outlines no longer fit the bays and no lock will rise. "
                     "Redraw the bays on the installer page, or confirm the current view."),
    "confirm_view": ("确认当前画面", "Confirm current view"),
    "st_free": ("空闲", "free"),
    "st_occupied": ("有车", "occupied"),
    "st_identified": ("已识别", "identified"),
    "st_violation": ("违规", "violation"),
    "st_overstay": ("超时占用", "overstay"),
    "st_unknown": ("未知", "unknown"),
    "installer_help": (
        "点击画面添加角点；拖动角点移动；双击角点（或选中后点“删除角点”）删除。每个车位至少 3 个角点。",
        "Click the picture to add a corner; drag a corner to move it; double-click it (or touch it and press "
        "Delete corner) to delete it. Each bay needs at least 3 corners.",
    ),
    "new_bay": ("新增车位", "New bay"),
    "delete_bay": ("删除车位", "Delete bay"),
    "delete_corner": ("删除角点", "Delete corner"),
    "bay_id": ("车位编号", "Bay id"),
    "save_reload": ("保存并重新加载", "Save and reload"),
    "snapshot_failed": ("无法获取摄像头画面", "Could not get a camera picture"),
    "config_invalid": ("配置无效", "Invalid config"),
    "config_saved": ("已保存，代理正在重新加载", "Saved; the agent is reloading"),
    "readonly_config": ("页面启动时未指定配置文件，无法保存", "Started without a config file: saving is off"),
    "when": ("时间", "When"),
    "user": ("用户", "User"),
    "action": ("操作", "Action"),
    "target": ("对象", "Target"),
    "language": ("English", "中文"),
    "evidence": ("证据", "Evidence"),
    "points": ("角点", "corners"),
    "why_list": ("名单", "operator list"),
    "why_format": ("车牌格式", "plate format"),
    "why_colour": ("车牌颜色", "plate colour"),
    "why_polarity": ("字符颜色", "character colour"),
    "why_conflict": ("证据矛盾，未判定", "evidence disagrees: undecided"),
    "why_unread": ("未读出车牌", "plate not read"),
    "vr_fuel_vehicle": ("燃油车占用", "fuel car in the bay"),
    "vr_deny_list": ("黑名单车辆", "plate on the deny-list"),
    "vr_unidentified": ("无法识别车牌", "plate unreadable or covered"),
    "vr_departed": ("车辆已离开", "vehicle left"),
    "vr_identified": ("已识别为新能源车", "identified as an NEV"),
    "ev_vehicle_arrived": ("车辆驶入", "vehicle arrived"),
    "ev_vehicle_identified": ("车牌识别", "vehicle identified"),
    "ev_violation_started": ("违规开始", "violation started"),
    "ev_violation_ended": ("违规结束", "violation ended"),
    "ev_overstay_started": ("充满未离开", "overstay started"),
    "ev_overstay_ended": ("超时结束", "overstay ended"),
    "ev_vehicle_departed": ("车辆离开", "vehicle departed"),
    "ev_lock_moved": ("地锁", "lock"),
    "ev_lock_refused": ("地锁拒绝动作", "lock refused"),
    "ev_lock_fault": ("地锁故障", "lock fault"),
    "ev_lock_warning": ("地锁警告", "lock warning"),
    "ev_lock_tamper": ("地锁被破坏", "lock tampered"),
    "ev_camera_lost": ("摄像头离线", "camera lost"),
    "ev_camera_restored": ("摄像头恢复", "camera restored"),
    "ev_camera_moved": ("摄像头移动", "camera moved"),
    "ev_camera_aligned": ("摄像头已对准", "camera aligned"),
    "ev_charger_status": ("充电桩状态", "charger status"),
    "ev_charger_suspect": ("疑似僵尸桩", "charger suspect"),
    "ev_charger_suspect_cleared": ("疑似僵尸桩解除", "charger suspect cleared"),
    "ev_charger_mismatch": ("充电状态与车位不符", "charger mismatch"),
    "ev_charger_mismatch_cleared": ("充电状态不符解除", "charger mismatch cleared"),
    "ev_charger_silent": ("充电桩无状态上报", "charger silent"),
    "ev_charger_silent_cleared": ("充电桩恢复上报", "charger silent cleared"),
    "charger": ("充电桩", "Charger"),
    "lk_up": ("升起", "raised"),
    "lk_down": ("降下", "lowered"),
    "lk_moving": ("移动中", "moving"),
    "lk_fault": ("故障", "fault"),
    "colour_blue": ("蓝牌", "blue"),
    "colour_green": ("绿牌", "green"),
    "colour_yellow": ("黄牌", "yellow"),
    "colour_yellow_green": ("黄绿牌", "yellow-green"),
    "colour_white": ("白牌", "white"),
    "colour_black": ("黑牌", "black"),
    "colour_unknown": ("未知颜色", "unknown colour"),
}


class Translator:
    """``t(key, **fmt)`` for one language; unknown keys show as themselves (visible, never a crash)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "zh"
        self._idx = LANGUAGES.index(self.lang)

    def __call__(self, key: str, **fmt: object) -> str:
        pair = _TEXT.get(key)
        text = pair[self._idx] if pair else key
        return text.format(**fmt) if fmt else text

    def label(self, prefix: str, value: str | None) -> str:
        """A code from the agent (event type, reason, colour) in words, or the code when unknown."""
        if not value:
            return ""
        pair = _TEXT.get(f"{prefix}_{value}")
        return pair[self._idx] if pair else value

    def why(self, reason: str | None) -> str:
        """The NEV verdict's reason (``format+colour``, ``allow_list``…) in words."""
        return " + ".join(self.label("why", part) for part in (reason or "").split("+") if part)


def translator(lang: str) -> Translator:
    return Translator(lang)
