"""What a new centre starts with: its jurisdictions, departments, shared windows and the
first version of its dispatch catalogue (派单目录). Seeded once, as events, on first start;
from then on an admin changes them through the API and every change is an event too.
"""

from __future__ import annotations

from services.routing.organisation import Department, DispatchRule, Jurisdiction, Window

SEED_NOTE = "the centre's first catalogue (seed-2026.11)"

JURISDICTIONS = (
    Jurisdiction("ninghe", "宁河区", "district"),
    Jurisdiction("lutai", "芦台街道", "street", "ninghe"),
    Jurisdiction("jinxiu", "锦绣社区", "community", "lutai"),
    Jurisdiction("yuhe", "裕河社区", "community", "lutai"),
    Jurisdiction("qiaobei", "桥北街道", "street", "ninghe"),
    Jurisdiction("xinhua", "新华社区", "community", "qiaobei"),
    Jurisdiction("changhong", "长虹社区", "community", "qiaobei"),
    Jurisdiction("fengtai", "丰台镇", "street", "ninghe"),
    Jurisdiction("xiaozhuang", "小庄村", "community", "fengtai"),
    Jurisdiction("qiaocheng", "谯城区", "district"),
    Jurisdiction("huaihua", "花戏楼街道", "street", "qiaocheng"),
    Jurisdiction("tangling", "汤陵社区", "community", "huaihua"),
    Jurisdiction("gucheng", "古城镇", "street", "qiaocheng"),
    Jurisdiction("gucheng-village", "古城村", "community", "gucheng"),
)

DEPARTMENTS = (
    Department("ninghe-hrss", "宁河区人力资源和社会保障局", "ninghe"),
    Department("ninghe-housing", "宁河区住房和建设委员会", "ninghe"),
    Department("ninghe-planning", "宁河区规划和自然资源局", "ninghe", "rotation", (2, 4)),
    Department("ninghe-urban", "宁河区城市管理委员会", "ninghe"),
    Department("ninghe-eco", "宁河区生态环境局", "ninghe", "rotation", (1, 3, 5)),
    Department("ninghe-police", "宁河区公安分局", "ninghe"),
    Department("ninghe-health", "宁河区卫生健康委员会", "ninghe", "rotation", (2, 5)),
    Department("ninghe-edu", "宁河区教育局", "ninghe", "rotation", (1, 4)),
    Department("ninghe-civil", "宁河区民政局", "ninghe", "on-call"),
    Department("ninghe-discipline", "宁河区纪委监委", "ninghe", "on-call"),
    Department("lutai-office", "芦台街道办事处", "lutai"),
    Department("qiaobei-office", "桥北街道办事处", "qiaobei"),
    Department("jinxiu-committee", "锦绣社区居委会", "jinxiu"),
    Department("qiaocheng-hrss", "谯城区人力资源和社会保障局", "qiaocheng"),
    Department("qiaocheng-housing", "谯城区住房和城乡建设局", "qiaocheng"),
    Department("qiaocheng-discipline", "谯城区纪委监委", "qiaocheng", "on-call"),
)

WINDOWS = (
    Window("W02", ("ninghe-hrss", "qiaocheng-hrss")),
    Window("W03", ("ninghe-housing", "qiaocheng-housing")),
    Window("W05", ("ninghe-urban", "lutai-office")),
    Window("W06", ("ninghe-eco", "ninghe-planning")),
)


def _rule(
    rule_id: str,
    category: str,
    scope: tuple[str, ...],
    lead: str,
    *co: str,
    legal: str | None = None,
) -> DispatchRule:
    return DispatchRule(rule_id, category, scope, lead, co, legal)


RULES = (
    _rule("R-01", "labour-wages", ("ninghe",), "ninghe-hrss"),
    _rule("R-02", "social-security", ("ninghe",), "ninghe-hrss", "ninghe-civil"),
    _rule("R-03", "housing-demolition", ("ninghe",), "ninghe-housing", "ninghe-planning"),
    _rule("R-04", "property-management", ("ninghe",), "ninghe-housing"),
    _rule("R-05", "property-management", ("ninghe", "lutai"), "lutai-office", "ninghe-housing"),
    _rule("R-06", "urban-management", ("ninghe",), "ninghe-urban"),
    _rule("R-07", "urban-management", ("ninghe", "lutai"), "lutai-office", "ninghe-urban"),
    _rule("R-08", "urban-management", ("ninghe", "qiaobei"), "qiaobei-office", "ninghe-urban"),
    _rule("R-09", "environment", ("ninghe",), "ninghe-eco"),
    _rule("R-10", "land-resources", ("ninghe",), "ninghe-planning"),
    _rule("R-11", "public-security", ("ninghe",), "ninghe-police"),
    _rule("R-12", "health", ("ninghe",), "ninghe-health"),
    _rule("R-13", "education", ("ninghe",), "ninghe-edu"),
    _rule("R-14", "civil-affairs", ("ninghe",), "ninghe-civil"),
    _rule("R-15", "neighbour-dispute", ("ninghe", "lutai", "jinxiu"), "jinxiu-committee"),
    _rule("R-21", "labour-wages", ("qiaocheng",), "qiaocheng-hrss"),
    _rule("R-22", "housing-demolition", ("qiaocheng",), "qiaocheng-housing"),
    _rule("R-90", "*", ("ninghe",), "ninghe-discipline", legal="accusation"),
    _rule("R-91", "*", ("qiaocheng",), "qiaocheng-discipline", legal="accusation"),
)
