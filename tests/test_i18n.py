"""Every user-facing text is in the Turkish and English catalogues, and the compiled
catalogues are up to date."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "interactive" / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
METHODS = [
    ("interactive/**.py", "python"),
    ("interactive/**/templates/**.html", "jinja2"),
]


def _source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), METHODS, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalogue(locale: str, kind: str = "po") -> dict[str, str]:
    path = TRANSLATIONS / locale / "LC_MESSAGES" / f"messages.{kind}"
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale=locale) if kind == "po" else read_mo(handle)
    entries: dict[str, str] = {}
    for m in catalogue:
        if not m.id:
            continue
        msgid = m.id if isinstance(m.id, str) else m.id[0]
        msgstr = m.string if isinstance(m.string, str) else (m.string or ("",))[0]
        entries[msgid] = msgstr or ""
    return entries


def test_source_has_messages() -> None:
    assert "Sign in" in _source_messages()


@pytest.mark.parametrize("locale", ["tr", "en"])
def test_catalogue_has_every_message(locale: str) -> None:
    missing = _source_messages() - set(_catalogue(locale))
    assert not missing, f"run scripts/update_translations.sh; missing in {locale}: {missing}"


@pytest.mark.parametrize("locale", ["tr", "en"])
def test_catalogue_is_not_fuzzy(locale: str) -> None:
    # pybabel compile skips a catalogue whose header is fuzzy: no translation at all.
    path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        assert not read_po(handle, locale=locale).fuzzy


def test_turkish_is_translated() -> None:
    untranslated = sorted(k for k, v in _catalogue("tr").items() if not v)
    assert not untranslated, f"untranslated Turkish messages: {untranslated}"


@pytest.mark.parametrize("locale", ["tr", "en"])
def test_compiled_catalogue_is_current(locale: str) -> None:
    po = _catalogue(locale)
    mo = {k: v for k, v in _catalogue(locale, "mo").items() if k}
    translated = {k: v for k, v in po.items() if v}
    assert set(mo) <= set(po), "run scripts/update_translations.sh to recompile"
    assert {k: mo.get(k) for k in translated} == translated, "run scripts/update_translations.sh"


def test_placeholders_survive_translation() -> None:
    import re

    placeholder = re.compile(r"%\(\w+\)[sd]")
    for msgid, msgstr in _catalogue("tr").items():
        assert sorted(placeholder.findall(msgid)) == sorted(placeholder.findall(msgstr)), msgid
