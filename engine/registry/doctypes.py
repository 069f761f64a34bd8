"""The 15 document types (文种) and the routing rules (行文规则) a machine can check.

Types follow 《党政机关公文处理工作条例》 (2012) Art. 8 (DOMAIN.md §1.1); the rules follow
its chapter 4 (DOMAIN.md §1.4). Only rules that can be decided from a document's fields
are checked here; the rest (one matter per 请示, a leader assigned the matter personally)
stay with the human reviewer at 核稿.

Every message is one sentence in Chinese, then English, like the calendar's messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

UPWARD, DOWNWARD, LATERAL, ANY = "upward", "downward", "lateral", "any"


@dataclass(frozen=True)
class DocType:
    """One 文种: its Chinese name (the stored value), English name, usual direction."""

    zh: str
    en: str
    direction: str
    enabled: bool = True


DOC_TYPES: tuple[DocType, ...] = (
    DocType("决议", "Resolution", DOWNWARD),
    DocType("决定", "Decision", DOWNWARD),
    # A 管委会 is a dispatched agency, not a government: it issues no orders or motions.
    DocType("命令", "Order", DOWNWARD, enabled=False),
    DocType("公报", "Communiqué", DOWNWARD),
    DocType("公告", "Announcement", DOWNWARD),
    DocType("通告", "Public notice", DOWNWARD),
    DocType("意见", "Opinions", ANY),
    DocType("通知", "Notice", DOWNWARD),
    DocType("通报", "Circular", DOWNWARD),
    DocType("报告", "Report", UPWARD),
    DocType("请示", "Request for instructions", UPWARD),
    DocType("批复", "Reply", DOWNWARD),
    DocType("议案", "Motion", UPWARD, enabled=False),
    DocType("函", "Letter", LATERAL),
    DocType("纪要", "Minutes", ANY),
)
BY_NAME: dict[str, DocType] = {t.zh: t for t in DOC_TYPES}
NAMES: tuple[str, ...] = tuple(t.zh for t in DOC_TYPES)

# Phrases that turn a 报告 into a request (Art. 19: 报告不得夹带请示事项).
REQUEST_PHRASES = ("请批示", "请指示", "妥否", "当否", "请审批", "请批准", "请予批准",
                   "请审定", "请核准", "请批复", "请予审批")

# Organisation levels relative to the issuing 管委会 and its General Office.
SUPERIOR, SUPERIOR_2, SAME, SUBORDINATE = "superior", "superior_2", "same", "subordinate"

# Known organisations (names or group keys) -> level. Administrators extend this mapping;
# unknown organisations are judged by the name patterns below, or not at all.
ORG_LEVELS: dict[str, str] = {
    "深圳市人民政府": SUPERIOR,
    "深圳市人民政府办公厅": SUPERIOR,
    "中共深圳市委": SUPERIOR,
    "中共深圳市委办公厅": SUPERIOR,
    "广东省人民政府": SUPERIOR_2,
    "广东省人民政府办公厅": SUPERIOR_2,
    "国务院": SUPERIOR_2,
    "国务院办公厅": SUPERIOR_2,
    "中共深圳市大鹏新区工作委员会": SAME,
    "深圳市大鹏新区管理委员会": SAME,
    "大鹏新区综合办公室": SAME,
}
_SUBORDINATE_PATTERN = re.compile(r"(办事处|社区|居委会|工作站|股份合作公司)$")
_CITY_ORGAN = re.compile(r"^深圳市(?!.*(区|新区)).+$")
_DISTRICT = re.compile(r"^深圳市.+区(人民政府|管理委员会)$")
_HIGHER = re.compile(r"^(国务院|广东省|中共广东省|中共中央)")
_NEW_DISTRICT_UNIT = re.compile(r"^(深圳市)?大鹏新区.+(局|部|中心|办公室)$")


def org_level(name: str, levels: Mapping[str, str] | None = None) -> str | None:
    """The level of an organisation relative to the 管委会, or None when unknown."""
    name = name.strip()
    table = ORG_LEVELS if levels is None else levels
    if name in table:
        return table[name]
    if _HIGHER.match(name):
        return SUPERIOR_2
    if _DISTRICT.match(name):
        return SAME
    if _CITY_ORGAN.match(name):
        return SUPERIOR
    if _SUBORDINATE_PATTERN.search(name) or _NEW_DISTRICT_UNIT.match(name):
        return SUBORDINATE
    return None


_GOVERNMENT = re.compile(r"(人民政府|国务院|市委|省委|中共中央)(办公厅)?$")


def is_superior_government(name: str, levels: Mapping[str, str] | None = None) -> bool:
    """A superior government or party committee (or its General Office), as opposed to a
    superior organ's department: its documents go to the principal leader for 批示."""
    name = name.strip()
    return (org_level(name, levels) in (SUPERIOR, SUPERIOR_2)
            and _GOVERNMENT.search(name) is not None)


