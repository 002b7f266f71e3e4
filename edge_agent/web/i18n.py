"""UI text: Chinese by default, English on request. A plain dict per language, no gettext toolchain."""

from __future__ import annotations

import re

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
    "st_unknown_h": ("设备未运行小时", "Agent not running h"),
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
    "login_unsaved": ("登录已过期，刚才的操作没有保存。请重新登录，再做一次。",
                      "Your session ended: what you just did was not saved. Sign in and do it again."),
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
    "expired": ("已过期", "Expired"),
    "expired_note": ("{n} 条违规超过 {days} 天无人处理，已自动关闭为「已过期」", "{n} violation(s) nobody decided within "
                     "{days} days were closed as expired"),
    "no_violations": ("没有符合条件的违规记录", "No violations match"),
    # no filter set: "nothing matches" sent a new site's manager looking for a filter to clear (newuser35)
    "no_violations_yet": ("还没有违规记录。燃油车或无法识别的车辆在充电车位停放超过宽限时间后，会出现在这里。",
                          "No violations yet. A fuel car or an unidentified vehicle parked in a charging bay past its "
                          "grace time shows up here."),
    "total": ("共 {n} 条", "{n} in total"),
    "page_of": ("第 {page} / {pages} 页", "Page {page} of {pages}"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "detail": ("详情", "Details"),
    "back": ("返回列表", "Back to list"),
    "skip_main": ("跳到正文", "Skip to content"),
    "frame": ("现场照片", "Frame"),
    "crop": ("车牌特写", "Plate crop"),
    "no_image": ("没有图片", "No image"),
    "bays_private": ("审计日志无法写入：车牌和照片暂不显示。车位状态和地锁照常。",
                     "The audit log cannot be written: plates and pictures are not shown. Bay states and locks go on."),
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
    "decided": ("#{id} 已处理为「{decision}」", "#{id}: {decision}"),
    "reopened": ("#{id} 已重新打开，待处理", "#{id} is open again"),
    "listed_allow": ("{plate} 已加入白名单", "{plate} is on the allow-list"),
    "listed_deny": ("{plate} 已加入黑名单", "{plate} is on the deny-list"),
    "listed_allow_not_applied": ("{plate} 已保存到白名单，但运行中的代理未能应用：{why}",
                                 "{plate} is saved to the allow-list, but the running agent did not apply it: {why}"),
    "listed_deny_not_applied": ("{plate} 已保存到黑名单，但运行中的代理未能应用：{why}",
                                "{plate} is saved to the deny-list, but the running agent did not apply it: {why}"),
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
    # evidence pictures' text for a screen reader: which bay, when
    "alt_frame": ("车位 {bay} 违规开始时的现场照片，{time}", "Bay {bay} when the violation started, {time}"),
    "alt_end": ("车位 {bay} 违规结束时的现场照片，{time}", "Bay {bay} when the violation ended, {time}"),
    "alt_crop": ("车牌特写：{plate}", "Plate close-up: {plate}"),
    "photo_pending": ("照片尚未保存（正在写入）", "Photo not saved yet (being written)"),
    "photo_gone": ("设备上没有这张照片（已按保留期限删除，或未能保存）",
                   "The photo is not on the device (deleted by retention, or never saved)"),
    "photo_damaged": ("这张照片的文件在设备上缺失或不完整（被删除或损坏）",
                      "The photo's file is missing or incomplete on the device (deleted or damaged)"),
    "photo_not_here": ("设备上没有这张照片（代理尚未写入、已按保留期限删除，或未能保存）",
                       "The photo is not on the device (not written by the agent yet, deleted by retention, or never "
                       "saved)"),
    "alt_bay": ("车位 {bay} 最新画面", "Bay {bay}: last snapshot"),
    "nev_plate": ("新能源", "NEV"),
    "take_snapshot": ("拍摄画面", "Take snapshot"),
    "no_bays": ("还没有车位状态", "No bay state yet"),
    "not_live": ("此页面未连接识别程序（审核模式），不显示实时状态", "Not shown here: this page runs without the agent "
                 "(review mode), so it has no live state"),
    "camera_down": ("摄像头离线", "camera offline"),
    "camera_moved": ("摄像头已移动：车位框不再对准车位，地锁不会升起。请在安装页重新画车位，或确认当前画面。",
                     "The camera has moved: the bay outlines no longer fit the bays and no lock will rise. "
                     "Redraw the bays on the installer page, or confirm the current view."),
    "camera_unmatched": ("摄像头画面与参照画面对不上（摄像头被更换或转向，或画面太暗、被遮挡），代理不知道车位在哪里，地锁不会升起。"
                         "请在安装页对照当前画面检查车位；车位框对准时确认当前画面，否则重新画车位。",
                         "The camera's view matches no reference picture (a camera replaced or turned away, or a view "
                         "too dark or blocked to match): the agent cannot tell where the bays lie and no lock will "
                         "rise. Check the bays on the installer page: confirm the current view if the outlines fit "
                         "it, or redraw them."),
    "check_bays": ("在安装页检查车位", "Check the bays on the installer page"),
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
    "installer_followed": ("摄像头画面自画车位以来移动了 {px} 像素：车位框已随画面移到代理现在使用的位置。保存后以当前画面为新的参照。",
                           "The camera's view has moved {px} px since the bays were drawn: the outlines are shown "
                           "where the agent now places them. Save makes this picture the new reference, with "
                           "every bay where it is shown."),
    "installer_moved": ("摄像头移动超出容差：车位框不再对准车位（显示的是代理最后放置的位置）。请在此画面上逐个重画车位；保存后以当前画面为新的参照。",
                        "The camera has moved beyond what the bays can follow: the outlines (where the agent last "
                        "placed them) no longer fit. Redraw every bay on this picture; Save makes it the new "
                        "reference."),
    "installer_unmatched": ("画面与参照画面无法匹配，代理不知道车位在哪里（显示的是代理最后放置的位置）。请在此画面上逐个检查车位；保存后以当前画面为新的参照。",
                            "This view matches no reference picture, so the agent cannot tell where the bays lie "
                            "(the outlines are where it last placed them). Check every bay on this picture; Save "
                            "makes it the new reference."),
    "new_bay": ("新增车位", "New bay"),
    "delete_bay": ("删除车位", "Delete bay"),
    "delete_corner": ("删除角点", "Delete corner"),
    "add_corner": ("添加角点", "Add corner"),
    "corners_of": ("所选车位的角点", "Corners of the selected bay"),
    "corners_help": ("用键盘：Tab 到角点，方向键移动 1 像素，Shift+方向键移动 10 像素，Delete 删除。"
                     "也可点一个角点，再点画面，把它移到那里。",
                     "By keyboard: Tab to a corner, the arrow keys move it 1 px, Shift+arrow 10 px, Delete removes "
                     "it. Or press a corner, then click the picture to put it there."),
    "corner_at": ("{bay} 角点 {n}：x {x}，y {y}", "{bay} corner {n}: x {x}, y {y}"),
    "corner_gone": ("{bay} 角点 {n} 已删除，剩 {left} 个", "{bay} corner {n} deleted, {left} left"),
    "corner_pick": ("{bay} 角点 {n}：点击画面把它移到那里", "{bay} corner {n}: click the picture to put it there"),
    "bay_id": ("车位编号", "Bay id"),
    "save_reload": ("保存并重新加载", "Save and reload"),
    "snapshot_failed": ("无法获取摄像头画面", "Could not get a camera picture"),
    # why, by the refusal's code (``ControlError``): no frame from the camera `review` opened, or none yet in the agent
    "snapshot_no_frame": ("摄像头没有送来画面（请检查 camera.source；`edge-agent doctor` 会检查它）",
                          "no frame from the camera (camera.source; `edge-agent doctor` checks it)"),
    "config_invalid": ("配置无效", "Invalid config"),
    "config_saved": ("已保存，代理正在重新加载", "Saved; the agent is reloading"),
    "config_saved_not_applied": ("已保存，但运行中的代理未能应用", "Saved, but the running agent did not apply it"),
    "save_login_expired": ("登录已过期，未保存。请在新窗口登录，再刷新本页（画线保留）并保存。",
                           "Your session ended: nothing was saved. Sign in in another tab, then reload this page "
                           "(your drawing is kept) and save."),
    "save_page_expired": ("页面已过期（已在其他窗口重新登录或退出），未保存。请刷新本页（画线保留）后保存。",
                          "This page has expired (a sign-in or out in another tab): nothing was saved. Reload the "
                          "page (your drawing is kept) and save."),
    "save_failed": ("未保存", "Not saved"),
    "save_view_moved": ("未保存：拍摄此画面后摄像头已移动。请拍新画面（画线保留），对照新画面调整后保存。",
                        "Not saved: the camera has moved since this picture was taken. Take a new picture (your "
                        "drawing is kept), fit the drawing to it and save."),
    "save_stale": ("未保存：拍摄此画面后，车位已在别处保存或摄像头画面已被确认为新参考。请拍新画面（画线保留），对照新画面调整后保存。",
                   "Not saved: the bays were saved elsewhere, or the camera's view confirmed as the new reference, "
                   "since this picture was taken. Take a new picture (your drawing is kept), fit the drawing to it "
                   "and save."),
    "installer_new_picture": ("拍新画面并保留画线", "Take a new picture, keep my drawing"),
    "installer_drawing_kept": ("已保留上一画面上的画线：请对照此画面检查、调整后保存（刷新本页则显示已保存的车位）。",
                               "Your drawing from the previous picture is kept: check it against this picture, adjust "
                               "it and save (reload the page for the saved bays instead)."),
    "readonly_config": ("页面启动时未指定配置文件，无法保存", "Started without a config file: saving is off"),
    "when": ("时间", "When"),
    "user": ("用户", "User"),
    "action": ("操作", "Action"),
    "target": ("对象", "Target"),
    "language": ("English", "中文"),
    "evidence": ("证据", "Evidence"),
    "new_tab": ("（在新标签页打开）", " (opens in a new tab)"),  # the brackets the language's own (newuser35)
    # audit actions (the code stays in the cell's title, for support and scripts)
    "au_login": ("登录", "signed in"),
    "au_logout": ("退出登录", "signed out"),
    "au_login_failed": ("登录失败", "failed login"),
    "au_login_blocked": ("登录被限制（失败次数过多）", "login refused (too many failures)"),
    "au_login_busy": ("登录被拒（同时登录过多）", "login refused (too many at once)"),
    "au_violation_confirmed": ("确认违规", "confirmed a violation"),
    "au_violation_dismissed": ("驳回违规", "dismissed a violation"),
    "au_violation_open": ("重新打开违规", "reopened a violation"),
    "au_violations_expired": ("无人处理的违规已过期关闭（evidence.open_days）",
                              "closed violations nobody decided as expired (evidence.open_days)"),
    "au_list_allow": ("加入白名单", "added to the allow-list"),
    "au_list_deny": ("加入黑名单", "added to the deny-list"),
    "au_export_csv": ("导出 CSV", "exported CSV"),
    "au_save_bays": ("保存车位", "saved the bays"),
    "au_snapshot": ("拍摄画面", "took a snapshot"),
    "au_camera_confirm": ("确认摄像头画面", "confirmed the camera view"),
    "au_viewed_violation": ("查看违规", "viewed violations"),
    "au_viewed_photo": ("查看照片", "viewed photos"),
    "au_viewed_list": ("查看违规列表", "viewed the violation list"),
    "au_viewed_bays": ("查看实时车位的车牌", "viewed the live bays' plates"),
    "au_viewed_audit": ("查看审计日志", "viewed the audit log"),
    "audit_reveal": ("显示车牌", "show plate"),
    "audit_reveal_help": ("显示这一行的完整车牌（此次查看记入审计日志）", "show this row's whole plate (the look is audited)"),
    "tg_violation": ("违规", "violation"),
    "tg_plate": ("车牌", "plate"),
    "tg_bay": ("车位", "bay"),
    "tg_camera": ("摄像头", "camera"),
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
    "vr_allowed": ("车牌已加入白名单", "plate put on the allow-list"),
    "vr_agent_stopped": ("设备曾停止运行（断电或重启），离开时间未知", "the agent had stopped (power cut or restart); "
                         "when it left was not seen"),
    "vr_bay_removed": ("车位已从配置中移除", "the bay was taken out of the config"),
    "vr_charging": ("充电桩报告重新开始充电", "the charger reports charging again"),
    "vr_charger_idle": ("充电桩报告空闲", "the charger reports idle"),
    "cs_charging": ("充电中", "charging"),
    "cs_finished": ("充电完成", "finished"),
    "cs_idle": ("空闲", "idle"),
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
    "ev_lock_maintenance": ("地锁维护模式", "lock maintenance mode"),
    # the lock controller's own reasons (lock_warning, lock_moved: no code), which the timeline showed in English
    "lw_fuel": ("燃油车", "fuel vehicle"),
    "lw_unidentified": ("未识别的车辆", "unidentified vehicle"),
    "lw_violation": ("违规：{what}", "violation: {what}"),
    "lm_nev": ("新能源车 {plate} 已识别", "NEV {plate} identified"),
    "lm_free": ("车位空闲 {s} 秒", "bay free for {s} s"),
    "lm_start": ("启动时按限位开关读取位置", "position read from the limit switches at start-up"),
    "lm_fault_reset": ("地锁故障已复位", "lock fault reset"),  # which fault: the line above it, and the tooltip
    "lm_after_fault": ("故障后降到安全位置", "lowered to the safe position after a fault"),
    "lm_after_abort": ("升起中止，降下", "rise stopped, lowering"),
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
    "cw_suspect": ("连续 {n} 辆新能源车停放超过 {min} 分钟，充电桩均未报告充电",
                   "{n} NEV visits in a row parked ≥ {min} min, no charging report"),
    "cw_mismatch": ("充电桩报告充电中，但车位已空 {min} 分钟", "charger says charging, bay empty {min} min"),
    "cw_silent": ("充电桩已 {h} 小时无状态上报，期间停车 {n} 次", "no charger status for {h} h while {n} visit(s) happened"),
    # why a lock refused to move (lock_refused's ``code``; locks/rule.py and the interlock)
    "lr_presence_unknown": ("车位传感器失联", "presence sensor lost"),
    "lr_vehicle_present": ("车位传感器检测到车辆", "presence sensor detects a vehicle"),
    "lr_presence_blind": ("车位传感器长时间未检测到摄像头看到的车辆（偏位、卡在无车状态或损坏）：在它再次检测到车辆或复位前不升起",
                          "the presence sensor missed a car the camera saw (off its aim, stuck clear or dead): no "
                          "raise until it sees a car again or a reset"),
    "lr_bay_occupied": ("摄像头显示车位有车", "the camera reports the bay occupied"),
    "lr_bay_in_visit": ("车辆离开尚未确认", "the visit is still open (departure not confirmed)"),
    "lr_vision_unknown": ("没有摄像头画面证据", "no camera evidence for the bay"),
    "lr_camera_lost": ("摄像头离线", "camera lost"),
    "lr_camera_frozen": ("摄像头画面冻结", "camera picture frozen"),
    "lr_camera_black": ("摄像头画面全黑", "camera picture black"),
    "lr_camera_flat": ("摄像头画面无内容", "camera picture flat"),
    "lr_camera_unusable": ("摄像头画面不可用", "camera picture unusable"),
    "lr_camera_moved": ("摄像头已移动", "camera moved"),
    "lr_camera_unmatched": ("摄像头画面与参考画面对不上", "the camera's view matches no reference view"),
    "lr_mask_empty": ("车位框内没有有效画面", "nothing usable inside the bay outline"),
    "lr_mask_outside_frame": ("车位框超出画面", "bay outline outside the picture"),
    "lr_bay_flat": ("车位区域画面无内容", "the bay's picture is flat"),
    "lr_bay_clipped": ("车位框被画面边缘截断", "bay outline clipped by the picture's edge"),
    "lr_bay_overlay": ("摄像机的屏幕文字或遮挡块（OSD 时钟、隐私遮挡、配置的遮挡区 camera.masks）叠在车位上：请在摄像机设置中移开或关闭",
                       "the camera's on-screen text or a block it paints (its clock, a privacy mask, an area in "
                       "camera.masks) is over the bay: move it or turn it off in the camera's settings"),
    "lr_bay_blurred": ("车位区域画面模糊（镜头上有水滴或污渍）", "the bay's picture is blurred (a drop or smear on the lens)"),
    "lr_bay_too_small": ("车位在画面中太小", "the bay is too small in the picture"),
    "lr_picture_cut": ("画面跳变（录像机回放缓存、切换码流），等待画面稳定", "the picture jumped (an NVR replaying its buffer, a stream "
                       "switch): waiting for it to settle"),
    "lr_bay_changed": ("车位内有未识别的物体（人、自行车、杂物），与空车位画面不符", "something is in the bay that is not its empty "
                       "picture (a person, a bicycle, a box): the camera's model knows cars, not these"),
    "lr_bay_redrawn": ("车位框在有车时被改画（或重启前车位有车），尚未看到车辆离开（重启后：需看到车辆停入30秒再驶离）",
                       "the bay was redrawn with a car in it (or held a car when the agent last stopped); the car not "
                       "yet seen to leave (after a restart: until a car is seen parked there 30 s and then leaving)"),
    "lr_bay_unknown": ("车位状态未知", "bay state unknown"),
    "lr_camera_not_ok": ("摄像头异常，无法判断是否有车", "camera not ok: occupancy unknown"),
    "lr_occupancy_stale": ("车位占用状态已过时", "occupancy not measured recently"),
    "lr_occupancy_sparse": ("摄像头新画面间隔不短于自动升起延时，车位无法被持续确认为空（检查摄像机帧率或关键帧间隔）",
                            "the camera's new pictures come too far apart for the bay to be seen free long enough "
                            "(check the camera's frame rate or key-frame interval)"),
    "lr_vision_occupied": ("摄像头看到车位内有物体", "the camera sees something in the bay"),
    "lr_occupancy_unsure": ("摄像头无法确定车位为空", "the camera is not sure the bay is empty"),
    "lr_recent_read": ("刚识别到车牌", "a plate was read moments ago"),
    "lr_maintenance": ("车位处于维护模式", "bay in maintenance mode"),
    "lr_fault": ("地锁故障，需要复位", "lock in fault: needs a reset"),
    "lr_busy": ("地锁正在降下", "the lock is lowering"),
    "lr_motor_duty": ("地锁电机动作过于频繁，稍后再升起", "the motor moved too often: raise again later"),
    "lr_rise_unrecorded": ("升起记录无法写入磁盘（磁盘已满或只读），地锁保持降下",
                           "the rise cannot be recorded on disk (full or read-only): the lock stays down"),
    "lr_switches_both": ("两个限位开关同时触发", "both limit switches active"),
    # a latched lock FAULT's code (lock_fault; docs/locks.md's interlock rules): what it means and the next step
    "lf_motor_timeout": ("电机运行超时仍未到达限位（卡住、受阻或电机无电）：清除地锁处的障碍、检查电机供电后复位",
                         "the motor reached no limit switch in time (stalled, blocked, or no power to the motor): "
                         "clear the arm, check the motor's supply, then reset"),
    "lf_switches_both": ("两个限位开关同时触发（开关卡住或短路）：位置不明，地锁未被降下，可能仍处于升起状态，请到现场查看；"
                         "检查限位开关及接线后复位；两者仍同时触发时复位会被拒绝",
                         "both limit switches are active (a switch stuck or shorted): its position unknown, the arm "
                         "was not lowered and may still be up: check it at the bay; check the switches and their "
                         "wiring, then reset; a reset is refused while both are active"),
    "lf_switch_flapping": ("限位开关在没有指令时反复变化（开关或接线松动，或有人在扳动地锁）：检查限位开关后复位",
                           "the limit switches changed again and again with no command (a loose switch or wire, or "
                           "someone working the arm): check the switches, then reset"),
    "lf_arm_drift": ("地锁升起后保持不住（无车时多次掉落：齿轮磨损、刹车打滑或上限位松动）：检修地锁后复位",
                     "the arm will not stay up (it lost its up position again and again with no car: a worn gear, a "
                     "slipping brake or a loose up switch): service the arm, then reset"),
    "lf_position_unknown": ("启动时地锁停在两个限位之间（移动中断电？）：确认地锁处无车无人后复位",
                            "the arm was between its switches at start-up (power lost mid-move?): check the arm and "
                            "the bay, then reset"),
    "lf_presence_unknown": ("车位传感器失联、抖动，或报告有车而摄像头看到空车位：检查传感器（遮挡、接线、朝向）后复位；传感器仍失联时复位会被拒绝",
                            "the presence sensor is lost, flapping, or reports a car the camera does not see: check "
                            "the sensor (covered, wiring, aim), then reset; a reset is refused while it is lost"),
    "lf_fault_record_unreadable": ("启动时无法读取地锁的故障记录：到现场检查地锁后复位",
                                   "the lock's saved record could not be read at start-up: check the lock at the "
                                   "bay, then reset"),
    "lf_tick_failed": ("地锁监控反复出错（GPIO 读写失败）：检查地锁驱动板和接线后复位",
                       "the lock's supervision kept failing (GPIO reads or writes): check the lock's driver and "
                       "wiring, then reset"),
    "lf_switch_early": ("限位开关过早闭合（开关卡住、被石块或冰压住、线路磨破）：检查限位开关后复位",
                        "an end switch closed too soon (stuck shut, pressed by a stone or ice, a chafed wire): check "
                        "the switch, then reset"),
    "lf_motor_reversed": ("电机转向或限位开关接反（降下时到了上限位，或升起时到了下限位）：电机在复位前不再驱动；检查电机和限位开关的接线及配置中 motor、switches 的 up/down 引脚，确认地锁处无车后复位",
                          "the motor or the end switches are the wrong way round (a lowering reached the up switch, or "
                          "a rise the down switch): the motor is not driven until a reset; check the wiring and the "
                          "config's motor and switches up/down pins, and the bay, then reset"),
    "lf_other": ("地锁故障：到现场检查地锁后复位", "lock fault: check the lock at the bay, then reset"),
    "lock_fault_since": ("{since} 起故障：", "fault since {since}: "),
    "lock_lowering_timed_out": ("本次故障中的降下已超时：地锁可能没有降到底，请到现场查看",
                                "the fault's lowering timed out: the arm may not be down; check it at the bay"),
    "lock_maintenance": ("维护模式（{since} 起）：地锁保持降下，不自动升降；维护完成后请关闭维护模式",
                         "maintenance mode since {since}: the arm is held down, no automatic moves; turn maintenance "
                         "off when the work is done"),
    "lock_maintenance_by": ("维护模式（{since} 起，{by}）：地锁保持降下，不自动升降；维护完成后请关闭维护模式",
                            "maintenance mode since {since} ({by}): the arm is held down, no automatic moves; turn "
                            "maintenance off when the work is done"),
    "lock_maintenance_from": ("（此维护记录来自已不在配置中的地锁 {lock}：改名后由本地锁继承；确认无误后关闭维护模式）",
                              " (taken at the start from lock {lock}, no longer configured: renamed? turn maintenance "
                              "off once checked)"),
    "lock_blind": ("车位传感器已 {min} 分钟没有检测到摄像头看到的车辆（{since} 起），不升起：请检查传感器朝向；它检测到车辆或复位后恢复",
                   "the presence sensor saw no car the camera saw for {min} min (since {since}): no raise; check its "
                   "aim; a car it sees, or a reset, ends it"),
    "lock_refused_at": ("拒绝升起（{at}）：{why}", "raise refused ({at}): {why}"),
    "lock_owed_in": ("待降下：{s} 秒后", "a lowering is owed: in {s}s"),
    "lock_owed_blocked": ("待降下：两个限位开关同时有效（位置未知），电机保持停止，开关恢复正常前不会降下：请检查限位开关",
                          "a lowering is owed: it waits while both limit switches read active (position unknown, the "
                          "motor kept off); check the switches"),
    "lock_owed_overdue": ("待降下（{since} 起），电机线路未执行，每次检查都会重试：请检查地锁驱动板和接线",
                          "a lowering is owed since {since}: the motor line did not take it, tried again at every "
                          "tick; check the lock's driver and wiring"),
    "lk_up": ("升起", "raised"),
    "lk_down": ("降下", "lowered"),
    "lk_moving": ("移动中", "moving"),
    "lk_fault": ("故障", "fault"),
    # error pages (a browser's; other clients get the plain text): a title and a sentence per status code
    "err_400": ("输入有误", "Bad input"),
    "err_400_msg": ("提交的内容不符合要求，未做任何更改。", "The page was sent something it cannot take: nothing changed."),
    "err_check": ("请检查：", "Check: "),
    "err_403": ("没有权限", "Not allowed"),
    "err_403_msg": ("您的账号角色不能执行此操作，未做任何更改。", "Your role may not do this: nothing changed."),
    "err_csrf": ("页面已过期", "This page has expired"),
    "err_csrf_msg": ("您已在其他窗口重新登录或退出，本次操作未生效。请返回并刷新页面后重试。",
                     "You signed in again, or out, in another tab: nothing changed. Go back, reload the page and "
                     "try again."),
    "err_csrf_login": ("登录页面已过期，请重新输入", "The login page had expired: please sign in again"),
    "err_404": ("没有找到", "Not found"),
    "err_404_msg": ("该页面或记录不存在；证据图片可能已按保存期限删除。",
                    "No such page or record; an evidence picture may have been removed by retention."),
    "err_409": ("无法执行", "Cannot do that"),
    "err_409_msg": ("当前状态下无法执行此操作，未做任何更改。", "Not possible in the current state: nothing changed."),
    "err_413": ("提交的内容过大", "Too large"),
    "err_413_msg": ("提交的内容超过了允许的大小，未做任何更改。", "What was sent is over the size allowed: nothing changed."),
    "err_500": ("服务器出错", "Server error"),
    "err_500_msg": ("服务器未能完成此操作，请联系管理员。", "The server could not do this; tell the administrator."),
    "err_disk_full": ("设备存储已满", "The device's disk is full"),
    "err_disk_full_msg": ("设备存储空间已满，本次操作可能未保存。请通知管理员清理空间后重试。",
                          "The device has no room left: what you did may not have been saved. Tell the administrator "
                          "to free space, then try again."),
    "err_not_writable": ("设备存储无法写入", "The device's storage cannot be written"),
    "err_not_written_msg": ("无法写入 {path}（{why}），未做任何更改。请通知管理员（存储已满，或存储卡变为只读）。",
                            "Cannot write {path} ({why}): nothing was changed. Tell the administrator (the disk is "
                            "full, or the card has gone read-only)."),
    "err_audit": ("审计日志无法写入", "The audit log cannot be written"),
    "err_audit_msg": ("查看车牌、照片和违规记录须先记入审计日志，而设备现在无法写入（存储已满、只读或被占用）。实时车位和地锁仍可使用。"
                      "请通知管理员。",
                      "Looking at plates, photos and violations is recorded in the audit log first, and the device "
                      "cannot write it now (disk full, read-only or busy). The live bays and locks still work. Tell "
                      "the administrator."),
    "err_audit_action": ("审计日志无法写入，未执行", "The audit log cannot be written: nothing was done"),
    "err_audit_action_msg": ("每项操作（处理违规、名单、保存车位、快照、登录）须先记入审计日志，而设备现在无法写入（只读或被占用）。"
                             "本次操作未执行，请稍后重试或通知管理员。",
                             "Every action (a decision, a list edit, a Save, a snapshot, a login) is recorded in the "
                             "audit log first, and the device cannot write it now (read-only or busy). Nothing was "
                             "done: try again later or tell the administrator."),
    "err_db_busy": ("设备数据库暂时无法写入", "The device's database cannot be written just now"),
    "err_db_busy_msg": ("设备的数据库正被占用或只读，本次未保存任何内容（例如标定用的画面）。请稍后重试，若一直如此请通知管理员。",
                        "The device's database is busy or read-only: nothing was stored (such as the installer's "
                        "picture). Try again later, and tell the administrator if it goes on."),
    "err_sessions": ("暂时无法核对登录状态", "Your sign-in cannot be checked just now"),
    "err_sessions_msg": ("设备的数据库正被占用或无法读取，登录状态暂时无法核对；您没有被退出登录。请稍后刷新页面重试，"
                         "若一直如此请通知管理员。",
                         "The device's database is busy or cannot be read, so your sign-in cannot be checked just now; "
                         "you are still signed in. Reload the page in a moment, and tell the administrator if it "
                         "goes on."),
    "err_429": ("请求过于频繁", "Too many requests"),
    "err_429_msg": ("这个地址的此类请求（画面、导出、图片或登录）过于频繁，未做任何更改。请 {s} 秒后再试。",
                    "This address sent too many of these requests (pictures, exports, photos or sign-ins): nothing "
                    "was done. Try again in {s} s."),
    "err_other": ("出错了", "Something went wrong"),
    "err_other_msg": ("请求未能完成。", "The request could not be done."),
    "err_detail": ("技术信息", "Technical detail"),
    "err_back": ("返回上一页", "Go back"),
    "field_plate": ("车牌", "Plate"),
    "field_bay": ("车位", "Bay"),
    "field_decision": ("处理状态", "Decision"),
    "field_from": ("开始日期", "From"),
    "field_to": ("结束日期", "To"),
    "field_from / to": ("开始 / 结束日期", "From / To"),
    "field_page": ("页码", "Page"),
    "field_reason": ("驳回原因", "Reason"),
    "field_which": ("名单", "List"),
    "field_table": ("数据表", "Table"),
    "field_username": ("用户名", "User name"),
    "field_password": ("密码", "Password"),
    "colour_blue": ("蓝牌", "blue"),
    "colour_green": ("绿牌", "green"),
    "colour_yellow": ("黄牌", "yellow"),
    "colour_yellow_green": ("黄绿牌", "yellow-green"),
    "colour_white": ("白牌", "white"),
    "colour_black": ("黑牌", "black"),
    "colour_unknown": ("未知颜色", "unknown colour"),
    # the verdict's plate type code (GA 24.7 号牌种类, the shared plate-rules.md), shown with its words: a bare
    # "· 02" on the detail page meant nothing to a property manager
    "plate_type": ("号牌种类", "Plate type"),
    "plate_type_code": ("{name}（{code}）", "{name} ({code})"),
    "tc_01": ("大型汽车号牌", "large vehicle"),
    "tc_02": ("小型汽车号牌", "small vehicle"),
    "tc_03": ("使馆汽车号牌", "embassy vehicle"),
    "tc_04": ("领馆汽车号牌", "consulate vehicle"),
    "tc_15": ("挂车号牌", "trailer"),
    "tc_16": ("教练汽车号牌", "driving-school vehicle"),
    "tc_23": ("警用汽车号牌", "police vehicle"),
    "tc_26": ("香港入出境车号牌", "Hong Kong cross-border vehicle"),
    "tc_27": ("澳门入出境车号牌", "Macau cross-border vehicle"),
    "tc_31": ("武警号牌", "armed police"),
    "tc_32": ("军队号牌", "military"),
    "tc_51": ("大型新能源汽车号牌", "large NEV"),
    "tc_52": ("小型新能源汽车号牌", "small NEV"),
    "tc_99": ("其他号牌", "other"),
    # the installer's "teach this camera" (templates/teach.html, static/teach.js)
    "teach_link": ("教会此摄像头识别车位占用", "Teach this camera occupancy"),
    "teach_title": ("教会此摄像头（车位占用校准）", "Teach this camera (occupancy calibration)"),
    "teach_back": ("返回车位标定", "Back to drawing the bays"),
    "teach_help": ("每个车位按识别结果着色：红色有车，绿色空闲，橙色（带“?”）识别不确定，灰色看不清。点击识别错误的车位即可切换，"
                   "然后点“添加此画面”。",
                   "Each bay is tinted with the classifier's guess: red occupied, green empty, amber (with a '?') "
                   "unsure, grey not visible. Click a bay it got wrong to flip it, then Add this frame."),
    "teach_bays": ("车位（按下 = 有车）", "Bays (pressed = occupied)"),
    "teach_add": ("添加此画面", "Add this frame"),
    "teach_advice": ("请在一天中不同时段（早、午、傍晚、夜间）各标注几个画面，共 5–10 个，并让每种状态（有车、空闲）都至少出现 {min} 次，"
                     "最好每个车位两种状态都出现过。",
                     "Label 5-10 frames at different times of day (morning, noon, evening, night), with at least {min} "
                     "occupied and {min} empty bays, ideally each bay seen both occupied and empty."),
    "teach_counts": ("已标注 {frames} 个画面（最多 {max} 个）：{occupied} 个有车，{empty} 个空闲。",
                     "{frames} frames labelled (at most {max}): {occupied} occupied, {empty} empty bays."),
    "teach_blank": ("另有 {n} 行未标注（来自 occupancy label）：请在标注文件中补全后再校准。",
                    "{n} rows have no flag (from occupancy label): fill them in the labels file before calibrating."),
    "teach_enough": ("已可校准。", "Enough to calibrate."),
    "teach_more": ("有车和空闲各需至少 {min} 个才能校准。", "Calibrating needs at least {min} occupied and {min} empty."),
    "teach_occupied": ("有车", "occupied"),
    "teach_empty": ("空闲", "empty"),
    "teach_unseen": ("看不清", "not visible"),
    "teach_added": ("已添加此画面。请稍后换个时段再添加新画面。", "Frame added. Add the next one at another time of day."),
    "teach_not_added": ("未添加", "Not added"),
    "teach_new_picture": ("拍新画面", "New picture"),
    "teach_calibrate": ("校准", "Calibrate"),
    "teach_running": ("正在校准…", "Calibrating…"),
    "teach_result": ("在未参与拟合的画面上：平衡准确率 当前 {before} → 校准后 {after}；找到的车辆 当前 {recall_before} → 校准后 "
                     "{recall_after}（{frames} 个画面，{occupied} 个有车，{empty} 个空闲）。",
                     "On frames held out of the fit: balanced accuracy now {before}, calibrated {after}; cars found now "
                     "{recall_before}, calibrated {recall_after} ({frames} frames, {occupied} occupied, {empty} empty)."),
    "teach_worse": ("校准后反而更差，不提供使用：请检查标注或再添加画面。",
                    "The calibration does worse than the shipped classifier: not offered. Check the labels or add frames."),
    "teach_one_light": ("标注的画面都拍摄于一天中的 {span} 小时之内（同一种光线）：留出的画面也是这种光线，看不出换个时间会不会把有车判为空闲，不提供使用。请在至少 {min} 小时内（早上、中午、傍晚）再添加画面。室外摄像头、或有日光照到车位（窗、门、天窗）时，只能这样做。只有完全没有日光、灯光一直开着的地下车库，才可由管理配置的人设置 occupancy.steady_light。",
                        "The labelled pictures were all taken within {span} h of the day (one light): the frames held "
                        "out are of that light too, and cannot show whether it calls cars empty at another hour. Not "
                        "offered: add pictures over at least {min} h (morning, noon, dusk). Outdoors, or where daylight "
                        "reaches the bays (a window, a door, a skylight), that is the only way. Only a garage no daylight "
                        "reaches, under lamps always on, may be declared so in the config (occupancy.steady_light, set by "
                        "whoever manages it)."),
    "teach_one_day": ("标注的画面都拍摄于 {apart} 小时之内（同一天）：留出的画面是同一天的天气、同样停着的车，看不出另一天会不会把有车判为空闲，不提供使用。请在另一天（距第一张至少 {min} 小时）再添加画面，最好换一种天气。",
                      "The labelled pictures were all taken within {apart} h of each other (one day): the frames held "
                      "out show that day's weather and the same parked cars, and cannot show whether it calls cars "
                      "empty on another day. Not offered: add pictures on another day (at least {min} h after the "
                      "first), in other weather if you can."),
    "teach_swapped": ("这些画面的标注看起来是反的（当前模型很有把握地否定了其中四分之一以上车位的标注）：{frames}。不提供使用：请检查这些画面的标注，或清除已标注画面重新开始。",
                      "The labels of {frames} look swapped (the shipped model surely contradicts a quarter or more of "
                      "that picture's bays): not offered. Check those pictures' labels, or forget the labelled "
                      "pictures and start again."),
    "teach_fewer_cars": ("校准后找到的车辆更少（把有车误判为空闲代价最高），不提供使用：请再添加有车的画面，尤其是暗处、阴影或部分遮挡的车辆。",
                         "The calibration finds fewer of the labelled cars (a car called empty is the costly mistake): "
                         "not offered. Add frames with cars, above all dark, shaded or partly hidden ones."),
    "teach_usable": ("校准结果更好，可以使用。", "The calibration does better: it can be used."),
    "teach_usable_same": ("校准后与当前一样好（不更差），可以使用：它是按此摄像头的画面校准的。",
                          "The calibration does as well as the classifier now (not worse): it can be used, fitted to "
                          "this camera's pictures."),
    "teach_refused": ("无法校准：{why}", "Cannot calibrate: {why}"),
    # a fit's or Calibrate's refusal by its ``code`` (teach.py), the server's English kept for logs and scripts
    "teach_why_too_few": ("已标注有车 {occupied} 个、空闲 {empty} 个，各需至少 {min} 个。请在不同时间再标注几个画面。",
                          "{occupied} occupied and {empty} empty bays are labelled: need at least {min} of each. "
                          "Label more pictures, at other times of day."),
    "teach_why_contradicts": ("标注与出厂模型在大多数车位上相反（其准确率 {before}，不如随机猜测）：请检查“有车”与“空闲”"
                              "是否标反。未写入任何内容。",
                              "the labels contradict the shipped model on most bays (its accuracy on them {before}, "
                              "worse than a coin): are occupied and empty swapped? Nothing written."),
    "teach_why_none_labelled": ("还没有标注任何画面：请在不同时间标注画面，有车和空闲各至少 {min} 个，然后再校准。",
                                "no picture is labelled yet: label pictures at different times of day, with at least "
                                "{min} occupied and {min} empty bays, then calibrate."),
    "teach_why_running": ("校准正在进行：请等待结果。", "a calibration is running: wait for its result."),
    "teach_why_stale_picture": ("此画面不是本页拍的或已过期：请刷新本页。",
                                "this picture is not one this page took (or too old): reload the page."),
    "teach_why_labelled_already": ("此画面已标注：请换一个画面，最好在一天中的其他时间。",
                                   "this picture is labelled already: take another, at another time of day."),
    "teach_why_full": ("已标注 {max} 个画面，已达上限：请先校准，或删除已标注的画面重新开始。",
                       "{max} pictures are labelled already, the most kept: calibrate, or forget the labelled "
                       "pictures to start again."),
    "teach_use": ("使用此校准", "Use it"),
    "teach_used": ("校准已启用，代理已重新加载。", "Calibration in use: the agent reloaded."),
    "teach_used_not_applied": ("校准已保存，但代理拒绝重新加载：{why}", "Calibration saved, but the agent refused to reload: {why}"),
    "teach_not_used": ("未启用", "Not used"),
    "teach_back_previous": ("恢复上一个校准", "Go back to the previous calibration"),
    "teach_shipped": ("改用出厂模型", "Use the shipped model"),
    "teach_way_back_help": ("恢复上一个校准：启用“使用此校准”之前的那个校准（再点一次换回）。改用出厂模型：去掉本页的校准，代理运行配置文件中的模型。两者都会让代理重新加载。",
                            "Go back: the calibration in use before the last \u201cUse it\u201d (again: back to "
                            "this one). Shipped model: the page's calibration taken out, the agent runs the config "
                            "file's model. Both reload the agent."),
    "teach_back_confirm": ("恢复上一个校准并让代理重新加载？", "Put the previous calibration back in use and reload the agent?"),
    "teach_shipped_confirm": ("去掉本页的校准，改用出厂模型并让代理重新加载？",
                              "Take the page's calibration out, run the shipped model and reload the agent?"),
    "teach_backed": ("上一个校准已启用，代理已重新加载。", "The previous calibration is in use: the agent reloaded."),
    "teach_shipped_done": ("出厂模型已启用，代理已重新加载。", "The shipped model is in use: the agent reloaded."),
    "teach_forget": ("删除已标注的画面", "Forget the labelled pictures"),
    "teach_forget_confirm": ("删除本页标注的所有画面及其标注？（已启用的校准不受影响）",
                             "Remove every picture this page labelled, with its labels? (A calibration in use stays.)"),
    "teach_forgotten": ("已删除 {n} 个画面及其标注。", "{n} picture(s) and their labels removed."),
    "teach_not_forgotten": ("未删除", "Not removed"),
    "teach_camera_problem": ("摄像头此刻没有可用画面（{why}）：这是它送来的最后一帧，不能标注。请等摄像头恢复后点“拍新画面”。",
                             "The camera is not delivering usable frames ({why}): this is the last one it sent, it "
                             "cannot be labelled. Take a new picture once the camera is back."),
    "installer_camera_problem": ("摄像头此刻没有可用画面（{why}）：这是它送来的最后一帧，可能已过时或看不清，不要在上面画或核对车位。请等摄像头恢复后刷新本页。",
                                 "The camera is not delivering usable frames ({why}): this picture is the last one "
                                 "it sent, it may be old or show nothing; do not draw or check bays on it. Reload "
                                 "the page once the camera is back."),
}


