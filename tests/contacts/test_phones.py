"""Phone numbers from customer files: formats, error codes, agreement with phonenumbers."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from interactive.contacts import phones
from interactive.contacts.phones import (
    ERROR_CODES,
    Parsed,
    country_of,
    error_message,
    normalise,
    timezone_for,
)

MOBILE = "+905321234567"


@pytest.mark.parametrize(
    "raw",
    [
        "0532 123 45 67",
        "05321234567",
        "+90 532 123 45 67",
        "+90 (532) 123-45-67",
        "905321234567",
        "00905321234567",
        "5321234567",
        "5321234567.0",
        "905321234567.0",
        "5321234567,0",
        "  0532 123 45 67  ",
        "\u00a00532\u00a0123\u00a045\u00a067\u00a0",
        "\t+90 532 123 45 67\n",
        "0532.123.45.67",
        "0532/123 45 67",
        "+90 (0) 532 123 45 67",
        "(0532) 123 45 67",
        "0532\u2013123\u201345\u201367",
    ],
)
def test_turkish_customer_formats_become_one_e164(raw: str) -> None:
    assert normalise(raw) == Parsed(MOBILE, None)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+49 30 123456", "+4930123456"),
        ("+1 415 555 2671", "+14155552671"),
        ("0049 30 123456", "+4930123456"),
        ("+44 20 7946 0000", "+442079460000"),
        ("+994 50 123 45 67", "+994501234567"),
        ("0212 123 45 67", "+902121234567"),
    ],
)
def test_foreign_and_landline_numbers(raw: str, e164: str) -> None:
    assert normalise(raw) == Parsed(e164, None)


def test_default_region_applies_to_national_numbers() -> None:
    assert normalise("030 123456", region="DE") == Parsed("+4930123456", None)
    assert normalise("(415) 555-2671", region="US") == Parsed("+14155552671", None)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\u00a0", "empty"),
        ("abc", "not_a_number"),
        ("0532 ABC 45 67", "not_a_number"),
        ("0532 123 45 67 (cep)", "not_a_number"),
        ("-", "not_a_number"),
        ("12", "too_short"),
        ("123", "too_short"),
        ("0123 456 78 90", "invalid_number"),
        ("0999 123 45 67", "invalid_number"),
        ("0532 123 45", "invalid_number"),
        ("+999 123 45 67", "invalid_country_code"),
        ("0532 123 45 67 89 01 23 45", "too_long"),
        ("5.32123E+09", "excel_scientific"),
        ("5,321234567E+09", "excel_scientific"),
    ],
)
def test_invalid_inputs_report_a_stable_code(raw: str, code: str) -> None:
    assert normalise(raw) == Parsed(None, code)


def test_every_error_code_has_an_english_message() -> None:
    assert {code for code in ERROR_CODES} >= {"empty", "not_a_number", "invalid_number"}
    for code in ERROR_CODES:
        assert str(error_message(code)).endswith(".")
    assert str(error_message("too_short")) == "The phone number is too short."
    with pytest.raises(KeyError):
        error_message("no_such_code")


@pytest.fixture
def no_slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str, region: str) -> Parsed:
        raise AssertionError(f"slow path taken for {text!r}")

    monkeypatch.setattr(phones, "_slow", refuse)


@pytest.mark.usefixtures("no_slow_path")
@pytest.mark.parametrize(
    "raw",
    [
        "0532 123 45 67",
        "+90 (532) 123-45-67",
        "905321234567",
        "00905321234567",
        "5321234567",
        "905321234567.0",
        "+49 30 123456",
    ],
)
def test_common_shapes_take_the_fast_path(raw: str) -> None:
    assert normalise(raw).e164 is not None


# ---- agreement with phonenumbers -------------------------------------------------------


def reference(raw: str, region: str = "TR") -> Parsed:
    """phonenumbers' verdict, after the documented pre-processing (strip, Excel ``.0``)."""
    text = raw.strip()
    if text[-2:] in (".0", ",0") and text[:-2].isdigit() and text.isascii():
        text = text[:-2]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return Parsed(None, "error")
    if not phonenumbers.is_valid_number(number):
        return Parsed(None, "error")
    return Parsed(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None)


def verdict(parsed: Parsed) -> Parsed:
    return parsed if parsed.e164 else Parsed(None, "error")


def turkish_nsns(count: int, seed: int) -> Iterator[str]:
    """10-digit national numbers, half behind real TR prefixes, half behind any prefix."""
    rnd = random.Random(seed)
    real = ["50", "53", "54", "55", "51", "56", "59", "21", "22", "31", "44", "80", "85", "90"]
    for n in range(count):
        head = rnd.choice(real) if n % 2 else f"{rnd.randrange(100):02d}"
        yield head + "".join(rnd.choices("0123456789", k=8))


