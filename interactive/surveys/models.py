"""Surveys, their versions, sessions (one per respondent) and answers.

A survey's questions live in versions: going live freezes the current version, and editing
a live survey makes a new one, so sessions already running keep the questions they were
asked and their answers keep their meaning. A session is the state machine of one
respondent on one short code; an answer is upserted per session and question.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from interactive.db import Base, UTCDateTime, enum_by_value, utcnow
from interactive.outbound.models import BigId, Traffic

JSON = sa.JSON()


class SurveyStatus(enum.StrEnum):
    DRAFT = "draft"
    LIVE = "live"
    CLOSED = "closed"


class WhenOpen(enum.StrEnum):
    """What starting a survey does for a contact who has another one open here."""

    QUEUE = "queue"  # starts when the open one ends
    REPLACE = "replace"  # the open one ends (replaced)
    REFUSE = "refuse"  # not started


class AfterReprompts(enum.StrEnum):
    SKIP = "skip"  # go on with the next question
    END = "end"  # end the survey


class SessionState(enum.StrEnum):
    QUEUED = "queued"  # waiting for another survey of this contact to end
    OPEN = "open"
    COMPLETED = "completed"
    EXPIRED = "expired"
    OPTED_OUT = "opted_out"
    ENDED = "ended"  # too many invalid answers, replaced, or not allowed to be messaged


FINISHED = frozenset(
    {SessionState.COMPLETED, SessionState.EXPIRED, SessionState.OPTED_OUT, SessionState.ENDED}
)


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    status: Mapped[SurveyStatus] = mapped_column(
        enum_by_value(SurveyStatus, "survey_status"), default=SurveyStatus.DRAFT
    )
    brand_id: Mapped[int | None] = mapped_column(sa.ForeignKey("brands.id", ondelete="SET NULL"))
    short_code: Mapped[str] = mapped_column(sa.String(21))
    traffic: Mapped[Traffic] = mapped_column(
        enum_by_value(Traffic, "traffic"), default=Traffic.INFORMATIONAL
    )
    intro: Mapped[str] = mapped_column(sa.Text, default="")
    completion: Mapped[str] = mapped_column(sa.Text, default="")
    # The keyword that starts it (a rule with the "survey" handler is kept in step).
    keyword: Mapped[str | None] = mapped_column(sa.String(64))
    when_open: Mapped[WhenOpen] = mapped_column(
        enum_by_value(WhenOpen, "survey_when_open"), default=WhenOpen.QUEUE
    )
    max_reprompts: Mapped[int] = mapped_column(default=2)
    after_reprompts: Mapped[AfterReprompts] = mapped_column(
        enum_by_value(AfterReprompts, "survey_after_reprompts"), default=AfterReprompts.SKIP
    )
    remind_after_hours: Mapped[int | None] = mapped_column(default=4)  # once, per question
    question_expiry_hours: Mapped[int | None] = mapped_column(default=24)
    expiry_hours: Mapped[int | None] = mapped_column(default=72)  # the whole survey
    current_version_id: Mapped[int | None] = mapped_column()
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SurveyVersion(Base):
    """The questions of a survey as they were when sessions were started on them.

    ``questions`` is a list of ``{"key", "text", "type", "reprompt", "options", "min",
    "max", "integer_only", "lettered", "min_choices", "max_choices", "branches": [{"when":
    value, "goto": key or "end"}], "next": key or "end" or None}``; the key of a question
    stays the same across versions, so results line up."""

    __tablename__ = "survey_versions"
    __table_args__ = (sa.UniqueConstraint("survey_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(default=1)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    frozen: Mapped[bool] = mapped_column(default=False)  # sessions use it: edits copy it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SurveySession(Base):
    __tablename__ = "survey_sessions"
    __table_args__ = (
        sa.Index("ix_survey_sessions_phone_short_code_state", "phone", "short_code", "state"),
        sa.Index("ix_survey_sessions_survey_id_state", "survey_id", "state"),
        sa.Index("ix_survey_sessions_due", "state", "due_at"),
        # One open session per number and short code, whatever races.
        sa.Index(
            "uq_survey_sessions_open",
            "phone",
            "short_code",
            unique=True,
            postgresql_where=sa.text("state = 'open'"),
            sqlite_where=sa.text("state = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("survey_versions.id"))
    phone: Mapped[str] = mapped_column(sa.String(21))
    short_code: Mapped[str] = mapped_column(sa.String(21))
    contact_id: Mapped[int | None] = mapped_column(BigId, index=True)
    campaign_id: Mapped[int | None] = mapped_column()
    trigger: Mapped[str] = mapped_column(sa.String(16), default="keyword")  # keyword/campaign/api
    state: Mapped[SessionState] = mapped_column(
        enum_by_value(SessionState, "survey_session_state"), default=SessionState.OPEN
    )
    question_key: Mapped[str | None] = mapped_column(sa.String(32))  # asked, awaiting answer
    reprompts: Mapped[int] = mapped_column(default=0)
    asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded: Mapped[bool] = mapped_column(default=False)
    # The next moment the timeouts job looks at it (reminder, question or survey expiry, a
    # question held back by quiet hours).
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A question that could not go yet (quiet hours): sent at ``due_at``.
    held_text: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str] = mapped_column(sa.String(120), default="")


class SurveyAnswer(Base):
    """One question of one session: when it was asked, how often re-asked, the answer."""

    __tablename__ = "survey_answers"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "question_key"),
        sa.Index("ix_survey_answers_survey_id_question_key", "survey_id", "question_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("survey_sessions.id", ondelete="CASCADE")
    )
    survey_id: Mapped[int] = mapped_column()
    question_key: Mapped[str] = mapped_column(sa.String(32))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reprompts: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[bool] = mapped_column(default=False)
    raw: Mapped[str | None] = mapped_column(sa.Text)  # the reply as sent
    value: Mapped[Any] = mapped_column(JSON, nullable=True)  # the parsed answer
    inbound_id: Mapped[int | None] = mapped_column(BigId)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
