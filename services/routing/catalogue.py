"""The seeded dispatch catalogue (派单目录): departments and the rules that choose them.

Data, not code: each rule names a category and a jurisdiction scope (district, optionally
street/town, optionally community) and the lead and co-handling departments. The most
specific matching scope wins — small matters stay in the small grid.
"""

from __future__ import annotations

from services.routing.domain import Department, DispatchRule

CATALOGUE_VERSION = "seed-2026.11"

DEPARTMENTS: dict[str, Department] = {
    d.code: d
    for d in (
        Department("ninghe-hrss", "宁河区人力资源和社会保障局", "district", "permanent"),
        Department("ninghe-housing", "宁河区住房和建设委员会", "district", "permanent"),
        Department("ninghe-planning", "宁河区规划和自然资源局", "district", "rotation"),
        Department("ninghe-urban", "宁河区城市管理委员会", "district", "permanent"),
        Department("ninghe-eco", "宁河区生态环境局", "district", "rotation"),
        Department("ninghe-police", "宁河区公安分局", "district", "permanent"),
        Department("ninghe-health", "宁河区卫生健康委员会", "district", "rotation"),
        Department("ninghe-edu", "宁河区教育局", "district", "rotation"),
        Department("ninghe-civil", "宁河区民政局", "district", "on-call"),
        Department("lutai-office", "芦台街道办事处", "street", "permanent"),
        Department("qiaobei-office", "桥北街道办事处", "street", "permanent"),
        Department("qiaocheng-hrss", "谯城区人力资源和社会保障局", "district", "permanent"),
        Department("qiaocheng-housing", "谯城区住房和城乡建设局", "district", "permanent"),
    )
}


def _rule(rule_id: str, category: str, scope: tuple[str, ...], lead: str, *co: str) -> DispatchRule:
    return DispatchRule(rule_id, category, scope, lead, co)


RULES: tuple[DispatchRule, ...] = (
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
    _rule("R-21", "labour-wages", ("qiaocheng",), "qiaocheng-hrss"),
    _rule("R-22", "housing-demolition", ("qiaocheng",), "qiaocheng-housing"),
)
