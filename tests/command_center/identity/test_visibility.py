"""Who sees which courts: a security boundary, tested as a table over courts, roles and kinds of caller."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from command_center.courts.dataset import generate_courts
from command_center.courts.directory import CourtDirectory
from command_center.identity.principal import Principal, Role
from command_center.identity.visibility import can_see_request, court_scope

SPC = "000000"
ZHEJIANG_HIGH = "330000"
HANGZHOU_INTERMEDIATE = "330100"
XIHU_BASIC = "330106"
GONGSHU_BASIC = "330105"  # Xihu's sibling under Hangzhou
NINGBO_INTERMEDIATE = "330200"  # Hangzhou's sibling under Zhejiang
HAISHU_BASIC = "330203"  # under Ningbo
BEIJING_HIGH = "110000"
CHAOYANG_BASIC = "110105"  # another province
HUBEI_HIGH = "420000"
HANJIANG_INTERMEDIATE = "429000"  # synthetic intermediate over directly administered county-level cities
XIANTAO_BASIC = "429004"

ALL = (
    SPC,
    ZHEJIANG_HIGH,
    HANGZHOU_INTERMEDIATE,
    XIHU_BASIC,
    GONGSHU_BASIC,
    NINGBO_INTERMEDIATE,
    HAISHU_BASIC,
    BEIJING_HIGH,
    CHAOYANG_BASIC,
    HUBEI_HIGH,
    HANJIANG_INTERMEDIATE,
    XIANTAO_BASIC,
)


@pytest.fixture(scope="module")
def directory() -> CourtDirectory:
    return CourtDirectory(generate_courts())


def user(role: Role, court: str) -> Principal:
    return Principal(kind="user", id=1, name="someone", court_code=court, role=role, session_id=1)


def token(court: str) -> Principal:
    return Principal(kind="token", id=1, name="court-system", court_code=court, role=Role.clerk)


SUBTREES = {
    SPC: set(ALL),
    ZHEJIANG_HIGH: {
        ZHEJIANG_HIGH,
        HANGZHOU_INTERMEDIATE,
        XIHU_BASIC,
        GONGSHU_BASIC,
        NINGBO_INTERMEDIATE,
        HAISHU_BASIC,
    },
    HANGZHOU_INTERMEDIATE: {HANGZHOU_INTERMEDIATE, XIHU_BASIC, GONGSHU_BASIC},
    XIHU_BASIC: {XIHU_BASIC},
    HUBEI_HIGH: {HUBEI_HIGH, HANJIANG_INTERMEDIATE, XIANTAO_BASIC},
    HANJIANG_INTERMEDIATE: {HANJIANG_INTERMEDIATE, XIANTAO_BASIC},
}

# (caller, the courts among ALL it may see)
CASES = [
    *[(user(Role.command_staff, court), visible) for court, visible in SUBTREES.items()],
    *[
        (user(role, court), {court})
        for role in (Role.admin, Role.officer, Role.clerk)
        for court in (SPC, ZHEJIANG_HIGH, HANGZHOU_INTERMEDIATE, XIHU_BASIC)
    ],
    *[(token(court), {court}) for court in (SPC, ZHEJIANG_HIGH, HANGZHOU_INTERMEDIATE, XIHU_BASIC)],
    # A token never gets command staff's reach, whatever role it is given.
    (
        Principal(kind="token", id=2, name="x", court_code=ZHEJIANG_HIGH, role=Role.command_staff),
        {ZHEJIANG_HIGH},
    ),
]


def _case_id(case: tuple[Principal, set[str]]) -> str:
    principal, _ = case
    return f"{principal.kind}-{principal.role.value}-{principal.court_code}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_scope_includes_exactly_the_courts_the_rules_allow(
    directory: CourtDirectory, case: tuple[Principal, set[str]]
) -> None:
    principal, visible = case
    scope = court_scope(principal, directory)
    for code in ALL:
        assert scope.includes(code) is (code in visible), (
            f"{_case_id(case)} sees {code}: {scope.includes(code)}"
        )


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_scope_codes_agree_with_includes_over_the_whole_directory(
    directory: CourtDirectory, case: tuple[Principal, set[str]]
) -> None:
    principal, _ = case
    scope = court_scope(principal, directory)
    assert scope.codes == {entry.code for entry in directory if scope.includes(entry.code)}


def test_scope_never_includes_unknown_or_missing_courts(directory: CourtDirectory) -> None:
    for principal in (user(Role.command_staff, SPC), user(Role.clerk, XIHU_BASIC), token(XIHU_BASIC)):
        scope = court_scope(principal, directory)
        assert not scope.includes("999999")
        assert not scope.includes(None)
        assert not scope.includes("")


def test_code_digits_do_not_extend_a_scope_beyond_the_court_tree(directory: CourtDirectory) -> None:
    # 429004 starts with "42" and sits under Hubei's synthetic intermediate court 429000, not under a
    # "4290.." prefix court of its own; the tree, not the digits, decides.
    scope = court_scope(user(Role.command_staff, HANJIANG_INTERMEDIATE), directory)
    assert scope.includes(XIANTAO_BASIC)
    assert not scope.includes(HUBEI_HIGH)
    assert not court_scope(user(Role.command_staff, XIHU_BASIC), directory).includes("3301060")


def test_prefix_and_everything_describe_the_scope_for_sql(directory: CourtDirectory) -> None:
    assert court_scope(user(Role.command_staff, SPC), directory).everything
    assert court_scope(user(Role.command_staff, SPC), directory).prefix == ""
    assert court_scope(user(Role.command_staff, ZHEJIANG_HIGH), directory).prefix == "33"
    assert court_scope(user(Role.command_staff, HANGZHOU_INTERMEDIATE), directory).prefix == "3301"
    assert not court_scope(user(Role.command_staff, ZHEJIANG_HIGH), directory).everything
    assert court_scope(user(Role.admin, SPC), directory).prefix is None
    assert not court_scope(user(Role.admin, SPC), directory).everything


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_sql_filter_selects_exactly_the_visible_courts(
    directory: CourtDirectory, case: tuple[Principal, set[str]]
) -> None:
    principal, visible = case
    scope = court_scope(principal, directory)
    courts = sa.Table("some_court_records", sa.MetaData(), sa.Column("code", sa.String(6)))
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        courts.create(conn)
        conn.execute(courts.insert(), [{"code": code} for code in ALL])
        selected = {r.code for r in conn.execute(sa.select(courts.c.code).where(scope.filter(courts.c.code)))}
    assert selected == visible


# requesting, target, supervising court; and which callers see such a request
REQUEST = {"requesting_court": XIHU_BASIC, "target_court": CHAOYANG_BASIC, "supervising_court": SPC}
NEARBY = {"requesting_court": XIHU_BASIC, "target_court": HAISHU_BASIC, "supervising_court": ZHEJIANG_HIGH}


@pytest.mark.parametrize(
    ("principal", "request_courts", "visible"),
    [
        (user(Role.clerk, XIHU_BASIC), REQUEST, True),  # requester
        (user(Role.officer, CHAOYANG_BASIC), REQUEST, True),  # target
        (user(Role.command_staff, SPC), REQUEST, True),  # supervisor
        (user(Role.command_staff, ZHEJIANG_HIGH), REQUEST, True),  # requester's superior
        (user(Role.command_staff, BEIJING_HIGH), REQUEST, True),  # target's superior
        (user(Role.officer, GONGSHU_BASIC), REQUEST, False),  # requester's sibling
        (user(Role.admin, ZHEJIANG_HIGH), REQUEST, False),  # an admin has no subtree
        (user(Role.clerk, SPC), REQUEST, True),  # the SPC is the supervising court itself
        (token(XIHU_BASIC), REQUEST, True),
        (token(GONGSHU_BASIC), REQUEST, False),
        (user(Role.command_staff, ZHEJIANG_HIGH), NEARBY, True),
        (user(Role.command_staff, NINGBO_INTERMEDIATE), NEARBY, True),
        (user(Role.command_staff, BEIJING_HIGH), NEARBY, False),
        (user(Role.clerk, ZHEJIANG_HIGH), NEARBY, True),  # supervising court
        (user(Role.clerk, HANGZHOU_INTERMEDIATE), NEARBY, False),  # not command staff: no subtree
        (user(Role.command_staff, HANGZHOU_INTERMEDIATE), NEARBY, True),
    ],
)
def test_an_assistance_request_is_visible_to_requester_target_and_supervisor_scopes(
    directory: CourtDirectory, principal: Principal, request_courts: dict[str, str], visible: bool
) -> None:
    assert can_see_request(court_scope(principal, directory), **request_courts) is visible
