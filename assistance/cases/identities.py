"""Valid, made-up identities for demo data and tests: resident ID numbers, credit codes, names, case numbers.

Every value passes the checks of `validation.py`; none belongs to a real person or organization
except by coincidence. The functions are pure and cheap (tens of thousands per second), and the
`random_*` ones draw from the `random.Random` they are given, so a seeded generator repeats itself.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from command_center.masking import credit_code_check_char, id_number_check_digit

# GB 11714-1997 organization code (组织机构代码): weights of the 8 body characters; the check is
# 11 - (sum mod 11), written X for 10 and 0 for 11.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN_CHARACTERS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力鹏飞宇浩凯晨欣怡佳雪梅琳丹宁波斌志新海峰亮云春燕"
_TRADE_NAMES = "华盛鑫源恒泰宏达永安顺利金鼎瑞丰博远新东中联天宇嘉禾盛世"
_INDUSTRIES = (
    "建筑工程",
    "商贸",
    "科技",
    "物流",
    "餐饮管理",
    "房地产开发",
    "机械制造",
    "劳务派遣",
    "服装",
    "医疗器械",
)


def make_resident_id(region: str, birth: date, serial: int) -> str:
    """The 18-character resident ID number (GB 11643) for a region code, birth date and 3-digit
    sequence (odd for men, even for women), with its check digit."""
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"region must be a 6-digit code, got {region!r}")
    if not 0 <= serial <= 999:
        raise ValueError(f"serial must be between 0 and 999, got {serial}")
    first17 = f"{region}{birth:%Y%m%d}{serial:03d}"
    return first17 + id_number_check_digit(first17)


def organization_code(serial: int) -> str:
    """The 9-character organization code (GB 11714) whose 8-digit body is `serial`, with its check."""
    if not 0 <= serial < 10**8:
        raise ValueError(f"serial must be between 0 and 99999999, got {serial}")
    body = f"{serial:08d}"
    check = 11 - sum(int(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_credit_code(region: str, serial: int, *, authority: str = "9", org_type: str = "1") -> str:
    """The unified social credit code (GB 32100) of an organization registered in `region`: registration
    authority (9: market regulation), organization type (1: enterprise), region, organization code, check."""
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"region must be a 6-digit code, got {region!r}")
    first17 = f"{authority}{org_type}{region}{organization_code(serial)}"
    return first17 + credit_code_check_char(first17)


def make_case_number(court_prefix: str, year: int, serial: int, case_type: str = "执") -> str:
    """A case number in the stored form: (2026)浙0106执1234号."""
    return f"({year}){court_prefix}{case_type}{serial}号"


def random_resident_id(
    rng: random.Random,
    *,
    region: str,
    born_from: date = date(1950, 1, 1),
    born_to: date = date(2004, 12, 31),
) -> str:
    """A resident ID number of someone from `region` born between the two dates."""
    birth = born_from + timedelta(days=rng.randrange((born_to - born_from).days + 1))
    return make_resident_id(region, birth, rng.randrange(1000))


def random_credit_code(rng: random.Random, *, region: str) -> str:
    """A credit code of an enterprise registered in `region`."""
    return make_credit_code(region, rng.randrange(10**8))


def random_person_name(rng: random.Random) -> str:
    """A common two- or three-character Chinese name."""
    given = "".join(rng.choice(GIVEN_CHARACTERS) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(SURNAMES) + given


def random_organization_name(rng: random.Random, *, place: str) -> str:
    """An enterprise name in the usual pattern: place, trade name, industry, 有限公司."""
    trade = rng.choice(_TRADE_NAMES) + rng.choice(_TRADE_NAMES)
    return f"{place}{trade}{rng.choice(_INDUSTRIES)}有限公司"
