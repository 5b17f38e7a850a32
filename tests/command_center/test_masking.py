"""Personal identifiers are masked in audit details, events and logs; the record itself keeps them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from command_center.masking import (
    credit_code_is_valid,
    id_number_is_valid,
    jsonable,
    mask_account,
    mask_credit_code,
    mask_data,
    mask_id_number,
    mask_phone,
    mask_text,
)

# Resident ID numbers with correct GB 11643 check characters (one ends in X).
ID_XIHU = "330106198506153212"
ID_BEIJING = "11010519491231002X"
ID_CHENGDU = "510107197811034565"
# Unified social credit codes with correct GB 32100 check characters.
USCC_FUZHOU = "91350100M000100Y43"
USCC_XIHU = "91330106MA27XL9X1N"
# Bank card numbers (Luhn-valid) of 19 and 16 digits.
CARD_19 = "6222021202041234569"
CARD_16 = "6217001234567893"
MOBILE = "13812345678"


def test_sample_identifiers_carry_valid_check_characters() -> None:
    assert all(id_number_is_valid(v) for v in (ID_XIHU, ID_BEIJING, ID_CHENGDU))
    assert all(credit_code_is_valid(v) for v in (USCC_FUZHOU, USCC_XIHU))
    assert not id_number_is_valid("330106198506153213")
    assert not credit_code_is_valid("91350100M000100Y44")


def test_id_number_keeps_first_four_and_last_four() -> None:
    assert mask_id_number("330106199001011234") == "3301**********1234"
    assert mask_id_number(ID_BEIJING) == "1101**********002X"


def test_credit_code_keeps_first_four_and_last_four() -> None:
    assert mask_credit_code(USCC_XIHU) == "9133**********9X1N"


def test_account_keeps_only_the_last_four_digits() -> None:
    assert mask_account(CARD_19) == "*" * 15 + "4569"
    assert mask_account("6217 0012 3456 7893") == "**** **** **** 7893"


def test_phone_keeps_first_three_and_last_four() -> None:
    assert mask_phone(MOBILE) == "138****5678"
    assert mask_phone("+86 138 1234 5678") == "+86 138 **** 5678"
    assert mask_phone("0571-87654321") == "057*-****4321"


def test_short_values_are_masked_whole() -> None:
    assert mask_account("123") == "***"
    assert mask_id_number("1234567") == "*******"


def test_text_masks_every_identifier_next_to_chinese_text() -> None:
    text = (
        f"被执行人张三,身份证号{ID_XIHU},联系电话{MOBILE};"
        f"被执行人某公司(统一社会信用代码{USCC_FUZHOU})在工商银行账户{CARD_19}存款已冻结。"
    )
    masked = mask_text(text)
    assert ID_XIHU not in masked and "3301**********3212" in masked
    assert MOBILE not in masked and "138****5678" in masked
    assert USCC_FUZHOU not in masked and "9135**********0Y43" in masked
    assert CARD_19 not in masked and "*" * 15 + "4569" in masked
    assert masked.startswith("被执行人张三,身份证号")


def test_text_masks_grouped_and_prefixed_numbers() -> None:
    masked = mask_text("card 6217 0012 3456 7893, tel +86 138-1234-5678, id 11010519491231002x.")
    assert masked == "card **** **** **** 7893, tel +86 138-****-5678, id 1101**********002x."


def test_eighteen_digits_that_fail_the_id_check_are_masked_as_an_account() -> None:
    assert mask_text("acct 622202120204123456 ok") == "acct " + "*" * 14 + "3456 ok"


def test_text_leaves_dates_amounts_case_numbers_and_digests_alone() -> None:
    text = (
        "(2024)浙0106执1234号 filed 2024-03-15 for 1250000 fen; "
        "digest 3f2a9c0d8e7b6a5f4e3d2c1b0a998877665544332211ffeeddccbbaa00112233"
    )
    assert mask_text(text) == text


def test_data_masks_identifier_keys_whatever_their_shape() -> None:
    data = {
        "respondent": {"name": "李四", "id_number": "3301-0619-8506", "phone": 13812345678},
        "bank_account": CARD_16,
        "accountNumber": "ACC-778899001122",
        "credit_code": "not-a-code-12345",
        "respondents": [{"idNumber": ID_CHENGDU}, {"mobile": "139 0000 1111"}],
        "note": f"冻结账户{CARD_19}",
        "amount_fen": 1_250_000,
        "ok": True,
        "missing": None,
    }
    masked = mask_data(data)
    assert masked["respondent"] == {"name": "李四", "id_number": "3301******8506", "phone": "138****5678"}
    assert masked["bank_account"] == "************7893"
    assert masked["accountNumber"].endswith("1122") and "77889900" not in masked["accountNumber"]
    assert masked["credit_code"] == "not-********2345"
    assert masked["respondents"] == [{"idNumber": "5101**********4565"}, {"mobile": "139 **** 1111"}]
    assert masked["note"] == "冻结账户" + "*" * 15 + "4569"
    assert (masked["amount_fen"], masked["ok"], masked["missing"]) == (1_250_000, True, None)
    assert data["bank_account"] == CARD_16  # the input is not changed


def test_data_key_matching_uses_whole_words() -> None:
    masked = mask_data({"hotel": "Westlake", "telephone": "0571-87654321", "account_count": 3})
    assert masked == {"hotel": "Westlake", "telephone": "057*-****4321", "account_count": 3}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "2025-01-02T03:04:05+00:00"),
        (date(2025, 1, 2), "2025-01-02"),
        ((1, "a"), [1, "a"]),
        ({1: float("nan")}, {"1": "nan"}),
    ],
)
def test_jsonable_turns_values_into_plain_json(value: object, expected: object) -> None:
    assert jsonable(value) == expected
