"""Booking requests as customers text them, read by ``bookings.parsing.parse``: a table of
real-looking Turkish and English messages, bare answers to a question, changes inside a
dialogue, cancellations, the time-zone and weekday rules, hostile input, and property tests
that no text makes ``parse`` raise and that an exactly written request reads back exactly."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interactive.bookings.parsing import Field, Parsed, parse

TZ = "Europe/Istanbul"
# Thursday 10 December 2026, 14:00 in Istanbul.
RECEIVED = dt.datetime(2026, 12, 10, 11, 0, tzinfo=dt.UTC)


def d(day: int, month: int = 12, year: int = 2026) -> dt.date:
    return dt.date(year, month, day)


def t(hour: int, minute: int = 0) -> dt.time:
    return dt.time(hour, minute)


def read(text: str, expect: Field | None = None, received: dt.datetime = RECEIVED) -> Parsed:
    return parse(text, received_at=received, tz=TZ, expect=expect)


# (message, date, time, party, name, note)
CASES: list[tuple[str, dt.date | None, dt.time | None, int | None, str | None, str | None]] = [
    # Turkish, the way the keyword is used
    ("REZ yarın 20:00 4 kişi", d(11), t(20), 4, None, None),
    (
        "rez cuma aksam 8 de 2 kisilik Ahmet adına cam kenarı lütfen",
        d(11), t(20), 2, "Ahmet", "cam kenarı lütfen",
    ),
    ("REZERVASYON bugün 19.30 3 kişi", d(10), t(19, 30), 3, None, None),
    ("Rez öbür gün saat 20 5 kisi", d(12), t(20), 5, None, None),
    ("rez obur gun 20de 2 kisi", d(12), t(20), 2, None, None),
    ("REZ ÖBÜRGÜN 21'de 6 KİŞİ", d(12), t(21), 6, None, None),
    ("rez bu cuma 20.00 4 kişilik masa", d(11), t(20), 4, None, None),
    ("rez gelecek cuma 20:00 2 kişi", d(18), t(20), 2, None, None),
    ("rez haftaya cuma 19:00 2 kişi", d(18), t(19), 2, None, None),
    ("rez cumartesi 21:00 8 kişi", d(12), t(21), 8, None, None),
    ("REZ CUMARTESİ AKŞAM 9 4 KİŞİ", d(12), t(21), 4, None, None),
    ("rez pazar öğlen 6 kişi", d(13), t(12), 6, None, None),
    ("rez pazartesi 12.30 2 kişi", d(14), t(12, 30), 2, None, None),
    ("rez sali 20 00 2 kisi", d(15), t(20), 2, None, None),
    ("Salı 19:30 2 kişi", d(15), t(19, 30), 2, None, None),
    ("Rez çarşamba saat 8'de 3 kişi", d(16), t(20), 3, None, None),
    ("rez carsamba 8 buçuk 4 kişi", d(16), t(20, 30), 4, None, None),
    ("rez persembe 20:15 2 kisi", d(10), t(20, 15), 2, None, None),
    ("PAZARTESİ 20:00 3 KİŞİ", d(14), t(20), 3, None, None),
    ("cumaya 2 kişi akşam 8", d(11), t(20), 2, None, None),
    ("cuma günü 20:00 2 kişi", d(11), t(20), 2, None, None),
    ("cuma akşamı 8 gibi 5 kişi", d(11), t(20), 5, None, None),
    ("rez yarinki 20 de 2 kisi", d(11), t(20), 2, None, None),
    ("yarına 4 kişilik masa saat 21", d(11), t(21), 4, None, None),
    ("rez yarın akşam sekizde dört kişi", d(11), t(20), 4, None, None),
    ("yarın saat 8'de 4 kişiyiz", d(11), t(20), 4, None, None),
    ("biz 5 kişiyiz yarın 20:00", d(11), t(20), 5, None, None),
    ("Yarin 20 00 4 kisi", d(11), t(20), 4, None, None),
    ("YARIN 20:00 4 KISI", d(11), t(20), 4, None, None),
    ("ON KİŞİ YARIN 20:00", d(11), t(20), 10, None, None),
    ("on iki kişilik masa cumartesi 20:00", d(12), t(20), 12, None, None),
    ("yirmi kişi 31.12 21:00", d(31), t(21), 20, None, None),
    ("yarın öğleden sonra 3 te 2 kişi", d(11), t(15), 2, None, None),
    ("öğlen 1'de 4 kişi", None, t(13), 4, None, None),
    ("sabah 8 kahvaltı 2 kişi", None, t(8), 2, None, "kahvaltı"),
    ("gece 12 2 kişi", None, t(0), 2, None, None),
    ("sekizi çeyrek geçe 2 kişi", None, t(20, 15), 2, None, None),
    ("dokuza çeyrek var 2 kişi", None, t(20, 45), 2, None, None),
    ("bu akşam 3 kişi", d(10), None, 3, None, None),
    ("bu akşam 8'de 3 kişi", d(10), t(20), 3, None, None),
    ("saat 8’de 2 kişi", None, t(20), 2, None, None),
    ("saat 10'da 2 kişi", None, t(22), 2, None, None),
    ("akşam dokuzda 2 kişi", None, t(21), 2, None, None),
    ("rez yarın 10:30 brunch 2 kişi", d(11), t(10, 30), 2, None, "brunch"),
    ("REZ\nyarın\n20:00\n4 kişi\n", d(11), t(20), 4, None, None),
    # Turkish calendar dates
    ("12.12 20.00 4 kişi", d(12), t(20), 4, None, None),
    ("12/12/2026 saat 19:00 10 kişi", d(12), t(19), 10, None, None),
    ("12 Aralık 20:00 dört kişi", d(12), t(20), 4, None, None),
    ("12 aralik aksam 7 iki kisilik masa", d(12), t(19), 2, None, None),
    ("12 ARALIK 21:00 2 KİŞİ", d(12), t(21), 2, None, None),
    ("05.01 21:00 2 kişi", d(5, 1, 2027), t(21), 2, None, None),
    ("3 Ocak 2027 20:00", d(3, 1, 2027), t(20), None, None, None),
    ("12 Şub 20:00 2 kişi", d(12, 2, 2027), t(20), 2, None, None),
    ("29.02 20:00", d(29, 2, 2028), t(20), None, None, None),
    ("REZ 31.12.2026 22:00 4 KİŞİ", d(31), t(22), 4, None, None),
    ("2026-12-24 20:00 4 kişi", d(24), t(20), 4, None, None),
    ("ayın 15'i akşam 8 2 kişi", d(15), t(20), 2, None, None),
    ("rez 25 aralık akşam 9 da 6 kişi Zeynep adına", d(25), t(21), 6, "Zeynep", None),
    # names and notes
    ("rez 24.12 20:00 12 kişi şirket yemeği", d(24), t(20), 12, None, "şirket yemeği"),
    ("4 kişi + 1 bebek yarın 19:00", d(11), t(19), 4, None, "1 bebek"),
    ("yarın 20:00 iki kişilik masa doğum günü için", d(11), t(20), 2, None, "doğum günü için"),
    ("yarın 20:00 4 kişi cam kenarı olursa sevinirim", d(11), t(20), 4, None,
     "cam kenarı olursa sevinirim"),
    ("yarın 20:00 4 kişi lütfen teşekkürler", d(11), t(20), 4, None, None),
    ("🎉🎉 yarın 20:00 4 kişi 🎂 doğum günü", d(11), t(20), 4, None, "🎉🎉 🎂 doğum günü"),
    (
        "merhaba yarın akşam için 4 kişilik rezervasyon yapmak istiyorum adım Ayşe",
        d(11), None, 4, "Ayşe", None,
    ),
    ("ismim Ali yarın 21:00 2 kişi", d(11), t(21), 2, "Ali", None),
    ("Ahmet Yılmaz adına yarın 20:00 4 kişi", d(11), t(20), 4, "Ahmet Yılmaz", None),
    ("AHMET YILMAZ ADINA YARIN 20:00 4 KİŞİ", d(11), t(20), 4, "AHMET YILMAZ", None),
    ("Can Yılmaz adına yarın 2 kişi", d(11), None, 2, "Can Yılmaz", None),
    ("ahmet'in adına yarın 2 kişi", d(11), None, 2, "ahmet", None),
    (
        "Yarın akşam 7'de 2 kişi için yer ayırtmak istiyorum. Mehmet",
        d(11), t(19), 2, None, "Mehmet",
    ),
    # English
    ("Booking for 4 tomorrow at 8pm name John", d(11), t(20), 4, "John", None),
    ("Dec 12 at 7:30pm for 6 people", d(12), t(19, 30), 6, None, None),
    ("Table for two tomorrow 8pm", d(11), t(20), 2, None, None),
    ("tomorrow half past 7 table for 4", d(11), t(19, 30), 4, None, None),
    ("next Friday at 8 for 3, name Smith", d(18), t(20), 3, "Smith", None),
    ("book a table for 4 this saturday at 7pm please", d(12), t(19), 4, None, None),
    ("Hi, I'd like to book a table for 5 tonight at 9", d(10), t(21), 5, None, None),
    ("Reservation under the name Smith for 2 on Dec 24 at 8", d(24), t(20), 2, "Smith", None),
    ("name Ali, 3 people tomorrow 19:00", d(11), t(19), 3, "Ali", None),
    ("tonight at 9 for 2", d(10), t(21), 2, None, None),
    ("december 12th 8:30pm", d(12), t(20, 30), None, None, None),
    ("12th of December at 19:00", d(12), t(19), None, None, None),
    ("on the 15th at 8pm 2 people", d(15), t(20), 2, None, None),
    ("Booking for John tomorrow 8pm 2 people", d(11), t(20), 2, "John", None),
    ("TOMORROW 8 PM 4 PEOPLE", d(11), t(20), 4, None, None),
    ("4 pax friday 20:30", d(11), t(20, 30), 4, None, None),
    ("8am breakfast for 2", None, t(8), 2, None, "breakfast"),
    ("party of 6 on Saturday at noon", d(12), t(12), 6, None, None),
    ("we are 3, sunday 1pm", d(13), t(13), 3, None, None),
    ("quarter past 8 tomorrow", d(11), t(20, 15), None, None, None),
    ("table for 2 next Mon 7 pm", d(14), t(19), 2, None, None),
    ("Dec 31, 2026 at 9pm for four", d(31), t(21), 4, None, None),
    ("can I book a table for 4 tomorrow at 8", d(11), t(20), 4, None, None),
    # fields missing
    ("yarın 20:00", d(11), t(20), None, None, None),
    ("4 kişi", None, None, 4, None, None),
    ("cuma", d(11), None, None, None, None),
    ("12.30 4 kişi", None, t(12, 30), 4, None, None),
    ("yarın 8 4 kişi", d(11), t(20), 4, None, None),
    ("yarın 20 4 kişi", d(11), t(20), 4, None, None),
    ("yarın 20:00 4", d(11), t(20), 4, None, None),
    # changes inside a dialogue
    ("saati 21 yap", None, t(21), None, None, None),
    ("4 değil 6 kişi", None, None, 6, None, None),
    ("yarın değil cumartesi", d(12), None, None, None, None),
    ("saat 8 değil 9 olsun", None, t(21), None, None, None),
    ("20:00 değil 21:00", None, t(21), None, None, None),
    ("kişi sayısını 6 yap", None, None, 6, None, None),
    ("6 people instead of 4", None, None, 6, None, None),
    ("not 4 but 6 people", None, None, 6, None, None),
    ("make it 9pm", None, t(21), None, None, None),
    ("cam kenarı olsun", None, None, None, None, "cam kenarı"),
    # nothing a booking needs
    ("", None, None, None, None, None),
    ("???", None, None, None, None, None),
    ("merhaba", None, None, None, None, None),
    ("asdfgh qwerty", None, None, None, None, "asdfgh qwerty"),
    ("3", None, None, None, None, "3"),
    ("bir de cam kenarı olsun", None, None, None, None, "cam kenarı"),
    ("iki kişi daha gelecek", None, None, None, None, "iki kişi daha gelecek"),
    ("ona söyleyin yarın 4 kişi", d(11), None, 4, None, "ona söyleyin"),
    ("31.11 20:00", None, t(20), None, None, "31.11"),
    ("20-21 arası 4 kişi", None, None, 4, None, "20-21 arası"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "date", "time", "party", "name", "note"), CASES)
def test_request(
    text: str,
    date: dt.date | None,
    time: dt.time | None,
    party: int | None,
    name: str | None,
    note: str | None,
) -> None:
    parsed = read(text)
    found = (parsed.date, parsed.time, parsed.party, parsed.name, parsed.note)
    assert found == (date, time, party, name, note)


# A bare answer to the question the customer was just asked.
ANSWERS: list[tuple[str, Field, Field, object]] = [
    ("3", Field.PARTY, Field.PARTY, 3),
    ("üç", Field.PARTY, Field.PARTY, 3),
    ("3 kişi", Field.TIME, Field.PARTY, 3),
    ("20:30", Field.TIME, Field.TIME, t(20, 30)),
    ("20", Field.TIME, Field.TIME, t(20)),
    ("8", Field.TIME, Field.TIME, t(20)),
    ("sekiz", Field.TIME, Field.TIME, t(20)),
    ("12.12", Field.TIME, Field.TIME, t(12, 12)),
    ("12.12", Field.DATE, Field.DATE, d(12)),
    ("yarın", Field.DATE, Field.DATE, d(11)),
    ("15", Field.DATE, Field.DATE, d(15)),
    ("5", Field.DATE, Field.DATE, d(5, 1, 2027)),
    ("Ahmet Yılmaz", Field.NAME, Field.NAME, "Ahmet Yılmaz"),
    ("Ayşe lütfen", Field.NAME, Field.NAME, "Ayşe"),
]


@pytest.mark.parametrize(("text", "expect", "field", "value"), ANSWERS)
def test_bare_answer(text: str, expect: Field, field: Field, value: object) -> None:
    parsed = read(text, expect)
    assert parsed.value(field) == value
    assert parsed.found == {field}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("20:00", Field.TIME),
        ("20.00", Field.TIME),
        ("akşam 8", Field.TIME),
        ("8pm", Field.TIME),
        ("12.12.2026", Field.DATE),
        ("yarın", Field.DATE),
        ("4 kişi", Field.PARTY),
        ("dört kişi", Field.PARTY),
        ("table for two", Field.PARTY),
        ("Ahmet adına", Field.NAME),
    ],
)
def test_exact_forms_are_certain(text: str, field: Field) -> None:
    assert read(text).confidence[field] == 1.0


@pytest.mark.parametrize(
    ("text", "field", "expect"),
    [
        ("saat 8'de", Field.TIME, None),
        ("8 buçuk", Field.TIME, None),
        ("8", Field.TIME, Field.TIME),
        ("yarın 20", Field.TIME, None),
        ("12.12", Field.DATE, None),
        ("gelecek cuma", Field.DATE, None),
        ("for 4", Field.PARTY, None),
        ("gece 12", Field.TIME, None),
        ("Booking for John", Field.NAME, None),
    ],
)
def test_guesses_are_less_certain(text: str, field: Field, expect: Field | None) -> None:
    assert 0 < read(text, expect).confidence[field] < 1.0


def test_a_bare_hour_is_less_certain_than_an_exact_one() -> None:
    bare, exact = read("8", Field.TIME), read("20", Field.TIME)
    assert bare.confidence[Field.TIME] < exact.confidence[Field.TIME]


def test_two_values_for_one_field_keep_the_first_with_low_confidence() -> None:
    parsed = read("20:00 veya 21:00")
    assert parsed.time == t(20)
    assert parsed.confidence[Field.TIME] <= 0.5
    assert parsed.note is None


def test_confidence_is_given_for_exactly_the_fields_found() -> None:
    parsed = read("rez yarın 20:00 4 kişi Ahmet adına cam kenarı")
    assert set(parsed.confidence) == parsed.found == set(Field)


# --- Keyword and cancel --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("REZ yarın 20:00", "REZ"),
        ("rez: yarın 20:00", "rez"),
        ("REZERVASYON yarın", "REZERVASYON"),
        ("Booking for 2 tomorrow", "Booking"),
        ("İPTAL REZ", "REZ"),
        ("yarın 20:00 rez", None),
    ],
)
def test_leading_keyword_is_removed(text: str, keyword: str | None) -> None:
    parsed = read(text)
    assert parsed.keyword == keyword
    assert parsed.note is None


@pytest.mark.parametrize(
    ("text", "cancel"),
    [
        ("IPTAL REZ", True),
        ("iptal", True),
        ("İptal", True),
        ("rezervasyonumu iptal etmek istiyorum", True),
        ("Yarınki rezervasyonu iptal edin lütfen", True),
        ("cancel my booking", True),
        ("Cancel", True),
        ("iptal etmeyin, geliyoruz", False),
        ("please don't cancel", False),
        ("REZ yarın 20:00 4 kişi", False),
    ],
)
def test_cancel(text: str, cancel: bool) -> None:
    assert read(text).cancel is cancel


def test_cancel_leaves_nothing_else() -> None:
    parsed = read("IPTAL REZ")
    assert parsed.found == frozenset()
    assert parsed.cancel


def test_cancel_keeps_the_booking_it_names() -> None:
    parsed = read("Yarınki rezervasyonu iptal edin lütfen")
    assert (parsed.date, parsed.note) == (d(11), None)


# --- Changes -------------------------------------------------------------------------------------


def test_a_change_replaces_only_what_it_says() -> None:
    earlier = read("REZ yarın 20:00 4 kişi Ahmet adına cam kenarı")
    changed = earlier.combined(read("saati 21 yap")).combined(read("4 değil 6 kişi"))
    assert (changed.date, changed.time, changed.party, changed.name, changed.note) == (
        d(11),
        t(21),
        6,
        "Ahmet",
        "cam kenarı",
    )
    assert changed.confidence[Field.TIME] == 1.0


def test_combined_takes_the_confidence_of_the_change() -> None:
    earlier = read("REZ yarın 20:00 4 kişi")
    assert earlier.combined(read("9", Field.TIME)).confidence[Field.TIME] < 1.0


def test_notes_add_up_and_cancel_sticks() -> None:
    earlier = read("REZ yarın 20:00 4 kişi cam kenarı")
    changed = earlier.combined(read("doğum günü")).combined(read("iptal"))
    assert changed.note == "cam kenarı; doğum günü"
    assert changed.cancel
    assert changed.keyword == "REZ"


# --- Time zone and calendar rules ----------------------------------------------------------------


def test_relative_days_count_in_the_venue_zone() -> None:
    late = dt.datetime(2026, 12, 10, 22, 30, tzinfo=dt.UTC)  # 01:30 on the 11th in Istanbul
    assert read("bugün", received=late).date == d(11)
    assert read("yarın", received=late).date == d(12)
    assert parse("yarın", received_at=late, tz="UTC").date == d(11)


def test_zone_may_be_given_as_zoneinfo_and_naive_means_utc() -> None:
    naive = RECEIVED.replace(tzinfo=None)
    zone = ZoneInfo(TZ)
    assert parse("yarın", received_at=naive, tz=zone).date == d(11)
    late_naive = dt.datetime(2026, 12, 10, 22, 30, tzinfo=dt.UTC).replace(tzinfo=None)
    assert parse("bugün", received_at=late_naive, tz=zone).date == d(11)


def test_a_past_time_today_is_still_today() -> None:
    parsed = read("bugün 09:00")  # received at 14:00
    assert (parsed.date, parsed.time) == (d(10), t(9))


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("10.12", d(10)),  # today
        ("09.12", d(9, 12, 2027)),  # passed this year
        ("12.12.2020", d(12, 12, 2020)),  # a year is taken as written
        ("12/12/26", d(12)),
    ],
)
def test_day_and_month_without_year(text: str, date: dt.date) -> None:
    assert read(text).date == date


FRIDAY = dt.datetime(2026, 12, 11, 9, 0, tzinfo=dt.UTC)
MONDAY = dt.datetime(2026, 12, 14, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("received", "text", "date"),
    [
        (FRIDAY, "cuma", d(11)),
        (FRIDAY, "bu cuma", d(11)),
        (FRIDAY, "gelecek cuma", d(18)),
        (FRIDAY, "next Friday", d(18)),
        (FRIDAY, "cumartesi", d(12)),
        (FRIDAY, "CUMARTESİ", d(12)),
        (MONDAY, "cuma", d(18)),
        (MONDAY, "önümüzdeki cuma", d(18)),
        (MONDAY, "haftaya cuma", d(25)),
        (MONDAY, "next Friday", d(25)),
        (MONDAY, "pazartesi", d(14)),
        (MONDAY, "haftaya bugün", d(21)),
    ],
)
def test_weekdays(received: dt.datetime, text: str, date: dt.date) -> None:
    assert read(text, received=received).date == date


def test_todays_weekday_is_today_but_less_certain() -> None:
    parsed = read("cuma", received=FRIDAY)
    assert parsed.confidence[Field.DATE] < 1.0


# --- Hostile input -------------------------------------------------------------------------------

_rng = random.Random(20261210)
HOSTILE = [
    "a" * 50_000,
    "1" * 50_000,
    "1." * 25_000,
    "8'" * 25_000,
    "aksam" * 10_000,
    "saat 8 " * 7_000,
    "on bir " * 7_000,
    "12.12 " * 8_000,
    "4 değil " * 7_000,
    "Ahmet Mehmet Ali adına " * 2_000,
    "REZ yarın 20:00 4 kişi cam kenarı " * 1_500,
    "🎉\u200f\u202e" * 15_000,
    "".join(chr(_rng.randrange(0x3000)) for _ in range(50_000)),
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda text: f"{text[:12]!r}x{len(text)}")
def test_hostile_input_is_read_without_error(text: str) -> None:
    assert isinstance(read(text), Parsed)


def test_control_characters_and_direction_marks_are_ignored() -> None:
    parsed = read("\x00\u202eyarın\u200f 20:00\x1b \u200b4 kişi\u2066 cam kenarı\x07")
    assert (parsed.date, parsed.time, parsed.party, parsed.note) == (
        d(11),
        t(20),
        4,
        "cam kenarı",
    )


def test_full_width_and_other_digits_are_read() -> None:
    parsed = read("ＲＥＺ yarın ２０:００ ٤ kişi")
    assert (parsed.keyword, parsed.time, parsed.party) == ("REZ", t(20), 4)


# --- Properties ----------------------------------------------------------------------------------

FRAGMENTS = [
    "REZ", "yarın", "20:00", "4", "kişi", "saat", "8'de", "akşam", "cuma", "12.12", "12",
    "Aralık", "for", "Ahmet", "adına", "name", "buçuk", "değil", "iptal", "+", "1", "bebek",
    ":", ".", "/", "half past", "pm", "gece", "öğlen", "🎉", "\u202e", "İ", "ı", "table",
    "next", "gelecek", "on", "bir", "de", "'", "29.02", "0", "00", "99", "31.12.9999",
]  # fmt: skip
MESSAGES = st.one_of(
    st.text(),
    st.lists(st.sampled_from(FRAGMENTS), max_size=25).map(" ".join),
    st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(
    text=MESSAGES,
    expect=st.none() | st.sampled_from(list(Field)),
    received=st.datetimes(timezones=st.just(dt.UTC)),
)
def test_any_text_gives_a_well_formed_result(
    text: str, expect: Field | None, received: dt.datetime
) -> None:
    parsed = parse(text, received_at=received, tz=TZ, expect=expect)
    assert set(parsed.confidence) == parsed.found
    assert all(0 < confidence <= 1 for confidence in parsed.confidence.values())
    assert parsed.party is None or 1 <= parsed.party <= 999
    for value in (parsed.name, parsed.note):
        assert value is None or (value.strip() == value and value)


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)),
    at=st.times(),
    party=st.integers(min_value=1, max_value=999),
)
def test_an_exactly_written_request_reads_back_exactly(
    day: dt.date, at: dt.time, party: int
) -> None:
    at = at.replace(second=0, microsecond=0)
    parsed = read(f"REZ {day:%d.%m.%Y} {at:%H:%M} {party} kişi")
    assert (parsed.date, parsed.time, parsed.party) == (day, at, party)
    assert set(parsed.confidence.values()) == {1.0}
