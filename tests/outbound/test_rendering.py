"""Campaign texts: the sandboxed template, URLs, footer, sender IDs, cost."""

from __future__ import annotations

from decimal import Decimal

import pytest

from interactive.outbound import rendering


def test_variables_default_and_missing_values() -> None:
    template = rendering.compile_template(
        "Merhaba {{ first_name | default('Değerli müşterimiz') }}, {{ sehir }}!",
        [*rendering.BUILT_IN_VARIABLES, "sehir"],
    )
    contact = {"first_name": None, "phone": "+905321234567", "attributes": {"sehir": "İzmir"}}
    assert template.render(rendering.variables_of(contact)) == "Merhaba Değerli müşterimiz, İzmir!"
    named = {"first_name": "Ayşe", "last_name": "Yılmaz", "attributes": {}}
    assert template.render(rendering.variables_of(named)) == "Merhaba Ayşe, !"


def test_unknown_variables_and_bad_syntax_are_named() -> None:
    with pytest.raises(rendering.TemplateError, match="unknown variable: nick"):
        rendering.check_template("Selam {{ nick }}", rendering.BUILT_IN_VARIABLES)
    with pytest.raises(rendering.TemplateError) as caught:
        rendering.check_template("Satır bir\n{% if first_name %}", rendering.BUILT_IN_VARIABLES)
    assert caught.value.line == 2


def test_the_sandbox_refuses_python_internals() -> None:
    template = rendering.compile_template(
        "{{ first_name.__class__.__mro__ }}", rendering.BUILT_IN_VARIABLES
    )
    with pytest.raises(rendering.TemplateError):
        template.render({"first_name": "x"})


def test_urls_are_found_trimmed_and_kept_when_asked() -> None:
    text = rendering.compile_template(
        "Bak: https://a.example/x?y=1. Ve www.b.example/(c), {{ keep('https://c.example') }}",
        rendering.BUILT_IN_VARIABLES,
    ).render({})
    assert rendering.find_urls(text) == ["https://a.example/x?y=1", "www.b.example/(c)"]
    short = {
        "https://a.example/x?y=1": "https://k.example/AAA",
        "www.b.example/(c)": "https://k.example/BBB",
    }
    assert (
        rendering.replace_urls(text, short.__getitem__)
        == "Bak: https://k.example/AAA. Ve https://k.example/BBB, https://c.example"
    )
    assert rendering.full_url("www.b.example") == "https://www.b.example"


@pytest.mark.parametrize(
    ("sender", "problem"),
    [
        ("ACME", None),
        ("Acme Shop 1", None),
        ("4664", None),
        ("+905321234567", None),
        ("ACMESHOPPING1", "too_long"),
        ("Çiçek", "invalid"),
        ("", "invalid"),
    ],
)
def test_sender_ids(sender: str, problem: str | None) -> None:
    assert rendering.check_sender(sender) == problem


def test_cost_budgets_the_operator_code() -> None:
    text = "x" * 156
    plain = rendering.cost_of(
        text,
        turkish_shift=False,
        reserve_operator_code=False,
        price_per_part=Decimal("0.1"),
        currency="TRY",
    )
    budgeted = rendering.cost_of(
        text,
        turkish_shift=False,
        reserve_operator_code=True,
        price_per_part=Decimal("0.1"),
        currency="TRY",
    )
    assert (plain.count.parts, budgeted.count.parts) == (1, 2)
    assert budgeted.per_message == Decimal("0.2")
    assert rendering.with_footer("Metin  ", "RET") == "Metin\nRET"
