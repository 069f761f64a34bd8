"""The demo organisation (docs/organisation.md): idempotent seeding for ``docroute demo``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.org import identity
from engine.service import Docroute

PASSWORD = "demo1234"

DEPARTMENTS = [
    ("general_office", "综合办公室", "General Office"),
    ("dev_finance", "发展和财政局", "Development and Finance Bureau"),
    ("economic_services", "经济服务局", "Economic Services Bureau"),
    ("party_affairs", "党群工作部", "Party and Mass Work Department"),
    ("housing_construction", "住房和建设局", "Housing and Construction Bureau"),
    ("urban_management", "城市管理和综合执法局", "Urban Management and Law Enforcement Bureau"),
    ("social_affairs", "社会事务局", "Social Affairs Bureau"),
    ("emergency_management", "应急管理局", "Emergency Management Bureau"),
    ("eco_enforcement", "生态资源环境综合执法局",
     "Ecology, Resources and Environment Enforcement Bureau"),
    ("kuichong_office", "葵涌办事处", "Kuichong Subdistrict Office"),
    ("dapeng_office", "大鹏办事处", "Dapeng Subdistrict Office"),
    ("nanao_office", "南澳办事处", "Nan'ao Subdistrict Office"),
]
ROLES = [
    ("records_clerks", "收发员", "Records clerks"),
    ("confidential_clerks", "机要员", "Confidential-mail clerks"),
    ("section_heads", "处室负责人", "Section heads"),
    ("office_reviewers", "核稿人", "Office reviewers"),
    ("legal_reviewers", "法制审核", "Legality reviewers"),
    ("office_director", "办公室主任", "Office director"),
    ("supervising_leaders", "分管领导", "Supervising leaders"),
    ("principal_leaders", "主要领导", "Principal leaders"),
    ("seal_supervisors", "监印人", "Seal supervisors"),
    ("supervision_officers", "督查员", "Follow-up officers"),
    ("handlers", "承办人", "Handlers"),
    ("disclosure_officers", "信息公开专员", "Disclosure officers"),
    ("archivists", "档案员", "Archivists"),
    ("confidentiality_officers", "保密员", "Confidentiality officers"),
]
# username, name, title, groups, clearance
USERS = [
    ("zhangli", "张丽", "收发员", ["general_office", "records_clerks"], "confidential"),
    ("zhouqiang", "周强", "处室负责人", ["general_office", "section_heads"], "secret"),
    ("wujing", "吴静", "核稿人", ["general_office", "office_reviewers", "legal_reviewers"],
     "secret"),
    ("linhai", "林海", "办公室主任",
     ["general_office", "office_director", "supervising_leaders"], "secret"),
    ("wangfang", "王芳", "副主任", ["general_office", "supervising_leaders"], "secret"),
    ("chenming", "陈明", "管委会主任", ["principal_leaders"], "top_secret"),
    ("liuyang", "刘洋", "应急管理局承办人", ["emergency_management", "handlers"], "none"),
    ("zhaolei", "赵磊", "城管局承办人", ["urban_management", "handlers"], "none"),
    ("sunli", "孙丽", "住建局承办人", ["housing_construction", "handlers"], "confidential"),
    ("xugang", "徐刚", "监印人", ["general_office", "seal_supervisors"], "confidential"),
    ("huangmin", "黄敏", "督查员", ["general_office", "supervision_officers"], "confidential"),
    ("guoyan", "郭燕", "信息公开专员", ["general_office", "disclosure_officers"], "none"),
    ("mali", "马丽", "档案员", ["general_office", "archivists"], "secret"),
    ("jiangli", "江丽", "保密员", ["general_office", "confidentiality_officers"], "secret"),
    ("dengyu", "邓宇", "机要员", ["general_office", "confidential_clerks"], "secret"),
    # The secretariat's drafter: 拟稿 ≠ 处室负责人审核 ≠ 核稿 needs a third person.
    ("xuwen", "许文", "秘书科科员", ["general_office", "handlers"], "confidential"),
    # One handler in every other unit, so work routed to any department has someone.
    ("qianjun", "钱军", "发财局承办人", ["dev_finance", "handlers"], "none"),
    ("fengtao", "冯涛", "经服局承办人", ["economic_services", "handlers"], "none"),
    ("yanghui", "杨慧", "党群部承办人", ["party_affairs", "handlers"], "none"),
    ("hexin", "何欣", "社会事务局承办人", ["social_affairs", "handlers"], "none"),
    ("luobin", "罗斌", "生态执法局承办人", ["eco_enforcement", "handlers"], "none"),
    ("songjie", "宋洁", "葵涌办事处承办人", ["kuichong_office", "handlers"], "none"),
    ("tangwei", "唐伟", "大鹏办事处承办人", ["dapeng_office", "handlers"], "none"),
    ("xiaoya", "萧雅", "南澳办事处承办人", ["nanao_office", "handlers"], "none"),
]

# The organisation model (engine.org.orgchart): leaders and their portfolios, unit heads,
# issuers with their signer level and seals. docs/organisation.md lists the same.
LEADERS = [  # username, rank, matters
    ("chenming", "principal", ["全面工作"]),
    ("linhai", "deputy", ["办公室日常工作", "党群", "社会事务"]),
    ("wangfang", "deputy", ["发展和财政", "经济", "城市建设和管理", "应急", "生态环境",
                            "办事处"]),
]
PORTFOLIOS = {
    "linhai": ["general_office", "party_affairs", "social_affairs"],
    "wangfang": ["dev_finance", "economic_services", "housing_construction",
                 "urban_management", "emergency_management", "eco_enforcement",
                 "kuichong_office", "dapeng_office", "nanao_office"],
}
UNIT_HEADS = {"general_office": ("linhai", ["wangfang", "zhouqiang"])}
ISSUERS = [  # prefix, name, signer level, seals
    ("深鹏发", "中共深圳市大鹏新区工作委员会 深圳市大鹏新区管理委员会", "principal",
     ["party_committee", "management_committee"]),
    ("深鹏管", "深圳市大鹏新区管理委员会", "principal", ["management_committee"]),
    ("深鹏办", "大鹏新区综合办公室", "unit_leader", ["general_office"]),
    ("深鹏办函", "大鹏新区综合办公室", "unit_leader", ["general_office"]),
]

# Extra seeding steps (demo documents and cases) register here, in order.


def seed_organisation(session: Session) -> bool:
    """Create the demo groups and users; returns False when they already exist."""
    if identity.find_user(session, "zhangli") is not None:
        return False
    for key, name, name_en in DEPARTMENTS:
        identity.add_group(session, key, name, name_en=name_en, kind="department")
    for key, name, name_en in ROLES:
        identity.add_group(session, key, name, name_en=name_en, kind="role")
    # The demo password is public; hashing it once (salted) keeps seeding quick.
    hashed = identity.hash_password(PASSWORD)
    for username, name, title, groups, clearance in USERS:
        identity.add_user(session, username, name, PASSWORD, groups=groups,
                          clearance=clearance, title=title, password_hash=hashed)
    identity.add_user(session, "admin", "系统管理员", PASSWORD, clearance="top_secret",
                      is_admin=True, title="系统管理员", password_hash=hashed)
    identity.add_user(session, "auditor", "审计员", PASSWORD, clearance="secret",
                      is_auditor=True, title="审计员", password_hash=hashed)
    seed_authority(session)
    return True


def seed_authority(session: Session) -> None:
    """Leaders, portfolios, unit heads and issuers of the demo organisation."""
    from engine.org import orgchart

    reason = "演示组织机构 / demo organisation"
    for username, rank, matters in LEADERS:
        orgchart.set_leader(session, identity.SYSTEM, username, rank=rank, matters=matters,
                            reason=reason)
    for leader, units in PORTFOLIOS.items():
        for unit in units:
            head, deputies = UNIT_HEADS.get(unit, ("", []))
            orgchart.set_unit(session, identity.SYSTEM, unit, head=head, deputies=deputies,
                              leader=leader, reason=reason)
    for prefix, name, level, seals in ISSUERS:
        orgchart.set_issuer(session, identity.SYSTEM, prefix, name=name, signer_level=level,
                            seals=seals, reason=reason)


def seed(app: Docroute) -> str:
    """Seed everything (idempotent) and return the demo logins as text."""
    from engine.wiring import demo_seeders  # the seeders drive cases through the whole engine

    with app.session() as session:
        fresh = seed_organisation(session)
    if fresh:
        for seeder in demo_seeders():
            seeder(app)
    lines = [f"Demo logins (password {PASSWORD}):"]
    for username, name, title, _groups, _clearance in USERS:
        lines.append(f"  {username:<10} {name} ({title})")
    lines.append(f"  {'admin':<10} 系统管理员 (administrator)")
    lines.append(f"  {'auditor':<10} 审计员 (auditor, read-only)")
    return "\n".join(lines)
