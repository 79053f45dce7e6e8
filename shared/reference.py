"""Reference data both intake and routing speak: case categories and the jurisdiction tree.

Seeded with a small but real-shaped catalogue (two districts, their streets/towns and
communities/villages); the organisation registry that replaces it is managed through the
routing API later.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES: dict[str, str] = {
    "labour-wages": "劳动工资 · unpaid wages, labour contracts",
    "social-security": "社会保障 · pensions, insurance, subsistence allowance",
    "housing-demolition": "征地拆迁 · land requisition, demolition, compensation",
    "property-management": "物业管理 · property services, maintenance funds",
    "urban-management": "城市管理 · street order, noise, illegal construction",
    "environment": "生态环境 · pollution, emissions",
    "land-resources": "自然资源 · land use, planning",
    "public-security": "社会治安 · public order",
    "health": "医疗卫生 · medical services and disputes",
    "education": "教育 · schools, enrolment",
    "civil-affairs": "民政 · marriage, veterans, social assistance",
    "other": "其他 · anything else (dispatched by hand)",
}


@dataclass(frozen=True)
class Jurisdiction:
    """One node of the three tiers: district → street/town → community/village (网格)."""

    code: str
    name: str
    children: tuple[Jurisdiction, ...] = ()

    def child(self, code: str) -> Jurisdiction | None:
        return next((c for c in self.children if c.code == code), None)


def _node(code: str, name: str, *children: Jurisdiction) -> Jurisdiction:
    return Jurisdiction(code, name, tuple(children))


DISTRICTS: dict[str, Jurisdiction] = {
    d.code: d
    for d in (
        _node(
            "ninghe",
            "宁河区",
            _node("lutai", "芦台街道", _node("jinxiu", "锦绣社区"), _node("yuhe", "裕和社区")),
            _node(
                "qiaobei", "桥北街道", _node("xinhua", "新华社区"), _node("changhong", "长虹社区")
            ),
            _node("fengtai", "丰台镇", _node("xiaozhuang", "肖庄村"), _node("dongxin", "东新村")),
        ),
        _node(
            "qiaocheng",
            "谯城区",
            _node("huaihua", "花戏楼街道", _node("tangling", "汤陵社区")),
            _node("gucheng", "古城镇", _node("gucheng-village", "古城村")),
        ),
    )
}


def check_location(district: str, street: str, community: str | None) -> list[tuple[str, str]]:
    """Problems with a location, as (field, message) pairs; empty when it is a known place."""
    node = DISTRICTS.get(district)
    if node is None:
        return [
            ("location.district", f"unknown district {district!r}; known: {', '.join(DISTRICTS)}")
        ]
    street_node = node.child(street)
    if street_node is None:
        known = ", ".join(c.code for c in node.children)
        return [
            ("location.street", f"{street!r} is not a street or town of {district}; known: {known}")
        ]
    if community is not None and street_node.child(community) is None:
        known = ", ".join(c.code for c in street_node.children)
        return [("location.community", f"{community!r} is not in {street}; known: {known}")]
    return []
