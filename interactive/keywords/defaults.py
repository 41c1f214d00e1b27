"""The words and replies a short code starts with (each editable per short code)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext

from interactive.keywords.matching import normalise

OPT_OUT_KEYWORDS = (
    "RET",
    "İPTAL",
    "DUR",
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
)
OPT_IN_KEYWORDS = ("KATIL", "START", "UNSTOP", "EVET")
HELP_KEYWORDS = ("YARDIM", "HELP", "INFO")
#: Sentences that mean "stop" without a keyword; what they do is the brand's policy.
OPT_OUT_PHRASES = (
    "stop please",
    "please stop",
    "stop texting me",
    "stop messaging me",
    "stop sending",
    "remove me",
    "unsubscribe me",
    "artık mesaj atmayın",
    "mesaj atmayın",
    "mesaj atmayin",
    "mesaj göndermeyin",
    "mesaj istemiyorum",
    "sms istemiyorum",
    "beni listeden çıkarın",
    "listeden çıkar",
)
#: Words that may follow an opt-out or opt-in keyword without changing its meaning
#: ("STOP please", "RET lütfen"); anything else makes the text a sentence, not a keyword.
FILLER = frozenset(
    {
        "please",
        "pls",
        "now",
        "all",
        "thanks",
        "thank",
        "you",
        "lutfen",
        "artik",
        "hemen",
        "tesekkurler",
        "hepsi",
        "tum",
    }
)


def fold_word(word: str) -> str:
    """A keyword as the router compares it (normalised and accent-folded)."""
    return normalise(word, fold_accents=True)


def reply_text(kind: str, **values: Any) -> str:
    """Our reply of ``kind`` in the current locale (``brand``, ``code`` and the kind's own
    values filled in)."""
    if kind == "opt_out":
        return gettext(
            "You will no longer receive messages from %(brand)s. To subscribe again, send "
            "KATIL to %(code)s.",
            **values,
        )
    if kind == "opt_out_scoped":
        return gettext("You will no longer receive %(scope)s messages from %(brand)s.", **values)
    if kind == "opt_in":
        return gettext(
            "You are subscribed to messages from %(brand)s. To stop, send RET to %(code)s.",
            **values,
        )
    if kind == "opt_in_confirm":
        return gettext(
            "To confirm that you want messages from %(brand)s, reply %(word)s to %(code)s.",
            **values,
        )
    if kind == "help":
        return gettext(
            "%(brand)s: send RET to %(code)s to stop messages, KATIL to subscribe again.",
            **values,
        )
    raise ValueError(kind)


REPLY_KINDS = ("opt_out", "opt_out_scoped", "opt_in", "opt_in_confirm", "help")
