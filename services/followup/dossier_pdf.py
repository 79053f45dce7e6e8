"""A dossier as a PDF a person reads, in Chinese: the case, its clocks met or not, outcomes,
return visits, attachments with their hashes, every history entry with its hashes, and how
to check it. The PDF carries the dossier's JSON as an embedded file (what `onestop verify` checks);
the pages are for reading.

Rendered by weasyprint (HTML and CSS to PDF) with Debian's Noto CJK fonts.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.followup.dossier import exported

LOCAL = ZoneInfo("Asia/Shanghai")

STATUS = {
    "pending-registration": "登记中",
    "registered": "已登记",
    "awaiting-manual-dispatch": "待人工交办",
    "assigned": "已交办",
    "in-progress": "办理中",
    "reopened": "重新办理",
    "resolved": "已办结",
    "closed-out": "已销号",
    "under-review": "复查中",
    "under-re-review": "复核中",
    "final": "已终结",
    "declined": "不予受理",
    "diverted": "已导入法定途径",
}
CLOCKS = {
    "acceptance-notice": "受理告知（15日）",
    "handling-plan": "办理方案（1日）",
    "first-report": "首次反馈（3日）",
    "resolution": "办结（7日/1个月）",
    "statutory": "法定办理期限（60日）",
    "return-visit": "回访（5个工作日）",
    "review": "复查决定（30日）",
    "re-review": "复核决定（30日）",
    "long-term-report": "长期方案月报",
}
STATE = {
    "open": "进行中",
    "overdue": "已超期",
    "met": "按时完成",
    "met-late": "超期完成",
    "paused": "已暂停",
    "superseded": "已失效",
}
KINDS = {
    "letter": "来信",
    "identity-document": "身份证件",
    "agreement": "协议书",
    "commitment": "息诉罢访承诺书",
    "photo": "照片",
    "other": "其他",
}
OPINION = {"support": "支持", "explain": "解释说明", "not-support": "不予支持"}
SATISFACTION = {"satisfied": "满意", "basically-satisfied": "基本满意", "unsatisfied": "不满意"}

CSS = """
@page { size: A4; margin: 18mm 16mm 20mm 16mm;
  @bottom-center { content: "第 " counter(page) " 页 / 共 " counter(pages) " 页";
                   font-size: 8pt; color: #666; } }
body { font-family: "Noto Sans CJK SC", "Noto Serif CJK SC", sans-serif; font-size: 9.5pt;
       line-height: 1.5; color: #1a1a1a; }
h1 { font-size: 17pt; margin: 0 0 2mm; letter-spacing: 1pt; }
h2 { font-size: 12pt; border-bottom: 1.2pt solid #8b0000; padding-bottom: 1mm;
     margin: 6mm 0 2mm; color: #8b0000; }
.sub { color: #555; font-size: 8.5pt; margin-bottom: 4mm; }
table { width: 100%; border-collapse: collapse; margin: 1mm 0 2mm; }
th, td { border: 0.5pt solid #bbb; padding: 1.2mm 1.6mm; vertical-align: top; text-align: left; }
th { background: #f3efe6; font-weight: bold; white-space: nowrap; }
table.kv th { width: 26%; }
.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 7pt; word-break: break-all; }
.ok { color: #1b6e20; font-weight: bold; } .bad { color: #b00020; font-weight: bold; }
.muted { color: #777; }
.entry { border: 0.5pt solid #ccc; margin: 0 0 2mm; padding: 1.5mm 2mm; page-break-inside: avoid; }
.entry .head { font-weight: bold; }
table.data { margin: 1mm 0; font-size: 8pt; }
table.data td { border: none; border-bottom: 0.3pt solid #e3e3e3; padding: 0.4mm 1.2mm; }
table.data td.k { width: 24%; color: #555; white-space: nowrap; }
table.data td.v { word-break: break-all; }
td.t { white-space: nowrap; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _time(value: Any) -> str:
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(str(value)).astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return _e(value)


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _met(value: Any) -> str:
    if value is True:
        return '<span class="ok">是</span>'
    if value is False:
        return '<span class="bad">否</span>'
    return '<span class="muted">未到期</span>'


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in pairs)


def page(dossier: dict[str, Any]) -> str:
    """The dossier as an HTML page."""
    case = dossier["case"]
    lead = case.get("lead") or {}
    location = case.get("location") or {}
    parts = [
        f"<h1>信访事项电子卷宗</h1><div class='sub'>案件编号 {_e(dossier['case_id'])} · "
        f"导出时间 {_time(dossier['exported_at'])} · 导出人 {_e(dossier['exported_by']['user'])}"
        f"（{_e(dossier['exported_by']['role'])}）</div>",
        "<h2>一、基本情况</h2><table class='kv'>",
        _rows(
            [
                ("事项", _e(case.get("subject"))),
                ("类别", _e(case.get("category"))),
                ("地点", _e(" / ".join(location.get("path", [])) or location.get("place"))),
                ("当前状态", _e(STATUS.get(case.get("status", ""), case.get("status")))),
                ("登记时间", _time(case.get("registered_at"))),
                ("首接责任人", _e(case.get("first_receiver"))),
                ("牵头单位", _e(lead.get("name") or "—")),
                ("协办单位", _e("、".join(u["name"] for u in case.get("co_handlers", [])) or "—")),
                ("交办层级", _e(case.get("level"))),
                ("办理轮次", _e(case.get("round"))),
            ]
        ),
        "</table>",
        "<h2>二、办理时限（13710 及法定时限）</h2>",
        "<table><tr><th>时限</th><th>起算</th><th>截止</th><th>责任单位</th><th>状态</th>"
        "<th>是否按时</th><th>完成/超期时间</th></tr>",
    ]
    for clock in dossier["clocks"]:
        happened = clock.get("met_at") or clock.get("breached_at")
        parts.append(
            f"<tr><td>{_e(CLOCKS.get(clock['kind'], clock['kind']))}</td>"
            f"<td class='t'>{_time(clock.get('starts_at'))}</td>"
            f"<td class='t'>{_time(clock.get('due_at'))}</td>"
            f"<td>{_e(clock.get('department') or '—')}</td>"
            f"<td>{_e(STATE.get(clock.get('state', ''), clock.get('state')))}</td>"
            f"<td>{_met(clock.get('met'))}</td><td class='t'>{_time(happened)}</td></tr>"
        )
    parts.append("</table><h2>三、办理结果</h2>")
    if dossier["outcomes"]:
        parts.append(
            "<table><tr><th>轮次</th><th>形式</th><th>意见</th><th>内容</th><th>时间</th></tr>"
        )
        for o in dossier["outcomes"]:
            form = "处理意见" if o.get("form") == "opinion" else "调解/和解协议"
            opinion = OPINION.get(o.get("opinion") or "", o.get("opinion") or "—")
            parts.append(
                f"<tr><td>{_e(o.get('round'))}</td><td>{form}</td>"
                f"<td>{_e(opinion)}</td><td>{_e(o.get('summary'))}</td>"
                f"<td>{_time(o.get('at') or o.get('recorded_at'))}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p class='muted'>尚无办理结果。</p>")
    parts.append("<h2>四、回访与满意度评价</h2>")
    if dossier["return_visits"]:
        parts.append(
            "<table><tr><th>轮次</th><th>来源</th><th>评价</th><th>说明</th><th>时间</th></tr>"
        )
        for r in dossier["return_visits"]:
            source = "信访人自评" if r.get("source") == "petitioner" else "回访"
            parts.append(
                f"<tr><td>{_e(r.get('round'))}</td><td>{source}</td>"
                f"<td>{_e(SATISFACTION.get(r.get('satisfaction', ''), r.get('satisfaction')))}</td>"
                f"<td>{_e(r.get('notes') or '—')}</td><td>{_time(r.get('at'))}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p class='muted'>尚无回访记录。</p>")
    if dossier["visits"]:
        parts.append("<table><tr><th>方式</th><th>走访人</th><th>时间</th><th>情况</th></tr>")
        for v in dossier["visits"]:
            how = "上门走访" if v.get("kind") == "visit" else "电话回访"
            parts.append(
                f"<tr><td>{how}</td><td>{_e(v.get('visited_by'))}</td>"
                f"<td>{_time(v.get('visited_at'))}</td><td>{_e(v.get('summary'))}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>五、附件（按内容哈希存证）</h2>")
    if dossier["attachments"]:
        parts.append(
            "<table><tr><th>类型</th><th>文件名</th><th>大小</th><th>SHA-256</th><th>状态</th></tr>"
        )
        for a in dossier["attachments"]:
            state = f"已删除 {_time(a['erased_at'])}" if a.get("erased_at") else "保存中"
            parts.append(
                f"<tr><td>{_e(KINDS.get(a['kind'], a['kind']))}</td><td>{_e(a['name'])}</td>"
                f"<td>{a['size']:,} 字节</td><td class='mono'>{_e(a['sha256'])}</td>"
                f"<td>{state}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p class='muted'>无附件。</p>")
    parts.append(_proof(dossier))
    parts.append(f"<h2>七、全部流转记录（共 {len(dossier['entries'])} 条，哈希链）</h2>")
    for entry in dossier["entries"]:
        actor = entry["actor"]
        data = "".join(
            f"<tr><td class='k'>{_e(key)}</td><td class='v'>{_e(_value(value))}</td></tr>"
            for key, value in sorted(entry["data"].items())
        )
        parts.append(
            "<div class='entry'>"
            f"<div class='head'>#{entry['position']} {_time(entry['time'])} · "
            f"{_e(entry['service'])} · {_e(entry['type'])}</div>"
            f"<div>操作人：{_e(actor.get('user'))}（{_e(actor.get('role'))}"
            f"{'，' + _e(actor['department']) if actor.get('department') else ''}）</div>"
            f"<table class='data'>{data}</table>"
            f"<div class='mono'>前一哈希 {_e(entry['previous_hash'])}<br>"
            f"本条哈希 {_e(entry['hash'])}</div>"
            "</div>"
        )
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>信访事项电子卷宗 {_e(dossier['case_id'])}</title></head><body>"
        + "".join(parts)
        + "</body></html>"
    )


def _proof(dossier: dict[str, Any]) -> str:
    signed = dossier.get("checkpoint")
    key = dossier["public_key"]["fingerprint"]
    parts = ["<h2>六、存证与核验</h2><table class='kv'>"]
    if signed:
        body, leaf = signed["checkpoint"], signed["leaf"]
        rows = [
            ("签名检查点", f"第 {body['sequence']} 号，签于 {_time(body['signed_at'])}"),
            ("覆盖范围", f"本案前 {leaf['entries']} 条记录；共 {body['cases']} 个案件"),
            ("默克尔根", f"<span class='mono'>{_e(body['root'])}</span>"),
            ("本案链头", f"<span class='mono'>{_e(leaf['head'])}</span>"),
            ("包含证明", f"{len(signed['proof'])} 个兄弟节点（RFC 9162）"),
        ]
    else:
        rows = [("签名检查点", "本案尚未进入签名检查点，仅由卷宗封签保护")]
    rows.append(("公钥指纹 (Ed25519)", f"<span class='mono'>{_e(key)}</span>"))
    rows.append(
        (
            "如何核验",
            "导出 JSON 卷宗（?format=json），离线运行 <b>onestop verify 卷宗.json "
            "--fingerprint 公钥指纹</b>；公钥指纹应与本中心公布的一致"
            "（GET /v1/evidence/public-key）。本 PDF 内嵌同一 JSON 卷宗。",
        )
    )
    parts.append(_rows(rows) + "</table>")
    return "".join(parts)


def render(dossier: dict[str, Any]) -> bytes:
    """The dossier as PDF, its JSON embedded (`dossier.json`)."""
    from weasyprint import CSS as Style
    from weasyprint import HTML, Attachment

    document = HTML(string=page(dossier))
    embedded = Attachment(
        string=exported(dossier),
        name=f"dossier-{dossier['case_id']}.json",
        description="The dossier as exported: check it with `onestop verify`",
        relationship="Source",
    )
    pdf: bytes = document.write_pdf(stylesheets=[Style(string=CSS)], attachments=[embedded])
    return pdf
