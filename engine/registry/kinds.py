"""The fields of each document kind (DOMAIN.md §1.2 and §2), as JSON Schemas.

A document's fields are validated with the same validator as task forms
(``forms.validate``), so the API answers bad fields the same way: 422 with one message
per field. Field names match the shipped forms' names, so case data and documents share
them (the incoming register form's ``source_org`` is the document's ``source_org``).
"""

from __future__ import annotations

from typing import Any

from engine.org.identity import CLEARANCES

from . import doctypes

URGENCIES = ("", "加急", "特急")
RETENTIONS = ("永久", "定期30年", "定期10年")
KINDS = ("incoming", "outgoing", "proposal", "supervision", "seal", "disclosure")
KIND_NAMES = {"incoming": ("收文", "Incoming document"),
              "outgoing": ("发文", "Outgoing document"),
              "proposal": ("建议提案", "Deputy suggestion or CPPCC proposal"),
              "supervision": ("督办事项", "Supervision item"),
              "seal": ("用印申请", "Seal request"),
              "disclosure": ("依申请公开", "Disclosure request")}


def _s(title: str, max_length: int = 512, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "title": title, "maxLength": max_length, **extra}


def _text(title: str) -> dict[str, Any]:
    return _s(title, 20000)


def _date(title: str) -> dict[str, Any]:
    return {"type": "string", "format": "date", "title": title}


def _datetime(title: str) -> dict[str, Any]:
    return {"type": "string", "format": "date-time", "title": title}


def _int(title: str, minimum: int = 0) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "title": title}


def _list(title: str) -> dict[str, Any]:
    # A list of names, or one string of names separated by 、 or commas (as drafts type them).
    return {"type": ["array", "string"], "items": {"type": "string", "maxLength": 256},
            "maxLength": 4000, "title": title, "maxItems": 200}


def _enum(title: str, values: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values), "title": title}


COMMON: dict[str, dict[str, Any]] = {
    "title": _s("标题", minLength=1),
    "doc_number": _s("文号", 128),
    "doc_type": _enum("文种", doctypes.NAMES),
    "classification": _enum("密级", CLEARANCES),
    "classification_period": _s("保密期限", 32),
    "urgency": _enum("紧急程度", URGENCIES),
    "department": _s("承办部门", 64),
    "summary": _text("内容摘要"),
    "copies": _int("份数", 1),
    "issued_on": _date("成文日期"),
    "deadline": _date("办理时限"),
    "retention": _enum("保管期限", RETENTIONS),
    "archive_code": _s("档号", 64),
    "archive_year": _int("归档年度", 1900),
    "filed_on": _date("归档日期"),
    "note": _text("备注"),
}

PROPERTIES: dict[str, dict[str, dict[str, Any]]] = {
    "incoming": {
        "source_org": _s("来文机关", 256, minLength=1),
        "source_number": _s("来文字号", 128),
        "received_at": _datetime("收到时间"),
        "signed_by": _s("签收人", 64),
        "receipt_number": _s("收文号", 128),
        "proposed_handling": _text("拟办意见"),
        "instruction": _text("批示"),
        "instructed_by": _s("批示人", 64),
        "handling_mode": _enum("办理方式", ("read", "act")),
        "lead_department": _s("主办单位", 64),
        "co_departments": _list("协办单位"),
        "handling_result": _text("办理结果"),
        "handled_on": _date("办结日期"),
    },
    "outgoing": {
        "issuer": _s("发文机关", 256),
        "joint_issuers": _list("联合发文机关"),
        "principal_recipients": _list("主送机关"),
        "cc_recipients": _list("抄送机关"),
        "signer": _s("签发人", 64),
        "signed_on": _date("签发日期"),
        "drafting_department": _s("拟稿部门", 64),
        "drafter": _s("拟稿人", 64),
        "direction": _enum("行文方向", (doctypes.UPWARD, doctypes.DOWNWARD,
                                        doctypes.LATERAL)),
        "number_prefix": _s("发文代字", 20),
        "attachment_note": _text("附件说明"),
        "publication": _enum("公开属性", ("public", "on_request", "not_public")),
        "printed_on": _date("印发日期"),
    },
    "proposal": {
        "proposal_kind": _enum("类型", ("deputy_suggestion", "cppcc_proposal")),
        "session_label": _s("届次会次", 64),
        "proposal_number": _s("编号", 64),
        "lead_proposer": _s("领衔人/提案人", 128, minLength=1),
        "co_proposers": _list("联名人"),
        "key_item": {"type": "boolean", "title": "重点建议提案"},
        "assigned_on": _date("交办日期"),
        "handling_mode": _enum("办理方式", ("lead_co", "split")),
        "lead_department": _s("主办单位", 64),
        "co_departments": _list("协办单位"),
        "consulted_on": _date("面商日期"),
        "answer_number": _s("答复文号", 128),
        "answered_on": _date("答复日期"),
        "result_category": _enum("结果类别", ("A", "B", "C", "D")),
        "satisfaction": _enum("满意度", ("satisfied", "basically_satisfied", "dissatisfied")),
    },
    "supervision": {
        "source_type": _enum("来源类型", ("superior_assignment", "meeting_decision",
                                          "leader_instruction", "key_task", "public_issue")),
        "supervision_number": _s("督办编号", 64),
        "instruction_text": _text("批示原文"),
        "instructing_leader": _s("批示领导", 64),
        "instructed_on": _date("批示日期"),
        "lead_department": _s("主办单位", 64),
        "co_departments": _list("协办单位"),
        "responsible_person": _s("责任人", 64),
        "feedback_cycle": _enum("反馈周期", ("weekly", "biweekly", "monthly", "once")),
        "warning_level": _enum("预警等级", ("", "blue", "yellow", "red")),
        "completion_report": _text("办结报告"),
    },
    "seal": {
        "seal": _s("印章", 128, minLength=1),
        "purpose": _text("事由"),
        "related_number": _s("文件/文号", 128),
        "basis": _text("用印依据"),
        "applicant_department": _s("申请部门", 64),
        "handler": _s("经办人", 64),
        "approver": _s("批准人", 64),
        "supervisor": _s("监印人", 64),
        "take_out": {"type": "boolean", "title": "外带"},
        "return_by": _date("归还期限"),
        "seal_register_number": _s("用印登记号", 128),
    },
    "disclosure": {
        "applicant_name": _s("申请人", 128, minLength=1),
        "applicant_type": _enum("申请人类型", ("natural_person", "business", "research",
                                               "public_welfare", "legal_service", "other")),
        "contact": _s("联系方式", 256),
        "request_content": _text("申请内容"),
        "received_via": _enum("申请方式", ("in_person", "registered_post", "post", "online",
                                           "fax")),
        "received_on": _date("收到申请日期"),
        "purpose": _text("用途"),
        "answer_type": _enum("答复类型", ("disclosed", "partly_disclosed", "refused",
                                          "cannot_provide", "not_processed", "other")),
        "answer_number": _s("答复文号", 128),
        "answered_on": _date("答复日期"),
    },
}

REQUIRED: dict[str, list[str]] = {
    "incoming": ["title", "source_org", "doc_type"],
    "outgoing": ["title", "doc_type"],
    "proposal": ["title", "lead_proposer"],
    "supervision": ["title", "source_type"],
    "seal": ["title", "seal", "copies"],
    "disclosure": ["title", "applicant_name", "request_content"],
}


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a kind's fields (common fields plus the kind's own)."""
    return {"type": "object", "properties": {**COMMON, **PROPERTIES[kind]},
            "required": REQUIRED[kind]}
