"""The OpenAPI 3.1 document of ``/api/v1``, built from the pydantic schemas."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from interactive.api import schemas

MAX_ID = 2**31 - 1  # integer primary keys are 32-bit on PostgreSQL

MODELS: tuple[type[BaseModel], ...] = (
    schemas.ErrorResponse,
    schemas.ApiKeyInfo,
    schemas.UserOut,
    schemas.UserPage,
    schemas.UserCreate,
    schemas.UserUpdate,
    schemas.ContactIn,
    schemas.BulkResult,
    schemas.ContactOut,
    schemas.ContactSearch,
    schemas.ConsentEventIn,
    schemas.ConsentLedger,
    schemas.ConsentRecorded,
    schemas.SuppressionIn,
    schemas.SuppressionResults,
    schemas.SuppressionLifted,
    schemas.LinkCreate,
    schemas.LinkOut,
)

ERROR_DESCRIPTIONS = {
    "400": "The body is not valid JSON.",
    "401": "No API key, or an unknown or revoked one.",
    "403": "The key's role may not do this.",
    "404": "No such object.",
    "409": "Conflicts with existing data.",
    "415": "The body is not JSON.",
    "422": "The input is not valid; `details` lists the fields.",
    "429": "Rate limit exceeded; see `Retry-After`.",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _json(schemas.ErrorResponse, ERROR_DESCRIPTIONS[code]) for code in codes}


def _schemas() -> dict[str, Any]:
    components: dict[str, Any] = {}
    for model in (
        *MODELS,
        *CAMPAIGN_MODELS,
        *KEYWORD_MODELS,
        *INBOX_MODELS,
        *SURVEY_MODELS,
        *BOOKING_MODELS,
        *CONVERSION_MODELS,
    ):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    components["BulkContactsRequest"] = BULK_REQUEST
    return components


# Items are validated one by one: an object that does not fit ContactIn is reported in its
# own result (status "rejected") and the others still go in, so any object is accepted.
BULK_REQUEST = {
    "type": "object",
    "required": ["items"],
    "additionalProperties": False,
    "properties": {
        "items": {
            "type": "array",
            "maxItems": 10000,
            "items": {"anyOf": [_ref(schemas.ContactIn), {"type": "object"}]},
        }
    },
}
CONTACT_ID = {
    "name": "contact_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}


def _phone_query(description: str) -> dict[str, Any]:
    return {
        "name": "phone",
        "in": "query",
        "required": True,
        "description": description,
        "schema": {"type": "string", "maxLength": 64},
    }


def _contact_paths(request_body: Any) -> dict[str, Any]:
    bulk_body = {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/BulkContactsRequest"}}
        },
    }
    return {
        "/contacts/bulk": {
            "post": {
                "operationId": "upsertContacts",
                "summary": "Create or update up to 10,000 contacts; one result per item, in order.",
                "requestBody": bulk_body,
                "responses": {
                    "200": _json(schemas.BulkResult, "Per-item results and counts."),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                },
            }
        },
        "/contacts": {
            "get": {
                "operationId": "findContacts",
                "summary": "Look a contact up by phone number (any usual notation).",
                "parameters": [_phone_query("The number to look up.")],
                "responses": {
                    "200": _json(schemas.ContactSearch, "The contact, if there is one."),
                    **_errors(*AUTH_ERRORS, "422"),
                },
            }
        },
        "/contacts/{contact_id}": {
            "parameters": [CONTACT_ID],
            "get": {
                "operationId": "getContact",
                "summary": "One contact with its current consent per brand.",
                "responses": {
                    "200": _json(schemas.ContactOut, "The contact."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
        },
        "/contacts/{contact_id}/consent": {
            "parameters": [CONTACT_ID],
            "get": {
                "operationId": "getContactConsent",
                "summary": "The contact's consent ledger, oldest first.",
                "responses": {
                    "200": _json(schemas.ConsentLedger, "The events."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
            "post": {
                "operationId": "recordContactConsent",
                "summary": "Record one consent event (ONAY or RET) for a brand.",
                "requestBody": request_body(schemas.ConsentEventIn),
                "responses": {
                    "201": _json(schemas.ConsentRecorded, "The event was recorded."),
                    "200": _json(
                        schemas.ConsentRecorded,
                        "Nothing recorded: it repeats or predates the current state.",
                    ),
                    **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
                },
            },
        },
        "/suppressions": {
            "post": {
                "operationId": "blockNumbers",
                "summary": "Block numbers by hand (no commercial or informational message).",
                "requestBody": request_body(schemas.SuppressionIn),
                "responses": {
                    "200": _json(schemas.SuppressionResults, "One result per number."),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                },
            },
            "delete": {
                "operationId": "liftBlock",
                "summary": "Lift a manual block; other reasons (opt-out, erasure) stay.",
                "parameters": [_phone_query("The blocked number.")],
                "responses": {
                    "200": _json(schemas.SuppressionLifted, "The block is lifted."),
                    **_errors(*AUTH_ERRORS, "404", "422"),
                },
            },
        },
    }


LINK_ID = {
    "name": "link_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
}


def _link_paths(request_body: Any) -> dict[str, Any]:
    return {
        "/links": {
            "post": {
                "operationId": "createLink",
                "summary": "Create a standalone short link; answers its code and short URL.",
                "requestBody": request_body(schemas.LinkCreate),
                "responses": {
                    "201": _json(schemas.LinkOut, "The new link."),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                },
            }
        },
        "/links/{link_id}": {
            "parameters": [LINK_ID],
            "get": {
                "operationId": "getLink",
                "summary": "One short link (standalone or a campaign recipient's) with its "
                "clicks counted by kind: people, link previews, scanners, HEAD/prefetch.",
                "responses": {
                    "200": _json(schemas.LinkOut, "The link."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
        },
    }


# --- Keywords: short codes, keyword rules, webhooks (interactive/api/keywords.py) --------

KEYWORD_MODELS: tuple[type[BaseModel], ...] = (
    schemas.ShortCodeList,
    schemas.ShortCodeOut,
    schemas.ShortCodePatch,
    schemas.KeywordRuleIn,
    schemas.KeywordRulePatch,
    schemas.KeywordRuleOut,
    schemas.KeywordRulePage,
    schemas.WebhookIn,
    schemas.WebhookPatch,
    schemas.WebhookDetail,
    schemas.WebhookList,
    schemas.WebhookTestResult,
    schemas.KeywordWebhookPayload,
)


def _id_param(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }


def _refused(code: str, what: str) -> dict[str, Any]:
    return {
        "409": _json(
            schemas.ErrorResponse,
            f"`{code}`: {what}; `details` has one entry per problem (`field`, `message`).",
        )
    }


RULE_REFUSED = _refused(
    "rule_problems",
    "the rule cannot be saved as given (a word that is an opt-out, opt-in or help word of "
    "its short code, a word another active rule has at the same time, a regular expression "
    "that does not compile, an unknown handler or setting, a list or webhook that does not "
    "exist, a reply template that does not compile, the end before the start…)",
)
SHORT_CODE_REFUSED = _refused(
    "short_code_problems",
    "the settings cannot be saved (a word in two lists, a word that is not a single word, "
    "a word a rule uses, a confirmation word that is not an opt-in word with double "
    "opt-in, a scope naming a brand or list that does not exist, a reply template that "
    "does not compile…)",
)
WEBHOOK_REFUSED = _refused(
    "webhook_problems",
    "the webhook cannot be saved or deleted (its name is taken, its URL is not accepted: "
    "not public, does not resolve…, or rules still forward to it)",
)
RULE_EXAMPLE = {
    "short_code_id": 1,
    "keyword": "KAZAN",
    "aliases": ["KAZANC"],
    "match_mode": "first_word",
    "priority": 10,
    "handler": "subscribe",
    "settings": {"list_id": 3},
    "reply_tr": "Tebrikler {{ first_name | default('') }}! Çekilişe katıldınız.",
    "reply_en": "Congratulations! You are in the draw.",
    "active_until": "2026-06-01T00:00:00+03:00",
}
KEYWORD_CALLBACK = {
    "{$request.body#/url}": {
        "post": {
            "summary": "An inbound message matched a rule with the webhook handler.",
            "description": (
                "Sent after the message is routed, at least once (dedupe by "
                "`X-Interactive-Delivery` or `id`); retried with exponential backoff (10 s, "
                "20 s, 40 s …, 8 attempts) until the receiver answers 2xx; redirects are not "
                "followed. Check it: recompute HMAC-SHA256 over "
                "`<X-Interactive-Timestamp>.<raw body>` with the webhook's own secret, "
                "compare it in constant time with the hex digest after `sha256=` in "
                "`X-Interactive-Signature`, and refuse timestamps more than 5 minutes from "
                "your clock."
            ),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(schemas.KeywordWebhookPayload)}},
            },
            "responses": {"2XX": {"description": "Received; anything else is retried."}},
        }
    }
}


def _keyword_paths(request_body: Any) -> dict[str, Any]:
    short_code_id, rule_id, webhook_id = (
        _id_param("short_code_id"),
        _id_param("rule_id"),
        _id_param("webhook_id"),
    )
    deleted = {"204": {"description": "Deleted."}}
    return {
        "/short-codes": {
            "get": {
                "operationId": "listShortCodes",
                "summary": "The short codes (configured on gateway connections, or seen on "
                "an inbound message) with their opt-out, opt-in and help words and replies.",
                "responses": {
                    "200": _json(schemas.ShortCodeList, "The short codes."),
                    **_errors(*AUTH_ERRORS),
                },
            }
        },
        "/short-codes/{short_code_id}": {
            "parameters": [short_code_id],
            "get": {
                "operationId": "getShortCode",
                "summary": "One short code.",
                "responses": {
                    "200": _json(schemas.ShortCodeOut, "The short code."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
            "patch": {
                "operationId": "updateShortCode",
                "summary": "Change a short code's words, replies, brand or settings "
                "(settings permission).",
                "requestBody": _with_example(
                    request_body(schemas.ShortCodePatch),
                    {
                        "opt_out_keywords": ["RET", "İPTAL", "STOP"],
                        "scoped_opt_outs": {"KAMPANYA": {"list_id": 2}},
                        "replies": {"help": {"tr": "Acme: RET yazıp {{ code }}'e gönderin."}},
                    },
                ),
                "responses": {
                    "200": _json(schemas.ShortCodeOut, "The short code."),
                    **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
                    **SHORT_CODE_REFUSED,
                },
            },
        },
        "/keyword-rules": {
            "get": {
                "operationId": "listKeywordRules",
                "summary": "Keyword rules by id, a page at a time, optionally of one short code.",
                "parameters": [
                    _query_int("short_code_id", 1, MAX_ID),
                    _query_int("limit", 1, 200, 50),
                    _query_int("after", 0, MAX_ID),
                ],
                "responses": {
                    "200": _json(schemas.KeywordRulePage, "A page of rules."),
                    **_errors(*AUTH_ERRORS, "422"),
                },
            },
            "post": {
                "operationId": "createKeywordRule",
                "summary": "Create a keyword rule.",
                "requestBody": _with_example(request_body(schemas.KeywordRuleIn), RULE_EXAMPLE),
                "responses": {
                    "201": _json(schemas.KeywordRuleOut, "The new rule."),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                    **RULE_REFUSED,
                },
            },
        },
        "/keyword-rules/{rule_id}": {
            "parameters": [rule_id],
            "get": {
                "operationId": "getKeywordRule",
                "summary": "One keyword rule.",
                "responses": {
                    "200": _json(schemas.KeywordRuleOut, "The rule."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
            "put": {
                "operationId": "replaceKeywordRule",
                "summary": "Replace a keyword rule; fields left out take their defaults.",
                "requestBody": _with_example(request_body(schemas.KeywordRuleIn), RULE_EXAMPLE),
                "responses": {
                    "200": _json(schemas.KeywordRuleOut, "The rule."),
                    **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
                    **RULE_REFUSED,
                },
            },
            "patch": {
                "operationId": "updateKeywordRule",
                "summary": "Change some fields of a keyword rule (e.g. `active`).",
                "requestBody": _with_example(
                    request_body(schemas.KeywordRulePatch), {"active": False}
                ),
                "responses": {
                    "200": _json(schemas.KeywordRuleOut, "The rule."),
                    **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
                    **RULE_REFUSED,
                },
            },
            "delete": {
                "operationId": "deleteKeywordRule",
                "summary": "Delete a keyword rule (messages it routed keep their reason).",
                "responses": {**deleted, **_errors(*AUTH_ERRORS, "404")},
            },
        },
        "/webhooks": {
            "get": {
                "operationId": "listWebhooks",
                "summary": "The webhooks keyword rules forward inbound messages to.",
                "responses": {
                    "200": _json(schemas.WebhookList, "The webhooks (without secrets)."),
                    **_errors(*AUTH_ERRORS),
                },
            },
            "post": {
                "operationId": "createWebhook",
                "summary": "Create a webhook; the answer carries its signing secret, once.",
                "requestBody": _with_example(
                    request_body(schemas.WebhookIn),
                    {"name": "CRM", "url": "https://crm.example/hooks/sms"},
                ),
                "responses": {
                    "201": _json(schemas.WebhookDetail, "The new webhook with its secret."),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                    **WEBHOOK_REFUSED,
                },
                "callbacks": {"keywordWebhook": KEYWORD_CALLBACK},
            },
        },
        "/webhooks/{webhook_id}": {
            "parameters": [webhook_id],
            "get": {
                "operationId": "getWebhook",
                "summary": "One webhook with its latest deliveries.",
                "responses": {
                    "200": _json(schemas.WebhookDetail, "The webhook."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
            "patch": {
                "operationId": "updateWebhook",
                "summary": "Rename, move (the URL is checked again), enable or disable a "
                "webhook, or rotate its secret.",
                "requestBody": _with_example(
                    request_body(schemas.WebhookPatch), {"rotate_secret": True}
                ),
                "responses": {
                    "200": _json(schemas.WebhookDetail, "The webhook."),
                    **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
                    **WEBHOOK_REFUSED,
                },
            },
            "delete": {
                "operationId": "deleteWebhook",
                "summary": "Delete a webhook and its deliveries (refused while rules use it).",
                "responses": {**deleted, **_errors(*AUTH_ERRORS, "404"), **WEBHOOK_REFUSED},
            },
        },
        "/webhooks/{webhook_id}/test": {
            "parameters": [webhook_id],
            "post": {
                "operationId": "testWebhook",
                "summary": "POST a signed sample body (`event` webhook.test) to the webhook "
                "now, with a short timeout; `ok` says whether it answered 2xx.",
                "responses": {
                    "200": _json(schemas.WebhookTestResult, "How the test went."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
        },
    }


# --- Campaigns and single messages (interactive/api/campaigns.py, messages.py) -------------

CAMPAIGN_MODELS: tuple[type[BaseModel], ...] = (
    schemas.CampaignIn,
    schemas.CampaignPatch,
    schemas.CampaignOut,
    schemas.CampaignPage,
    schemas.CampaignStats,
    schemas.RecipientPage,
    schemas.MessageIn,
    schemas.MessageCreated,
    schemas.MessageOut,
    schemas.StatusWebhookPayload,
)
MAX_BIG_ID = 2**63 - 1  # 64-bit ids: messages, recipients
CAMPAIGN_ID = {
    "name": "campaign_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
MESSAGE_ID = {
    "name": "message_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BIG_ID},
}
CAMPAIGN_PROBLEMS = (
    "`campaign_problems`: the campaign cannot be saved, scheduled or moved as asked; "
    "`details` has one entry per problem (its `message`)."
)
CAMPAIGN_EXAMPLE = {
    "name": "Spring sale",
    "traffic": "commercial",
    "brand_id": 1,
    "audience": {"lists": [1], "exclude_lists": [2]},
    "variants": [
        {
            "label": "A",
            "share": 50,
            "template": 'Merhaba {{ first_name | default("") }}, bahar indirimi başladı: '
            "https://shop.example/sale",
        },
        {"label": "B", "share": 50, "template": "Bahar indirimi: https://shop.example/sale"},
    ],
    "send_at": "2026-04-01T10:00:00+03:00",
    "time_zone": "Europe/Istanbul",
    "window_start": "09:00",
    "window_end": "20:00",
    "holdout_percent": 10,
}
MESSAGE_EXAMPLE = {
    "to": "+905321234567",
    "text": "Doğrulama kodunuz: 482913",
    "traffic": "transactional",
    "status_url": "https://app.example/sms-status",
    "idempotency_key": "otp-7f3a9c",
}
NOT_ELIGIBLE_EXAMPLE = {
    "error": {
        "code": "not_eligible",
        "message": "Outside the recipient's allowed hours; send it again at next_allowed_at.",
        "details": [
            {
                "field": "to",
                "message": "Outside the recipient's allowed hours; send it again at "
                "next_allowed_at.",
                "reason": "quiet_hours",
                "next_allowed_at": "2026-04-02T05:00:00Z",
            }
        ],
    }
}


def _query_enum(name: str, values: list[str], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string", "enum": values},
    }


def _query_int(name: str, minimum: int, maximum: int, default: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum, "maximum": maximum}
    if default is not None:
        schema["default"] = default
    return {"name": name, "in": "query", "schema": schema}


def _conflict(description: str) -> dict[str, Any]:
    return {"409": _json(schemas.ErrorResponse, description)}


def _with_example(body: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    content = body["content"]["application/json"]
    return {**body, "content": {"application/json": {**content, "example": example}}}


def _enum_values(name: str) -> list[str]:
    return list(_schemas()[name]["enum"])


def _campaign_action(operation_id: str, summary: str) -> dict[str, Any]:
    return {
        "parameters": [CAMPAIGN_ID],
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "responses": {
                "200": _json(schemas.CampaignOut, "The campaign in its new state."),
                **_errors(*AUTH_ERRORS, "404"),
                **_conflict(CAMPAIGN_PROBLEMS),
            },
        },
    }


def _campaign_paths(request_body: Any) -> dict[str, Any]:
    create_body = _with_example(request_body(schemas.CampaignIn), CAMPAIGN_EXAMPLE)
    return {
        "/campaigns": {
            "get": {
                "operationId": "listCampaigns",
                "summary": "Campaigns by id, a page at a time, optionally in one state.",
                "parameters": [
                    _query_enum("state", _enum_values("CampaignState"), "Only this state."),
                    _query_int("limit", 1, 200, 50),
                    _query_int("after", 0, MAX_ID),
                ],
                "responses": {
                    "200": _json(schemas.CampaignPage, "A page of campaigns."),
                    **_errors(*AUTH_ERRORS, "422"),
                },
            },
            "post": {
                "operationId": "createCampaign",
                "summary": "Create a draft campaign (schedule it with /schedule).",
                "requestBody": create_body,
                "responses": {
                    "201": _json(schemas.CampaignOut, "The new draft."),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                    **_conflict(CAMPAIGN_PROBLEMS),
                },
            },
        },
        "/campaigns/{campaign_id}": {
            "parameters": [CAMPAIGN_ID],
            "get": {
                "operationId": "getCampaign",
                "summary": "One campaign.",
                "responses": {
                    "200": _json(schemas.CampaignOut, "The campaign."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
            "put": {
                "operationId": "replaceCampaign",
                "summary": "Replace a draft or scheduled campaign (a scheduled one goes back "
                "to draft); fields left out take their defaults.",
                "requestBody": create_body,
                "responses": {
                    "200": _json(schemas.CampaignOut, "The campaign, a draft."),
                    **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
                    **_conflict(CAMPAIGN_PROBLEMS),
                },
            },
            "patch": {
                "operationId": "updateCampaign",
                "summary": "Change some fields of a draft or scheduled campaign (a scheduled "
                "one goes back to draft); `variants` and `audience` are replaced whole.",
                "requestBody": _with_example(
                    request_body(schemas.CampaignPatch),
                    {"name": "Spring sale (2nd wave)", "send_at": "2026-04-08T10:00:00+03:00"},
                ),
                "responses": {
                    "200": _json(schemas.CampaignOut, "The campaign, a draft."),
                    **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
                    **_conflict(CAMPAIGN_PROBLEMS),
                },
            },
        },
        "/campaigns/{campaign_id}/schedule": _campaign_action(
            "scheduleCampaign",
            "Draft → scheduled: it starts at `send_at`, or now. 409 lists what keeps it "
            "from going out (no audience, no brand for commercial traffic, a template error…).",
        ),
        "/campaigns/{campaign_id}/unschedule": _campaign_action(
            "unscheduleCampaign", "Scheduled → draft."
        ),
        "/campaigns/{campaign_id}/pause": _campaign_action(
            "pauseCampaign", "Sending → paused, within seconds: nothing more is submitted."
        ),
        "/campaigns/{campaign_id}/resume": _campaign_action(
            "resumeCampaign", "Paused → sending: its queued messages go out again."
        ),
        "/campaigns/{campaign_id}/cancel": _campaign_action(
            "cancelCampaign",
            "Stop for good (any state before completed); unsent messages are cancelled.",
        ),
        "/campaigns/{campaign_id}/stats": {
            "parameters": [CAMPAIGN_ID],
            "get": {
                "operationId": "getCampaignStats",
                "summary": "The funnel (targeted → sent → delivered → clicked → converted), "
                "per variant too, and the progress of the send.",
                "responses": {
                    "200": _json(schemas.CampaignStats, "The funnels."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
        },
        "/campaigns/{campaign_id}/recipients": {
            "parameters": [CAMPAIGN_ID],
            "get": {
                "operationId": "listCampaignRecipients",
                "summary": "The decision about each recipient (queued, skipped and why, "
                "deferred until when…) with its message's state, by id.",
                "parameters": [
                    _query_enum("status", _enum_values("RecipientStatus"), "Only this status."),
                    _query_enum("reason", _enum_values("RecipientReason"), "Only this reason."),
                    _query_int("limit", 1, 500, 100),
                    _query_int("after", 0, MAX_BIG_ID),
                ],
                "responses": {
                    "200": _json(schemas.RecipientPage, "A page of recipients."),
                    **_errors(*AUTH_ERRORS, "404", "422"),
                },
            },
        },
    }


STATUS_CALLBACK = {
    "{$request.body#/status_url}": {
        "post": {
            "summary": "The message reached a final state.",
            "description": (
                "Sent once the message is final, at least once (dedupe by `id`); retried "
                "with exponential backoff (10 s, 20 s, 40 s … at most an hour apart, 10 "
                "attempts) until the receiver answers 2xx. Check it: recompute "
                "HMAC-SHA256 over `<X-Interactive-Timestamp>.<raw body>` with the shared "
                "WEBHOOK_SECRET, compare it in constant time with the hex digest after "
                "`sha256=` in `X-Interactive-Signature`, and refuse timestamps more than "
                "5 minutes from your clock."
            ),
            "parameters": [
                {
                    "name": "X-Interactive-Timestamp",
                    "in": "header",
                    "required": True,
                    "description": "Unix seconds when it was sent; part of the signed text.",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                },
                {
                    "name": "X-Interactive-Signature",
                    "in": "header",
                    "required": True,
                    "description": "`sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>`.",
                    "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _ref(schemas.StatusWebhookPayload),
                        "example": {
                            "id": 81234,
                            "state": "delivered",
                            "error_code": None,
                            "final_at": "2026-04-01T07:00:04Z",
                        },
                    }
                },
            },
            "responses": {"2XX": {"description": "Received; anything else is retried."}},
        }
    }
}


def _message_paths(request_body: Any) -> dict[str, Any]:
    created = _json(schemas.MessageCreated, "Queued for the gateway.")
    created["content"]["application/json"]["example"] = {
        "id": 81234,
        "state": "queued",
        "parts": 1,
        "encoding": "UCS2",
        "to": "+905321234567",
    }
    refused = _json(
        schemas.ErrorResponse,
        "Well formed but not sent; `code` says why: `invalid_number` (`details[0].reason`: "
        "too_short, invalid_country_code…), `not_eligible` (`details[0].reason`: "
        "opted_out, no_consent, consent_revoked, blocked, erased, failing, frequency_cap, "
        "or quiet_hours with `next_allowed_at`; a commercial message is not deferred, send "
        "it again then), `unknown_route`, `no_route`, `sender_required`, `invalid_sender`, "
        "`unknown_brand`, `no_opt_out`, `status_url_refused`, `idempotency_key_reused` "
        "(the key came with other values) or `idempotency_key_in_use` (the first request "
        "with it is still running).",
    )
    refused["content"]["application/json"]["example"] = NOT_ELIGIBLE_EXAMPLE
    return {
        "/messages": {
            "post": {
                "operationId": "sendMessage",
                "summary": "Send one text to one number (an order notice, a one-time code…).",
                "description": (
                    "Eligibility is checked first: commercial traffic needs the number's "
                    "consent for `brand_id` and its allowed hours; an opted-out number gets "
                    "only transactional messages. With `idempotency_key`, a repeat of the "
                    "same request from the same API key within 24 hours answers the first "
                    "message (200) instead of sending another."
                ),
                "requestBody": _with_example(request_body(schemas.MessageIn), MESSAGE_EXAMPLE),
                "responses": {
                    "201": created,
                    "200": _json(
                        schemas.MessageCreated,
                        "The idempotency key was seen: the message created then, as it is now.",
                    ),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                    "409": refused,
                },
                "callbacks": {"statusWebhook": STATUS_CALLBACK},
            }
        },
        "/messages/{message_id}": {
            "parameters": [MESSAGE_ID],
            "get": {
                "operationId": "getMessage",
                "summary": "A message's state, its parts with theirs, times and error code, "
                "and its status webhook.",
                "responses": {
                    "200": _json(schemas.MessageOut, "The message."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
        },
    }


# --- Inbox: inbound messages and threads (interactive/api/inbox.py) -------------------------

INBOX_MODELS: tuple[type[BaseModel], ...] = (
    schemas.InboundOut,
    schemas.InboundPage,
    schemas.ThreadOut,
    schemas.ThreadPage,
    schemas.ThreadDetail,
    schemas.ThreadReplyIn,
    schemas.ThreadReplyCreated,
)
INBOUND_ID = {
    "name": "inbound_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BIG_ID},
}
THREAD_ID = {
    "name": "thread_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BIG_ID},
}
REPLY_REFUSED = (
    "Well formed but not sent; `code` says why: `empty` (nothing but spaces), "
    "`not_a_number` (the sender cannot be answered), `erased`, `blocked`, or `opted_out` / "
    "`failing` when the customer's last message is more than 24 hours old (within that "
    "window a reply is transactional and reaches a number that opted out)."
)


def _inbox_paths(request_body: Any) -> dict[str, Any]:
    decisions = _enum_values("Decision")
    return {
        "/inbound": {
            "get": {
                "operationId": "listInbound",
                "summary": "Inbound messages by id (oldest first) with the router's decision "
                "and its reason; poll with `after` for new ones.",
                "parameters": [
                    _query_enum("decision", decisions, "Only this decision."),
                    _query_int("thread_id", 1, MAX_BIG_ID),
                    _query_int("rule_id", 1, MAX_ID),
                    _query_int("campaign_id", 1, MAX_ID),
                    _query_int("limit", 1, 500, 100),
                    _query_int("after", 0, MAX_BIG_ID),
                ],
                "responses": {
                    "200": _json(schemas.InboundPage, "A page of inbound messages."),
                    **_errors(*AUTH_ERRORS, "422"),
                },
            }
        },
        "/inbound/{inbound_id}": {
            "parameters": [INBOUND_ID],
            "get": {
                "operationId": "getInbound",
                "summary": "One inbound message.",
                "responses": {
                    "200": _json(schemas.InboundOut, "The message."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
        },
        "/threads": {
            "get": {
                "operationId": "listThreads",
                "summary": "Conversations (one per number and short code), the latest message "
                "first, a page at a time.",
                "parameters": [
                    _query_enum("state", _enum_values("ThreadState"), "Only open or closed."),
                    _query_enum(
                        "unmatched",
                        ["true", "false"],
                        "`true`: only those whose last message waits for a person (no "
                        "keyword matched, or an opt-out phrase held for review).",
                    ),
                    {**_query_int("assigned_to", 1, MAX_ID), "description": "A user id."},
                    {
                        **_query_int("rule_id", 1, MAX_ID),
                        "description": "Threads with a message that matched this keyword rule.",
                    },
                    {
                        **_query_int("campaign_id", 1, MAX_ID),
                        "description": "Threads with a reply to this campaign.",
                    },
                    {
                        "name": "q",
                        "in": "query",
                        "description": "A number prefix (0532…, +90532…), a contact's name, "
                        "or words of a message.",
                        "schema": {"type": "string", "maxLength": 100, "pattern": schemas.NO_NUL},
                    },
                    _query_int("limit", 1, 200, 50),
                    {
                        "name": "cursor",
                        "in": "query",
                        "description": "The `next_cursor` of the page before.",
                        "schema": {"type": "string", "pattern": r"^[0-9]{1,18}\.[0-9]{1,19}$"},
                    },
                ],
                "responses": {
                    "200": _json(schemas.ThreadPage, "A page of threads."),
                    **_errors(*AUTH_ERRORS, "422"),
                },
            }
        },
        "/threads/{thread_id}": {
            "parameters": [THREAD_ID],
            "get": {
                "operationId": "getThread",
                "summary": "A thread with its latest 200 messages (inbound with decision and "
                "reason, outbound with delivery state) and how a reply would go now.",
                "responses": {
                    "200": _json(schemas.ThreadDetail, "The thread."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
        },
        "/threads/{thread_id}/replies": {
            "parameters": [THREAD_ID],
            "post": {
                "operationId": "replyToThread",
                "summary": "Answer the customer from the thread's short code.",
                "requestBody": _with_example(
                    request_body(schemas.ThreadReplyIn),
                    {"text": "Masanız 20:00 için ayrıldı, görüşmek üzere!"},
                ),
                "responses": {
                    "201": _json(schemas.ThreadReplyCreated, "Queued for the gateway."),
                    **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
                    "409": _json(schemas.ErrorResponse, REPLY_REFUSED),
                },
            },
        },
    }


USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
AUTH_ERRORS = ("401", "403", "429")


@functools.cache
def openapi_document() -> dict[str, Any]:
    body = {"required": True, "content": {"application/json": {"schema": None}}}

    def request_body(model: type[BaseModel]) -> dict[str, Any]:
        return {**body, "content": {"application/json": {"schema": _ref(model)}}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "interactive API",
            "version": "1",
            "description": (
                "Authenticate with `Authorization: Bearer <key>` (keys are created by admins "
                "under Admin → API keys and carry a role). Every failure answers "
                '`{"error": {"code", "message", "details"}}`.'
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
        "paths": {
            "/me": {
                "get": {
                    "operationId": "getMe",
                    "summary": "The API key in use, its role and permissions.",
                    "responses": {
                        "200": _json(schemas.ApiKeyInfo, "The key."),
                        **_errors(*AUTH_ERRORS),
                    },
                }
            },
            "/users": {
                "get": {
                    "operationId": "listUsers",
                    "summary": "Users, by id, a page at a time (admin keys).",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 200,
                                "default": 50,
                            },
                        },
                        {
                            "name": "after",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                        },
                    ],
                    "responses": {
                        "200": _json(schemas.UserPage, "A page of users."),
                        **_errors(*AUTH_ERRORS, "422"),
                    },
                },
                "post": {
                    "operationId": "createUser",
                    "summary": "Create a user (admin keys).",
                    "requestBody": request_body(schemas.UserCreate),
                    "responses": {
                        "201": _json(schemas.UserOut, "The new user."),
                        **_errors(*AUTH_ERRORS, "400", "409", "415", "422"),
                    },
                },
            },
            "/users/{user_id}": {
                "parameters": [USER_ID],
                "get": {
                    "operationId": "getUser",
                    "summary": "One user (admin keys).",
                    "responses": {
                        "200": _json(schemas.UserOut, "The user."),
                        **_errors(*AUTH_ERRORS, "404"),
                    },
                },
                "patch": {
                    "operationId": "updateUser",
                    "summary": "Change a user's name, role, status, language or time zone.",
                    "requestBody": request_body(schemas.UserUpdate),
                    "responses": {
                        "200": _json(schemas.UserOut, "The user."),
                        **_errors(*AUTH_ERRORS, "400", "404", "409", "415", "422"),
                    },
                },
            },
            **_contact_paths(request_body),
            **_campaign_paths(request_body),
            **_message_paths(request_body),
            **_link_paths(request_body),
            **_keyword_paths(request_body),
            **_inbox_paths(request_body),
            **_survey_paths(request_body),
            **_booking_paths(request_body),
            **_conversion_paths(request_body),
        },
    }


# --- Surveys (interactive/api/surveys.py) ------------------------------------------------------

SURVEY_MODELS: tuple[type[BaseModel], ...] = (
    schemas.SurveyIn,
    schemas.SurveyOut,
    schemas.SurveyPage,
    schemas.SurveySessionIn,
    schemas.SurveySessionOut,
    schemas.SurveyResults,
    schemas.RespondentPage,
)
SURVEY_ID = _id_param("survey_id")
SURVEY_PROBLEMS = (
    "`survey_problems`: the questions or settings cannot be saved (a branch to an unknown "
    "or earlier question, a question changing its type after answers, too few options, an "
    "unknown brand…), or the survey's state does not allow the action; `details` has one "
    "entry per problem."
)
SESSION_REFUSED = (
    "Not started: `not_live` (the survey is not live), `invalid_number`, `unknown_contact`, "
    "`refused` (another survey is open for the number and this one does not queue), "
    "`not_eligible` (the number may not get the survey's kind of message), or "
    "`survey_problems`."
)
SURVEY_EXAMPLE = {
    "name": "Memnuniyet",
    "short_code": "4664",
    "keyword": "ANKET",
    "intro": "Merhaba!",
    "completion": "Teşekkürler!",
    "questions": [
        {"key": "score", "type": "rating", "text": "Hizmetimizi 1-5 arası puanlar mısınız?"},
        {
            "key": "again",
            "type": "yes_no",
            "text": "Bizi tekrar tercih eder misiniz?",
            "branches": [{"when": True, "goto": "end"}],
        },
        {"key": "why", "type": "free_text", "text": "Neden?"},
    ],
}


def _survey_filters() -> list[dict[str, Any]]:
    def moment(name: str, description: str) -> dict[str, Any]:
        schema = {"type": "string", "format": "date-time"}
        return {"name": name, "in": "query", "description": description, "schema": schema}

    return [
        {**_query_int("campaign_id", 1, MAX_ID), "description": "Sessions of this campaign."},
        moment("since", "Sessions started at or after this time."),
        moment("until", "Sessions started before this time."),
    ]


def _survey_action(operation_id: str, summary: str) -> dict[str, Any]:
    return {
        "parameters": [SURVEY_ID],
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "responses": {
                "200": _json(schemas.SurveyOut, "The survey in its new state."),
                **_errors(*AUTH_ERRORS, "404"),
                **_conflict(SURVEY_PROBLEMS),
            },
        },
    }


def _survey_paths(request_body: Any) -> dict[str, Any]:
    body = _with_example(request_body(schemas.SurveyIn), SURVEY_EXAMPLE)
    return {
        "/surveys": {
            "get": {
                "operationId": "listSurveys",
                "summary": "Surveys by id, a page at a time, optionally in one status.",
                "parameters": [
                    _query_enum("status", ["draft", "live", "closed"], "Only this status."),
                    _query_int("limit", 1, 200, 50),
                    _query_int("after", 0, MAX_ID),
                ],
                "responses": {
                    "200": _json(schemas.SurveyPage, "A page of surveys."),
                    **_errors(*AUTH_ERRORS, "422"),
                },
            },
            "post": {
                "operationId": "createSurvey",
                "summary": "Create a draft survey (start it with /live).",
                "requestBody": body,
                "responses": {
                    "201": _json(schemas.SurveyOut, "The new draft."),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                    **_conflict(SURVEY_PROBLEMS),
                },
            },
        },
        "/surveys/{survey_id}": {
            "parameters": [SURVEY_ID],
            "get": {
                "operationId": "getSurvey",
                "summary": "One survey with the questions of its current version.",
                "responses": {
                    "200": _json(schemas.SurveyOut, "The survey."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
            "put": {
                "operationId": "replaceSurvey",
                "summary": "Replace the settings and questions; a live survey's questions "
                "change in a new version (running sessions keep theirs).",
                "requestBody": body,
                "responses": {
                    "200": _json(schemas.SurveyOut, "The survey."),
                    **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
                    **_conflict(SURVEY_PROBLEMS),
                },
            },
            "delete": {
                "operationId": "deleteSurvey",
                "summary": "Delete a draft or closed survey that has no sessions.",
                "responses": {
                    "204": {"description": "Deleted."},
                    **_errors(*AUTH_ERRORS, "404"),
                    **_conflict(SURVEY_PROBLEMS),
                },
            },
        },
        "/surveys/{survey_id}/live": _survey_action(
            "startSurvey",
            "Draft or closed → live: its keyword starts it and sessions can be started.",
        ),
        "/surveys/{survey_id}/close": _survey_action(
            "closeSurvey", "Live → closed: no new sessions; running ones go on."
        ),
        "/surveys/{survey_id}/sessions": {
            "parameters": [SURVEY_ID],
            "post": {
                "operationId": "startSurveySession",
                "summary": "Start the survey for one number or contact; the first question "
                "waits for the recipient's allowed hours. Queued while another survey is "
                "open, when the survey says so.",
                "requestBody": _with_example(
                    request_body(schemas.SurveySessionIn), {"phone": "+905321234567"}
                ),
                "responses": {
                    "201": _json(schemas.SurveySessionOut, "The session (open or queued)."),
                    **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
                    **_conflict(SESSION_REFUSED),
                },
            },
        },
        "/surveys/{survey_id}/results": {
            "parameters": [SURVEY_ID],
            "get": {
                "operationId": "getSurveyResults",
                "summary": "The funnel (started → completed, expired, opted out…) and each "
                "question's answers: counts, NPS, mean, free texts, response times.",
                "parameters": _survey_filters(),
                "responses": {
                    "200": _json(schemas.SurveyResults, "The results."),
                    **_errors(*AUTH_ERRORS, "404", "422"),
                },
            },
        },
        "/surveys/{survey_id}/respondents": {
            "parameters": [SURVEY_ID],
            "get": {
                "operationId": "listSurveyRespondents",
                "summary": "One row per session, by id, with each question's answer.",
                "parameters": [
                    *_survey_filters(),
                    _query_int("limit", 1, 500, 100),
                    _query_int("after", 0, MAX_BIG_ID),
                ],
                "responses": {
                    "200": _json(schemas.RespondentPage, "A page of respondents."),
                    **_errors(*AUTH_ERRORS, "404", "422"),
                },
            },
        },
    }


# --- Bookings (interactive/api/bookings.py) ----------------------------------------------------

BOOKING_MODELS: tuple[type[BaseModel], ...] = (
    schemas.VenueOut,
    schemas.VenuePage,
    schemas.AvailabilityOut,
    schemas.BookingIn,
    schemas.BookingPatch,
    schemas.BookingDetail,
    schemas.BookingPage,
)
VENUE_ID = _id_param("venue_id")
BOOKING_ID = _id_param("booking_id")
NOT_AVAILABLE = (
    "`not_available`: the time does not fit the venue; `details[0].reason` says why (past, "
    "too_soon, too_far, closed, outside_hours, too_many, full) and "
    "`details[0].alternatives` lists the nearest free times (UTC, the same day first)"
)
NOT_ALLOWED = "`not_allowed`: the booking's state does not allow the change (`message` says why)"
BOOKING_REFUSED = (
    f"Not booked: {NOT_AVAILABLE}; `invalid_number` (`phone`); `unknown_venue` (`venue_id`)."
)
CHANGE_REFUSED = f"Nothing changed: {NOT_AVAILABLE}; {NOT_ALLOWED}."
NOT_AVAILABLE_EXAMPLE = {
    "error": {
        "code": "not_available",
        "message": "That time is full.",
        "details": [
            {
                "field": "starts_at",
                "message": "That time is full.",
                "reason": "full",
                "alternatives": ["2026-12-12T16:30:00Z", "2026-12-12T17:30:00Z"],
            }
        ],
    }
}
BOOKING_EXAMPLE = {
    "venue_id": 1,
    "phone": "+905321234567",
    "name": "Ayşe Yılmaz",
    "party": 4,
    "starts_at": "2026-12-12T20:00:00+03:00",
    "note": "Cam kenarı",
}


def _moment_query(name: str, description: str) -> dict[str, Any]:
    schema = {"type": "string", "format": "date-time"}
    return {"name": name, "in": "query", "description": description, "schema": schema}


def _booking_change(description: str) -> dict[str, Any]:
    return {
        "200": _json(schemas.BookingDetail, "The booking with its events."),
        **_errors(*AUTH_ERRORS, "400", "404", "415", "422"),
        "409": _json(schemas.ErrorResponse, description),
    }


def _booking_paths(request_body: Any) -> dict[str, Any]:
    refused = _json(schemas.ErrorResponse, BOOKING_REFUSED)
    refused["content"]["application/json"]["example"] = NOT_AVAILABLE_EXAMPLE
    return {
        "/venues": {
            "get": {
                "operationId": "listVenues",
                "summary": "Venues taking bookings, by id, a page at a time.",
                "parameters": [_query_int("limit", 1, 200, 50), _query_int("after", 0, MAX_ID)],
                "responses": {
                    "200": _json(schemas.VenuePage, "A page of venues."),
                    **_errors(*AUTH_ERRORS, "422"),
                },
            }
        },
        "/venues/{venue_id}": {
            "parameters": [VENUE_ID],
            "get": {
                "operationId": "getVenue",
                "summary": "One venue with its hours and booking rules.",
                "responses": {
                    "200": _json(schemas.VenueOut, "The venue."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
        },
        "/venues/{venue_id}/availability": {
            "parameters": [VENUE_ID],
            "get": {
                "operationId": "getVenueAvailability",
                "summary": "The venue's slots on one of its days: covers held, capacity, and "
                "whether a party of `party` people could book each one now (else why not).",
                "parameters": [
                    {
                        "name": "date",
                        "in": "query",
                        "required": True,
                        "description": "The venue's local day.",
                        "schema": {"type": "string", "format": "date"},
                    },
                    {**_query_int("party", 1, schemas.MAX_PARTY), "required": True},
                ],
                "responses": {
                    "200": _json(schemas.AvailabilityOut, "The day's slots."),
                    **_errors(*AUTH_ERRORS, "404", "422"),
                },
            },
        },
        "/bookings": {
            "get": {
                "operationId": "listBookings",
                "summary": "Bookings by id, a page at a time, optionally of one venue, state, "
                "number or time span.",
                "parameters": [
                    {**_query_int("venue_id", 1, MAX_ID), "description": "Of this venue."},
                    _query_enum("state", _enum_values("BookingState"), "Only this state."),
                    _moment_query("since", "Booked for this time or later."),
                    _moment_query("until", "Booked for before this time."),
                    {
                        "name": "phone",
                        "in": "query",
                        "description": "The customer's number in any usual notation (text "
                        "that is not a valid number matches nothing).",
                        "schema": {"type": "string", "maxLength": 64},
                    },
                    _query_int("limit", 1, 200, 50),
                    _query_int("after", 0, MAX_ID),
                ],
                "responses": {
                    "200": _json(schemas.BookingPage, "A page of bookings."),
                    **_errors(*AUTH_ERRORS, "422"),
                },
            },
            "post": {
                "operationId": "createBooking",
                "summary": "Book for a customer: confirmed at once when the venue confirms "
                "by itself, else pending for the desk. The customer gets the SMS that says "
                "which (unless `notify` is false); the venue's webhook gets `booking.requested` "
                "(and `booking.confirmed`).",
                "requestBody": _with_example(request_body(schemas.BookingIn), BOOKING_EXAMPLE),
                "responses": {
                    "201": _json(schemas.BookingDetail, "The booking with its events."),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                    "409": refused,
                },
            },
        },
        "/bookings/{booking_id}": {
            "parameters": [BOOKING_ID],
            "get": {
                "operationId": "getBooking",
                "summary": "One booking with its events (who did what, when).",
                "responses": {
                    "200": _json(schemas.BookingDetail, "The booking with its events."),
                    **_errors(*AUTH_ERRORS, "404"),
                },
            },
            "patch": {
                "operationId": "updateBooking",
                "summary": "Change the time, party, name or note (it must fit as a new "
                "request would; the customer of a confirmed booking is told of a new time "
                "or size), and/or move it: confirm or decline a pending request, cancel, "
                "mark a no-show. All or nothing.",
                "requestBody": _with_example(
                    request_body(schemas.BookingPatch),
                    {"state": "declined", "reason": "Bu akşam özel bir davetimiz var."},
                ),
                "responses": _booking_change(CHANGE_REFUSED),
            },
            "delete": {
                "operationId": "cancelBooking",
                "summary": "Cancel a pending or confirmed booking (the customer is told); it "
                "is kept, cancelled.",
                "responses": {
                    "200": _json(schemas.BookingDetail, "The cancelled booking."),
                    **_errors(*AUTH_ERRORS, "404"),
                    **_conflict(f"Not cancelled: {NOT_ALLOWED}."),
                },
            },
        },
    }


# --- Conversions (interactive/api/conversions.py) -----------------------------------------

CONVERSION_MODELS: tuple[type[BaseModel], ...] = (
    schemas.ConversionIn,
    schemas.ConversionOut,
    schemas.ConversionAccepted,
)

SIGNING = (
    "Signed: `X-Interactive-Timestamp` is the current time in POSIX seconds and "
    "`X-Interactive-Signature` is `sha256=` and the hex HMAC-SHA256 of "
    "`<timestamp>.<raw body>` with the API key itself as the HMAC key (e.g. in Python "
    '`hmac.new(key.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()`). '
    "A timestamp more than 5 minutes from the server's time is refused."
)
UNSIGNED = (
    "No API key, an unknown or revoked one, or a signature problem: `signature_missing`, "
    "`timestamp_invalid`, `timestamp_expired`, `signature_invalid` or `signature_mismatch`, "
    "with the header named in `details`."
)


def _signature_header(name: str, description: str, pattern: str) -> dict[str, Any]:
    schema = {"type": "string", "pattern": pattern}
    return {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _conversion_paths(request_body: Any) -> dict[str, Any]:
    example = {
        "event": "purchase",
        "value": "149.90",
        "currency": "TRY",
        "order_id": "order-123",
        "occurred_at": "2026-12-01T14:05:00+03:00",
        "ic": "Xy3kP0aQ-Lm_8vTz",
    }
    return {
        "/conversions": {
            "post": {
                "operationId": "recordConversion",
                "summary": "Record a conversion the shop's server saw (server-to-server "
                "postback), attributed to the click, link, message or number it names.",
                "description": f"{SIGNING} A checked postback is queued and answered 202; "
                "it is attributed and stored within seconds. Counted once per `order_id` "
                "(shared with the pixel) or `idempotency_key`: a replay answers 200 with "
                "`duplicate` and, once stored, the conversion. Attribution: the click token "
                "`ic`, else the link code, the message id, then the phone number (its last "
                "click, else its latest campaign message), within the campaign's attribution "
                "window after the click (7 days unless the campaign sets 1-90); last click "
                "wins. A conversion that cannot be attributed is kept (`attributed` false).",
                "parameters": [
                    _signature_header(
                        "X-Interactive-Timestamp", "POSIX seconds.", r"^[0-9]{1,12}$"
                    ),
                    _signature_header(
                        "X-Interactive-Signature",
                        "sha256=<hex HMAC-SHA256 of '<timestamp>.<raw body>'>.",
                        r"^sha256=[0-9a-f]{64}$",
                    ),
                ],
                "requestBody": _with_example(request_body(schemas.ConversionIn), example),
                "responses": {
                    "202": _json(schemas.ConversionAccepted, "Accepted: stored within seconds."),
                    "200": _json(
                        schemas.ConversionAccepted,
                        "A replay: counted once; the conversion once stored.",
                    ),
                    **_errors(*AUTH_ERRORS, "400", "415", "422"),
                    "401": _json(schemas.ErrorResponse, UNSIGNED),
                },
            }
        }
    }
