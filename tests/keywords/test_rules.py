"""Configuring short codes and keyword rules: what is refused and why, the dry run, and
fuzzy rules that must not answer near-misses of other words (routed for real)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.contacts.models import (
    AttributeDefinition,
    AttributeType,
    Brand,
    ContactList,
    Suppression,
)
from interactive.db import utcnow
from interactive.keywords import rules
from interactive.keywords.models import (
    Decision,
    InboundMessage,
    KeywordRule,
    MatchMode,
    ShortCode,
    Webhook,
)
from interactive.keywords.rules import RuleError, RuleInput, ShortCodeInput
from interactive.keywords.shortcodes import ensure_short_codes
from tests.keywords.routing import route_text


@pytest.fixture
def code(ctx: Session) -> ShortCode:
    # The short code route_text's messages go to.
    return ensure_short_codes(ctx, [("4664", "sim")])["4664"]


def _rule(code: ShortCode, keyword: str, **fields: object) -> RuleInput:
    return RuleInput(short_code_id=code.id, keyword=keyword, **fields)  # type: ignore[arg-type]


def _refused(call: object, *args: object) -> list[rules.Problem]:
    with pytest.raises(RuleError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.problems


def _fields(problems: list[rules.Problem]) -> set[str | None]:
    return {p.field for p in problems}


# --- rules: validation ------------------------------------------------------------------------


def test_a_valid_rule_is_saved_with_clean_words(ctx: Session, code: ShortCode) -> None:
    rule = rules.create_rule(ctx, _rule(code, " KAZAN ", aliases=["KAZANÇ", "", "KAZANÇ"]))
    assert rule.id and rule.keyword == "KAZAN" and rule.aliases == ["KAZANÇ"]
    assert rules.list_rules(ctx, code.id) == [rule]


@pytest.mark.parametrize("keyword", ["", "   ", "!!!", "…"])
def test_a_keyword_needs_a_letter_or_digit(ctx: Session, code: ShortCode, keyword: str) -> None:
    assert _fields(_refused(rules.create_rule, ctx, _rule(code, keyword))) == {"keyword"}


def test_an_alias_without_letters_is_refused(ctx: Session, code: ShortCode) -> None:
    problems = _refused(rules.create_rule, ctx, _rule(code, "KAZAN", aliases=["?!"]))
    assert _fields(problems) == {"aliases"}


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("İPTAL", "opt-out"),
        ("ıptal", "opt-out"),
        ("ret", "opt-out"),
        ("Start", "opt-in"),
        ("YARDIM", "help"),
        ("yardım", "help"),
    ],
)
def test_a_rule_cannot_take_the_short_codes_own_words(
    ctx: Session, code: ShortCode, word: str, kind: str
) -> None:
    problems = _refused(rules.create_rule, ctx, _rule(code, word))
    assert _fields(problems) == {"keyword"}
    assert f"is an {kind} word" in problems[0].message or f"is a {kind} word" in problems[0].message
    problems = _refused(rules.create_rule, ctx, _rule(code, "BILGI", aliases=[word]))
    assert _fields(problems) == {"aliases"}


def test_two_active_rules_cannot_share_a_word_at_the_same_time(
    ctx: Session, code: ShortCode
) -> None:
    first = rules.create_rule(ctx, _rule(code, "KAZAN", aliases=["ODUL"]))
    problems = _refused(rules.create_rule, ctx, _rule(code, "ödül"))  # folded: odul
    assert "ODUL" in problems[0].message and "KAZAN" in problems[0].message
    # A disabled rule does not clash, nor one whose period does not overlap…
    now = utcnow()
    rules.set_rule_active(ctx, first, False)
    second = rules.create_rule(ctx, _rule(code, "KAZAN"))
    rules.update_rule(
        ctx, second, _rule(code, "KAZAN", active_from=now, active_until=now + timedelta(days=7))
    )
    rules.update_rule(
        ctx, first, _rule(code, "KAZAN", aliases=["ODUL"], active_from=now + timedelta(days=7))
    )
    # …but enabling it again when the periods overlap is refused.
    rules.update_rule(ctx, first, _rule(code, "KAZAN", active=False))
    assert "KAZAN" in _refused(rules.set_rule_active, ctx, first, True)[0].message
    # The same word on another short code is another matter.
    other = ensure_short_codes(ctx, [("3338", "sim")])["3338"]
    assert rules.create_rule(ctx, _rule(other, "KAZAN")).id


def test_regular_expressions_compile_and_stay_short(ctx: Session, code: ShortCode) -> None:
    regex = MatchMode.REGEX
    assert _fields(_refused(rules.create_rule, ctx, _rule(code, "r", match_mode=regex))) == {
        "pattern"
    }
    for bad in ["(unclosed", "a{4294967296}", "x" * 301]:
        problems = _refused(rules.create_rule, ctx, _rule(code, "r", match_mode=regex, pattern=bad))
        assert _fields(problems) == {"pattern"}, bad
    rule = rules.create_rule(ctx, _rule(code, "REZ", match_mode=regex, pattern=r"^rez \d+"))
    assert rule.pattern == r"^rez \d+"
    # The pattern of a word rule is not kept.
    assert rules.create_rule(ctx, _rule(code, "MENU", pattern="ignored")).pattern == ""


def test_handlers_and_their_settings_are_checked(ctx: Session, code: ShortCode) -> None:
    vip = ContactList(name="VIP")
    hook = Webhook(name="CRM", url="https://crm.example/hook", secret="s" * 40)
    ctx.add_all([vip, hook])
    ctx.flush()
    cases: list[tuple[dict[str, object], str]] = [
        ({"handler": "teleport"}, "handler"),
        ({"handler": "subscribe"}, "settings.list_id"),
        ({"handler": "subscribe", "settings": {"list_id": vip.id + 100}}, "settings.list_id"),
        ({"handler": "subscribe", "settings": {"list_id": True}}, "settings.list_id"),
        ({"handler": "webhook", "settings": {"webhook_id": hook.id + 100}}, "settings.webhook_id"),
        ({"handler": "subscribe", "settings": {"list_id": vip.id, "x": 1}}, "settings.x"),
    ]
    for fields, field in cases:
        problems = _refused(rules.create_rule, ctx, _rule(code, "KATILIM", **fields))
        assert _fields(problems) == {field}, fields
    rule = rules.create_rule(
        ctx, _rule(code, "KATILIM", handler="subscribe", settings={"list_id": str(vip.id)})
    )
    assert rule.settings == {"list_id": vip.id}
    assert rules.create_rule(
        ctx, _rule(code, "CRM", handler="webhook", settings={"webhook_id": hook.id})
    ).id


def test_the_end_of_the_active_period_comes_after_its_start(ctx: Session, code: ShortCode) -> None:
    now = utcnow()
    problems = _refused(
        rules.create_rule, ctx, _rule(code, "KAZAN", active_from=now, active_until=now)
    )
    assert _fields(problems) == {"active_until"}


def test_reply_templates_compile_with_the_routers_variables(ctx: Session, code: ShortCode) -> None:
    ctx.add(AttributeDefinition(key="city", label="City", type=AttributeType.TEXT))
    ctx.flush()
    for bad, field in [("{{ first_name", "reply_tr"), ("{{ coupon }}", "reply_en")]:
        kind = {"reply_tr": bad} if field == "reply_tr" else {"reply_en": bad}
        problems = _refused(rules.create_rule, ctx, _rule(code, "KAZAN", **kind))
        assert _fields(problems) == {field}
    ok = "{{ keyword }} {{ short_code }} {{ brand }} {{ code }} {{ first_name }} {{ city }}"
    assert rules.create_rule(ctx, _rule(code, "KAZAN", reply_tr=ok)).reply_tr == ok


# --- short codes ------------------------------------------------------------------------------


def test_short_code_words_and_replies_are_saved(ctx: Session, code: ShortCode) -> None:
    brand, vip = Brand(code="acme", name="Acme"), ContactList(name="VIP")
    ctx.add_all([brand, vip])
    ctx.flush()
    data = ShortCodeInput.of(code)
    data.brand_id = brand.id
    data.opt_out_keywords = ["RET", "DUR", "RET "]
    data.scoped_opt_outs = {"KAMPANYA": {"list_id": vip.id}}
    data.replies = {"opt_out_scoped": {"tr": "{{ scope }} iptal", "en": ""}}
    rules.update_short_code(ctx, code, data)
    assert code.opt_out_keywords == ["RET", "DUR"]
    assert code.replies == {"opt_out_scoped": {"tr": "{{ scope }} iptal"}}
    assert code.brand_id == brand.id


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"opt_in_keywords": ["KATIL", "Ret"]}, "opt_in_keywords"),  # in two lists
        ({"help_keywords": ["STOP"]}, "help_keywords"),
        ({"opt_out_keywords": []}, "opt_out_keywords"),
        ({"opt_out_keywords": ["RET", "STOP ALL"]}, "opt_out_keywords"),
        ({"opt_out_keywords": ["RET", "..."]}, "opt_out_keywords"),
        ({"opt_out_phrases": ["!!"]}, "opt_out_phrases"),
        ({"scoped_opt_outs": {"KAMPANYA": {"list_id": 999}}}, "scoped_opt_outs"),
        ({"scoped_opt_outs": {"KAMPANYA": {"list_id": 1, "brand_id": 1}}}, "scoped_opt_outs"),
        ({"brand_id": 999}, "brand_id"),
        ({"replies": {"opt_in": {"tr": "{{ scope }}"}}}, "replies.opt_in.tr"),
        ({"replies": {"opt_out": {"tr": "{% if %}"}}}, "replies.opt_out.tr"),
        ({"replies": {"goodbye": {"tr": "x"}}}, "replies"),
        ({"double_opt_in": True, "confirm_keyword": "TAMAM"}, "confirm_keyword"),
        ({"attribution_hours": -1}, "attribution_hours"),
    ],
)
def test_short_code_settings_that_are_refused(
    ctx: Session, code: ShortCode, change: dict[str, object], field: str
) -> None:
    data = ShortCodeInput.of(code)
    for name, value in change.items():
        setattr(data, name, value)
    problems = _refused(rules.update_short_code, ctx, code, data)
    assert field in _fields(problems), problems
    ctx.refresh(code)
    assert "RET" in code.opt_out_keywords


def test_an_opt_out_word_a_rule_uses_is_refused(ctx: Session, code: ShortCode) -> None:
    rules.create_rule(ctx, _rule(code, "BITTI"))
    data = ShortCodeInput.of(code)
    data.opt_out_keywords = [*data.opt_out_keywords, "bitti"]
    problems = _refused(rules.update_short_code, ctx, code, data)
    assert "BITTI" in problems[0].message


# --- the dry run ------------------------------------------------------------------------------


def test_explain_says_what_the_router_would_do_without_doing_it(
    ctx: Session, code: ShortCode
) -> None:
    brand = Brand(code="acme", name="Acme", opt_out_phrase_policy="review")
    ctx.add(brand)
    ctx.flush()
    code.brand_id = brand.id
    kazan = rules.create_rule(ctx, _rule(code, "KAZAN", priority=5))
    prefix = rules.create_rule(ctx, _rule(code, "KAZ", match_mode=MatchMode.PREFIX))
    idle = rules.create_rule(ctx, _rule(code, "KAZANDIM", active=False, fuzzy=False))
    ctx.flush()

    def explain(text: str) -> rules.Explanation:
        return rules.explain(ctx, code, text)

    assert explain("Ret lütfen").decision == Decision.OPT_OUT
    assert explain("mesaj istemiyorum").decision == Decision.REVIEW
    assert explain("KATIL").decision == Decision.OPT_IN
    assert explain("yardım").decision == Decision.HELP
    exact = explain("kazan")
    assert exact.decision == Decision.RULE and exact.rule is kazan and not exact.fuzzy
    assert exact.also == [prefix]
    typo = explain("kazn")
    assert typo.rule is prefix and not typo.fuzzy  # the prefix matches exactly
    rules.delete_rule(ctx, prefix)
    typo = explain("kazn")
    assert typo.rule is kazan and typo.fuzzy and typo.matched == "kazan"
    assert explain("kazandım").idle == [idle]
    nothing = explain("Saat kaçta açıksınız?")
    assert nothing.decision == Decision.INBOX and nothing.rule is None
    assert nothing.normalised == "saat kaçta açiksiniz"  # ı and i are one letter
    # No effect at all: nothing stored, nothing suppressed.
    assert ctx.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Suppression)) == 0
    assert not ctx.new and not ctx.dirty


# --- fuzzy rules and near-misses, routed for real ---------------------------------------------


def _routed_rule(ctx: Session, text: str) -> tuple[Decision, KeywordRule | None, str]:
    routed = route_text(ctx, text)
    message = ctx.get(InboundMessage, routed.message_id)
    assert message is not None
    rule = ctx.get(KeywordRule, message.rule_id) if message.rule_id else None
    return routed.decision, rule, routed.reason


def test_fuzzy_rules_do_not_fire_on_near_misses_of_other_keywords(
    ctx: Session, code: ShortCode
) -> None:
    kazan = rules.create_rule(ctx, _rule(code, "KAZAN"))
    kazik = rules.create_rule(ctx, _rule(code, "KAZIK"))

    decision, rule, reason = _routed_rule(ctx, "kazık")
    assert decision == Decision.RULE and rule is kazik and "fuzzy" not in reason
    decision, rule, reason = _routed_rule(ctx, "KAZAN!")
    assert rule is kazan and "fuzzy" not in reason
    # "kazanç" (gain) is one letter more than KAZAN: a typo by the rule's own standard…
    decision, rule, reason = _routed_rule(ctx, "kazanç")
    assert rule is kazan and "fuzzy" in reason
    # …unless the rule says typos are not welcome: then a person reads it.
    rules.update_rule(ctx, kazan, _rule(code, "KAZAN", fuzzy=False))
    assert _routed_rule(ctx, "kazanç")[0] == Decision.INBOX
    # Written as an alias, it is an exact match.
    rules.update_rule(ctx, kazan, _rule(code, "KAZAN", fuzzy=False, aliases=["KAZANÇ"]))
    decision, rule, reason = _routed_rule(ctx, "Kazanç")
    assert rule is kazan and "fuzzy" not in reason


def test_a_near_miss_of_an_opt_out_word_never_fires_a_rule(ctx: Session, code: ShortCode) -> None:
    # A fuzzy STOMP or QUIZ would take "STOPP" or "QUITT" (someone who wants to stop).
    for word in ("STOMP", "QUIZ", "CANCUN"):
        problems = _refused(rules.create_rule, ctx, _rule(code, word))
        assert _fields(problems) == {"fuzzy"}, word
    quiz = rules.create_rule(ctx, _rule(code, "QUIZ", fuzzy=False))
    stomp = rules.create_rule(ctx, _rule(code, "STOMP", fuzzy=False))
    for text in ("STOPP", "stpo", "QUITT", "qiut", "İPTL", "Cancle"):
        decision, rule, _ = _routed_rule(ctx, text)
        assert decision == Decision.INBOX and rule is None, text
    for text in ("QUIT", "Stop please", "iptal"):
        assert _routed_rule(ctx, text)[0] == Decision.OPT_OUT, text
    assert _routed_rule(ctx, "quiz")[1] is quiz
    assert _routed_rule(ctx, "STOMP")[1] is stomp
    # Short opt-out words make no such trouble (one slip in RET is another word).
    assert rules.create_rule(ctx, _rule(code, "MENU")).fuzzy
    # A new opt-out word close to an existing fuzzy rule is refused in turn.
    rules.create_rule(ctx, _rule(code, "PAUSE"))
    data = ShortCodeInput.of(code)
    data.opt_out_keywords = [*data.opt_out_keywords, "PAUSED"]
    problems = _refused(rules.update_short_code, ctx, code, data)
    assert "PAUSE" in problems[0].message
