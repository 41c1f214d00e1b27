"""Campaign texts: the sandboxed template, per-recipient short links, the opt-out footer,
sender IDs, and what a text will cost.

A template is Jinja in a sandbox: ``{{ first_name | default("Değerli müşterimiz") }}``.
Variables are the contact's ``first_name``, ``last_name``, ``name``, ``phone`` and every
declared attribute key; a missing value renders as nothing (or the ``default``). Unknown
variables and bad syntax are found by :func:`check_template` before a campaign can be
scheduled.

Every ``http(s)://`` or ``www.`` URL of the rendered text is replaced by a short link of
its own for each recipient, unless written ``{{ keep("https://…") }}``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from interactive.outbound.encoding import SegmentCount, count_segments

BUILT_IN_VARIABLES = ("first_name", "last_name", "name", "phone")

# Around a URL the template asked to keep as written.
_KEEP_OPEN, _KEEP_CLOSE = "\x02", "\x03"
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'\x02\x03]+", re.IGNORECASE)
_KEPT_OR_URL = re.compile(r"\x02([^\x03]*)\x03|(?:https?://|www\.)[^\s<>\"'\x02\x03]+", re.I)
# Punctuation that ends a sentence rather than the URL.
_TRAILING = ".,;:!?)]}'\""

#: Characters Turkish operators append to alphanumeric-sender bulk SMS (" B001").
OPERATOR_CODE = " B001"

_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 .\-&_]{1,11}$")
_NUMERIC_SENDER = re.compile(r"^\+?\d{3,15}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class TemplateError(ValueError):
    """A template that cannot be used, with a message for the person who wrote it."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _keep(url: object) -> str:
    return f"{_KEEP_OPEN}{url}{_KEEP_CLOSE}"


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
    env.globals = {"keep": _keep}
    return env


_ENV = _environment()


@dataclass(frozen=True)
class Template:
    source: str
    compiled: jinja2.Template

    def render(self, variables: Mapping[str, Any]) -> str:
        """The text for one recipient (URLs not yet replaced). TemplateError on a
        failure at render time (e.g. a filter given the wrong type)."""
        try:
            return self.compiled.render(variables)
        except jinja2.TemplateError as exc:
            raise TemplateError(str(exc)) from exc
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise TemplateError(str(exc)) from exc


def compile_template(source: str, known: Iterable[str]) -> Template:
    """Parse and check a template; TemplateError names the first problem (bad syntax with
    its line, or a variable that no contact has)."""
    check_template(source, known)
    return Template(source, _ENV.from_string(source))


@functools.lru_cache(maxsize=512)
def saved_template(source: str) -> Template:
    """A template checked when it was saved (keyword replies, brand texts), compiled once
    per process; a variable a contact lacks renders empty (or its ``default``)."""
    try:
        return Template(source, _ENV.from_string(source))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or str(exc), exc.lineno) from exc


def check_template(source: str, known: Iterable[str]) -> None:
    try:
        tree = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or str(exc), exc.lineno) from exc
    unknown = sorted(meta.find_undeclared_variables(tree) - set(known) - set(_ENV.globals))
    if unknown:
        raise TemplateError(f"unknown variable: {unknown[0]}")


def variables_of(contact: Mapping[str, Any]) -> dict[str, Any]:
    """Template variables from a contact's columns (``first_name``, ``last_name``,
    ``phone``, ``attributes``); empty values are left out so ``default`` applies."""
    values: dict[str, Any] = {}
    attributes = contact.get("attributes") or {}
    for key, value in attributes.items():
        if value not in (None, ""):
            values[key] = value
    for key in ("first_name", "last_name", "phone"):
        value = contact.get(key)
        if value:
            values[key] = value
    name = " ".join(v for v in (contact.get("first_name"), contact.get("last_name")) if v)
    if name:
        values["name"] = name
    return values


def find_urls(text: str) -> list[str]:
    """The URLs that would be shortened, in order of appearance, each once."""
    seen: dict[str, None] = {}
    for match in _KEPT_OR_URL.finditer(text):
        if match.group(1) is None:
            seen.setdefault(_trim(match.group(0))[0], None)
    return list(seen)


def replace_urls(text: str, shorten: Callable[[str], str] | None) -> str:
    """Put short links in place of the URLs (``shorten(url) -> short URL``; None keeps
    every URL as written) and drop the markers of kept URLs."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1)
        url, tail = _trim(match.group(0))
        return (shorten(url) if shorten else url) + tail

    return _KEPT_OR_URL.sub(one, text)


def _trim(url: str) -> tuple[str, str]:
    end = len(url)
    while end > 0 and url[end - 1] in _TRAILING:
        # A closing bracket that has its opening one inside the URL belongs to it.
        if url[end - 1] == ")" and url.count("(", 0, end) >= url.count(")", 0, end):
            break
        end -= 1
    return url[:end], url[end:]


_SCHEME = re.compile(r"https?://", re.I)


def full_url(url: str) -> str:
    """``www.example.com`` → ``https://www.example.com`` (a link target needs a scheme)."""
    return url if _SCHEME.match(url) else f"https://{url}"


def with_footer(text: str, footer: str) -> str:
    if not footer:
        return text
    return f"{text.rstrip()}\n{footer}" if text.strip() else footer


def check_sender(sender: str) -> str | None:
    """Why a sender ID cannot be used, or None: alphanumeric up to 11 characters (at least
    one letter), or a number / short code of 3 to 15 digits."""
    if _ALPHANUMERIC_SENDER.match(sender) or _NUMERIC_SENDER.match(sender):
        return None
    if len(sender) > 11 and not sender.lstrip("+").isdigit():
        return "too_long"
    return "invalid"


def is_e164(phone: str) -> bool:
    return bool(_E164.match(phone))


def is_alphanumeric(sender: str) -> bool:
    return not _NUMERIC_SENDER.match(sender)


@dataclass(frozen=True)
class Cost:
    count: SegmentCount
    # Characters counted but not written by us (the operator code).
    reserved: int
    price_per_part: Decimal
    currency: str

    @property
    def per_message(self) -> Decimal:
        return self.price_per_part * self.count.parts


def cost_of(
    text: str,
    *,
    turkish_shift: bool,
    reserve_operator_code: bool,
    price_per_part: Decimal,
    currency: str,
) -> Cost:
    """Encoding, parts and price of one text; on routes where the operator appends its
    code, the code's characters are counted (never added to the text)."""
    counted = text + OPERATOR_CODE if reserve_operator_code else text
    return Cost(
        count_segments(counted, turkish_shift),
        len(OPERATOR_CODE) if reserve_operator_code else 0,
        price_per_part,
        currency,
    )


def placeholder_short_url(base: str, code_length: int = 10) -> str:
    """A short link of the length real ones will have, for previews and estimates."""
    return f"{base.rstrip('/')}/{'x' * code_length}"


def sample_variables(samples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [variables_of(s) for s in samples]