# The lock controller's reasons (``locks/controller.py``: ``_warn``, ``_admit``, ``_free_reason``; the start-up read,
# a fault's reset and the lowerings after a fault or a stopped rise in ``interlock.py``), matched whole: anything else — an operator's reason, a fault's message — is shown as sent.
_LOCK_REASONS = (
    (re.compile(r"fuel vehicle"), "lw_fuel"),
    (re.compile(r"unidentified vehicle"), "lw_unidentified"),
    (re.compile(r"violation: (?P<what>[a-z_]+)"), "lw_violation"),
    (re.compile(r"NEV (?P<plate>\S+) identified"), "lm_nev"),
    (re.compile(r"bay free for (?P<s>[0-9.]+)s"), "lm_free"),
    (re.compile(r"position read from limit switches at start-up"), "lm_start"),
    (re.compile(r"fault (?P<code>[a-z_]+) reset"), "lm_fault_reset"),
    (re.compile(r"safe position after fault"), "lm_after_fault"),
    (re.compile(r"lowering after aborted rise"), "lm_after_abort"),
)


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

    def plate_type(self, code: str | None) -> str:
        """A plate type code in words with the code kept (the code is what cameras and platforms use): "小型汽车号牌
        （02）"; an unknown code as it came."""
        if not code:
            return ""
        name = self.label("tc", code)
        return self("plate_type_code", name=name, code=code) if name != code else code

    def lock_why(self, data: dict) -> str:
        """Why a lock event happened: a refusal's ``code`` in words where it has them, the lock controller's own
        reasons of a warning or a move in words, else the agent's text (an operator's reason: their own words)."""
        code = data.get("code")
        if code and f"lr_{code}" in _TEXT:
            return self.label("lr", code)
        reason = str(data.get("reason") or "")
        if not code:
            for pattern, key in _LOCK_REASONS:
                m = pattern.fullmatch(reason)
                if m:
                    fmt = m.groupdict()
                    if "what" in fmt:
                        fmt["what"] = self.label("vr", fmt["what"])
                    return self(key, **fmt)
        return reason or str(code or "")

    def lock_fault(self, code: str | None) -> str:
        """A latched lock FAULT's code in words with the operator's next step; one the page has no words for (a
        newer agent's, a restored record's) as a fault to check at the bay."""
        if not code:
            return ""
        return self.label("lf", code) if f"lf_{code}" in _TEXT else self("lf_other")

    def camera_problem(self, reason: str | None) -> str:
        """The camera health's reason (``no_frames``, ``frozen``, ``black``, ``flat``) in words, as the lock
        refusals say it; an unknown one as it came."""
        if not reason:
            return ""
        code = "camera_lost" if reason == "no_frames" else f"camera_{reason}"
        return self.label("lr", code) if f"lr_{code}" in _TEXT else reason

    def why(self, reason: str | None) -> str:
        """The NEV verdict's reason (``format+colour``, ``allow_list``…) in words."""
        return " + ".join(self.label("why", part) for part in (reason or "").split("+") if part)


def translator(lang: str) -> Translator:
    return Translator(lang)