def _names(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [p for p in re.split(r"[、,，;；\n]+", value) if p.strip()]
    if isinstance(value, Iterable):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)]


@dataclass(frozen=True)
class RoutingProblem:
    """A broken routing rule: the field to fix and the sentence to show."""

    field: str
    message: str


def is_upward(fields: Mapping[str, Any], levels: Mapping[str, str] | None = None) -> bool:
    """Upward when the type is upward, the sender says so, or it goes to a superior."""
    doc_type = BY_NAME.get(str(fields.get("doc_type") or ""))
    if doc_type is not None and doc_type.direction == UPWARD:
        return True
    if fields.get("direction") == UPWARD or fields.get("upward") is True:
        return True
    return any(org_level(n, levels) in (SUPERIOR, SUPERIOR_2)
               for n in _names(fields.get("principal_recipients")))


def routing_problems(fields: Mapping[str, Any], *, levels: Mapping[str, str] | None = None,
                     allow_disabled: bool = False, complete: bool = True
                     ) -> list[RoutingProblem]:
    """Every routing rule the fields break, each with the field it concerns.

    With ``complete=False`` (a draft) information not given yet is not held against it:
    no recipients or no signer yet is fine, a second principal recipient is not.
    """
    problems: list[RoutingProblem] = []

    def add(field: str, message: str) -> None:
        problems.append(RoutingProblem(field, message))

    name = str(fields.get("doc_type") or "")
    doc_type = BY_NAME.get(name)
    if name and doc_type is None:
        add("doc_type", f"“{name}”不是法定文种 / {name!r} is not one of the 15 document types "
                        f"({'、'.join(NAMES)})")
    elif doc_type is not None and not doc_type.enabled and not allow_disabled:
        add("doc_type", f"本机关不使用“{name}” / this office does not issue a {name} "
                        f"({doc_type.en}); choose another document type")
    principal = _names(fields.get("principal_recipients"))
    cc = _names(fields.get("cc_recipients"))
    if name == "请示":
        if len(principal) > 1 or (complete and not principal):
            add("principal_recipients",
                f"请示只能主送一个上级机关，现有 {len(principal)} 个 / a 请示 (request for "
                f"instructions) goes to exactly one principal recipient, not {len(principal)}")
        low = [n for n in cc if org_level(n, levels) == SUBORDINATE]
        if low:
            add("cc_recipients",
                f"请示不得抄送下级机关：{'、'.join(low)} / a 请示 is never copied to "
                f"subordinate units ({', '.join(low)})")
    if name == "报告":
        text = f"{fields.get('title') or ''}\n{fields.get('summary') or ''}"
        found = [p for p in REQUEST_PHRASES if p in text]
        if found:
            add("summary",
                f"报告中不得夹带请示事项（“{'”“'.join(found)}”）/ a 报告 (report) must not "
                f"contain a request ({', '.join(found)}); send a separate 请示")
    if complete and is_upward(fields, levels) and not str(fields.get("signer") or "").strip():
        add("signer", "上行文须标注签发人 / an upward document needs its signing leader "
                      "(签发人)")
    skip = [n for n in principal if org_level(n, levels) == SUPERIOR_2]
    if skip and not any(org_level(n, levels) == SUPERIOR for n in cc):
        add("cc_recipients",
            f"越级行文须抄送被越过的上级机关 / a document to {', '.join(skip)} skips a "
            "level: copy it to the superior organ that was skipped")
    problems.extend(_joint_problems(fields, levels))
    return problems


def _joint_problems(fields: Mapping[str, Any], levels: Mapping[str, str] | None
                    ) -> list[RoutingProblem]:
    issuers = _names(fields.get("joint_issuers"))
    if not issuers:
        return []
    lead = str(fields.get("issuer") or "").strip()
    everyone = ([lead] if lead else []) + issuers
    known = {n: org_level(n, levels) for n in everyone}
    distinct = {lvl for lvl in known.values() if lvl is not None}
    if len(distinct) > 1:
        parts = ", ".join(f"{n}: {lvl}" for n, lvl in known.items() if lvl is not None)
        return [RoutingProblem("joint_issuers",
                               f"联合行文仅限同级机关 / only organs of the same level issue "
                               f"jointly ({parts})")]
    return []


def check_routing(fields: Mapping[str, Any], *, levels: Mapping[str, str] | None = None,
                  allow_disabled: bool = False, complete: bool = True) -> list[str]:
    """The routing-rule messages for a document's fields (empty when it may be routed)."""
    return [p.message for p in routing_problems(fields, levels=levels,
                                                allow_disabled=allow_disabled,
                                                complete=complete)]
