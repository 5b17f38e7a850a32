"""Loading the court table from the dataset, and reading it back."""

from __future__ import annotations

import dataclasses

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.courts import service
from command_center.courts.dataset import DATASET, generate_courts
from command_center.courts.directory import load_directory
from command_center.courts.enums import CourtLevel
from command_center.courts.models import Court


async def test_loading_the_directory_twice_changes_nothing(session: AsyncSession) -> None:
    await service.load_courts(session)
    second = await service.load_courts(session)
    assert not second.changed
    assert second.dataset == DATASET
    assert {level: counts.unchanged for level, counts in second.levels.items()} == {
        CourtLevel.supreme: 1,
        CourtLevel.high: 31,
        CourtLevel.intermediate: 342,
        CourtLevel.basic: 2843,
    }
    assert await session.scalar(select(func.count()).select_from(Court)) == 3217


async def test_loaded_rows_match_the_generated_directory(session: AsyncSession) -> None:
    rows = {court.code: court for court in (await session.scalars(select(Court))).all()}
    for seed in generate_courts():
        row = rows[seed.code]
        assert (row.name, row.level, row.superior_code, row.case_prefix, row.province, row.active) == (
            seed.name,
            seed.level,
            seed.superior_code,
            seed.case_prefix,
            seed.province,
            True,
        )


async def test_changed_names_and_superiors_are_updated(session: AsyncSession) -> None:
    seeds = generate_courts()
    renamed = [
        dataclasses.replace(s, name="杭州市西湖区人民法院（新）") if s.code == "330106" else s for s in seeds
    ]
    result = await service.load_courts(session, courts=renamed)
    assert result.levels[CourtLevel.basic].updated == 1
    assert result.updated == 1 and result.inserted == 0 and result.deactivated == 0
    court = await session.get(Court, "330106", populate_existing=True)
    assert court.name == "杭州市西湖区人民法院（新）"

    again = await service.load_courts(session, courts=renamed)
    assert not again.changed


async def test_new_courts_are_inserted_under_new_superiors(session: AsyncSession) -> None:
    seeds = generate_courts()
    new_prefecture = dataclasses.replace(
        next(s for s in seeds if s.code == "330100"), code="339900", region_code="339900",
        name="新设市中级人民法院", case_prefix="浙99",
    )  # fmt: skip
    new_county = dataclasses.replace(
        next(s for s in seeds if s.code == "330106"), code="339901", region_code="339901",
        superior_code="339900", name="新设市新区人民法院", case_prefix="浙9901",
    )  # fmt: skip
    result = await service.load_courts(session, courts=[*seeds, new_county, new_prefecture])
    assert result.levels[CourtLevel.intermediate].inserted == 1
    assert result.levels[CourtLevel.basic].inserted == 1
    assert result.inserted == 2 and result.updated == 0
    directory = await load_directory(session)
    assert [c.code for c in directory.ancestors("339901")] == ["339900", "330000", "000000"]


async def test_courts_missing_from_the_dataset_are_kept_but_marked_inactive(session: AsyncSession) -> None:
    without_xihu = [s for s in generate_courts() if s.code != "330106"]
    result = await service.load_courts(session, courts=without_xihu)
    assert result.levels[CourtLevel.basic].deactivated == 1
    assert result.deactivated == 1 and result.updated == 0
    court = await session.get(Court, "330106", populate_existing=True)
    assert court is not None and court.active is False

    again = await service.load_courts(session, courts=without_xihu)
    assert not again.changed
    assert again.levels[CourtLevel.basic].unchanged == 2843

    restored = await service.load_courts(session)
    assert restored.levels[CourtLevel.basic].updated == 1
    court = await session.get(Court, "330106", populate_existing=True)
    assert court.active is True


async def test_directory_loaded_from_the_table_matches_the_dataset(session: AsyncSession) -> None:
    directory = await load_directory(session)
    assert directory.counts_by_level()[CourtLevel.basic] == 2843
    assert directory.get("330106").name == "杭州市西湖区人民法院"
    assert directory.is_within("330106", "330000")


async def test_inactive_courts_stay_in_the_directory_but_are_not_listed(session: AsyncSession) -> None:
    await service.load_courts(session, courts=[s for s in generate_courts() if s.code != "330106"])
    directory = await load_directory(session)
    assert directory.get("330106").active is False
    courts, total = await service.list_courts(session, q="西湖区")
    assert [c.code for c in courts] == ["360103", "420112"] and total == 2


async def test_list_courts_searches_the_chinese_name(session: AsyncSession) -> None:
    courts, total = await service.list_courts(session, q="西湖区")
    assert [c.code for c in courts] == ["330106", "360103", "420112"]
    assert total == 3


async def test_list_courts_searches_code_and_case_prefix(session: AsyncSession) -> None:
    by_code, _ = await service.list_courts(session, q="330106")
    assert [c.code for c in by_code] == ["330106"]
    by_prefix, total = await service.list_courts(session, q="浙01")
    assert by_prefix[0].code == "330100"
    assert total == 1 + 13  # 杭州中院 and its basic courts, 浙0102 … 浙0192


async def test_list_courts_filters_by_level_and_region_prefix(session: AsyncSession) -> None:
    high, total = await service.list_courts(session, level=CourtLevel.high, page_size=50)
    assert total == 31 and high[0].code == "110000"
    hangzhou, total = await service.list_courts(session, region="3301", page_size=50)
    assert hangzhou[0].code == "330100" and all(c.code.startswith("3301") for c in hangzhou)
    same, same_total = await service.list_courts(session, region="330100", page_size=50)
    assert [c.code for c in same] == [c.code for c in hangzhou] and same_total == total
    zhejiang_intermediate, total = await service.list_courts(
        session, region="33", level=CourtLevel.intermediate, page_size=50
    )
    assert total == 11


async def test_list_courts_pages_in_code_order(session: AsyncSession) -> None:
    first, total = await service.list_courts(session, page=1, page_size=3)
    second, _ = await service.list_courts(session, page=2, page_size=3)
    assert total == 3217
    assert [c.code for c in first] == ["000000", "110000", "110100"]
    assert [c.code for c in second] == ["110101", "110102", "110105"]


async def test_search_treats_like_wildcards_literally(session: AsyncSession) -> None:
    courts, total = await service.list_courts(session, q="%")
    assert courts == [] and total == 0