def test_fast_validator_agrees_with_is_valid_number() -> None:
    rnd = random.Random(7)
    plans = [phones._plan(region) for region in sorted(phonenumbers.SUPPORTED_REGIONS)]
    checked = [plan for plan in plans if plan is not None]
    assert len(checked) > 100
    for plan in checked:
        lengths = [*plan.valid_by_length, min(plan.valid_by_length) - 1, plan.max_length + 1]
        for _ in range(1_000):
            length = rnd.choice(lengths)
            nsn = str(rnd.randrange(1, 10)) + "".join(rnd.choices("0123456789", k=length - 1))
            number = phonenumbers.PhoneNumber(country_code=int(plan.cc), national_number=int(nsn))
            assert plan.is_valid(nsn) == phonenumbers.is_valid_number(number), (plan.cc, nsn)
    # TR in depth, with the prefixes customer files hold.
    tr = phones._plan("TR")
    assert tr is not None
    for nsn in turkish_nsns(20_000, seed=3):
        number = phonenumbers.PhoneNumber(country_code=90, national_number=int(nsn))
        assert tr.is_valid(nsn) == phonenumbers.is_valid_number(number), nsn


SHAPES: list[Callable[[str], str]] = [
    lambda n: f"0{n[:3]} {n[3:6]} {n[6:8]} {n[8:]}",
    lambda n: f"0{n}",
    lambda n: f"+90 {n}",
    lambda n: f"+90 ({n[:3]}) {n[3:6]}-{n[6:8]}-{n[8:]}",
    lambda n: f"90{n}",
    lambda n: f"0090{n}",
    lambda n: n,
    lambda n: f"+900{n}",
    lambda n: f"90{n[:9]}",
    lambda n: f"90{n}1",
]


def test_every_shape_agrees_with_phonenumbers_on_a_sample() -> None:
    valid = 0
    for nsn in turkish_nsns(3_000, seed=11):
        for shape in SHAPES:
            raw = shape(nsn)
            assert verdict(normalise(raw)) == reference(raw), raw
        valid += reference(nsn).e164 is not None
    assert 500 < valid < 2_500  # the sample holds both kinds


def test_every_region_agrees_with_phonenumbers_on_a_sample() -> None:
    """Numbers written with and without country code and prefixes, in all 245 regions."""
    rnd = random.Random(13)
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    for _ in range(8_000):
        region = rnd.choice(regions)
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        assert meta is not None and meta.general_desc is not None
        cc = str(meta.country_code)
        head = rnd.choice(["", "+" + cc, cc, "00" + cc, meta.national_prefix or "0", cc + "0"])
        length = rnd.choice(meta.general_desc.possible_length or (9,)) + rnd.choice([-1, 0, 0, 1])
        raw = head + "".join(rnd.choices("0123456789", k=max(length, 1)))
        assert verdict(normalise(raw, region)) == reference(raw, region), (region, raw)


PHONE_TEXT = st.text(alphabet="0123456789+ -().", max_size=20)
PHONE_DIGITS = st.tuples(
    st.sampled_from(["", "+", "0", "00", "+90", "90", "0090", "+49", "+1", "+994"]),
    st.text(alphabet="0123456789", min_size=0, max_size=14),
).map("".join)


@settings(max_examples=1_500, deadline=None)
@given(raw=st.one_of(PHONE_TEXT, PHONE_DIGITS), region=st.sampled_from(["TR", "DE", "GB"]))
@example(raw="9005321234567", region="TR")
@example(raw="900532123456", region="TR")
@example(raw="908001234567", region="TR")
@example(raw="+250 06123456", region="TR")
def test_normalise_agrees_with_phonenumbers(raw: str, region: str) -> None:
    assert verdict(normalise(raw, region)) == reference(raw, region)


# ---- time zones and countries ----------------------------------------------------------


def test_turkish_numbers_are_in_istanbul_without_asking_phonenumbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
        raise AssertionError("phonenumbers asked for a single-zone country")

    monkeypatch.setattr(phones, "time_zones_for_number", refuse)
    assert timezone_for(MOBILE) == "Europe/Istanbul"
    assert timezone_for("+902121234567") == "Europe/Istanbul"
    assert timezone_for("+4930123456") == "Europe/Berlin"


def test_us_numbers_get_their_area_zone() -> None:
    assert timezone_for("+14155552671") == "America/Los_Angeles"
    assert timezone_for("+12125551234") == "America/New_York"


def test_ambiguous_zone_takes_the_first_real_one(monkeypatch: pytest.MonkeyPatch) -> None:
    toll_free = "+18005551234"
    zones = phonenumbers.timezone.time_zones_for_number(phonenumbers.parse(toll_free))
    assert len(zones) > 1
    assert timezone_for(toll_free) == zones[0]

    phones._number_zone.cache_clear()
    monkeypatch.setattr(
        phones,
        "time_zones_for_number",
        lambda number: ("Etc/Unknown", "Mars/Olympus", "Asia/Tokyo"),
    )
    assert timezone_for("+16505550100") == "Asia/Tokyo"
    phones._number_zone.cache_clear()


@pytest.mark.parametrize("e164", ["+80012345678", "+999123", "905321234567", "", "+"])
def test_unknown_zone_is_none(e164: str) -> None:
    assert timezone_for(e164) is None


@pytest.mark.parametrize(
    ("e164", "region"),
    [
        (MOBILE, "TR"),
        ("+14155552671", "US"),
        ("+14165550123", "CA"),
        ("+442079460000", "GB"),
        ("+77011234567", "KZ"),
        ("+80012345678", None),
        ("+999123", None),
        ("905321234567", None),
    ],
)
def test_country_of(e164: str, region: str | None) -> None:
    assert country_of(e164) == region
