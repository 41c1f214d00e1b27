"""Users, roles and API keys."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from interactive.db import Base, UTCDateTime, enum_by_value, utcnow


def new_session_nonce() -> str:
    return secrets.token_hex(16)


class Role(enum.StrEnum):
    ADMIN = "admin"
    MARKETER = "marketer"
    DESK = "desk"
    VIEWER = "viewer"


class Permission(enum.StrEnum):
    """What a role may do. Pages and API endpoints declare the permission they need."""

    DASHBOARD = "dashboard"  # read dashboards and analytics
    AUDIENCES = "audiences"
    CAMPAIGNS = "campaigns"
    LINKS = "links"
    SURVEYS = "surveys"
    ANALYTICS = "analytics"
    INBOX = "inbox"
    BOOKINGS = "bookings"
    USERS = "users"
    SETTINGS = "settings"
    GATEWAY = "gateway"


MARKETER_PERMISSIONS = frozenset(
    {
        Permission.DASHBOARD,
        Permission.AUDIENCES,
        Permission.CAMPAIGNS,
        Permission.LINKS,
        Permission.SURVEYS,
        Permission.ANALYTICS,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.MARKETER: MARKETER_PERMISSIONS,
    Role.DESK: frozenset({Permission.INBOX, Permission.BOOKINGS}),
    Role.VIEWER: frozenset({Permission.DASHBOARD}),
}


class User(Base):
    __tablename__ = "users"
    __table_args__ = (sa.CheckConstraint("email = lower(email)", name="email_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(enum_by_value(Role, "role"))
    locale: Mapped[str] = mapped_column(sa.String(8))
    timezone: Mapped[str] = mapped_column(sa.String(64))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of the id kept in the session cookie; a new one signs out every session.
    session_nonce: Mapped[str] = mapped_column(sa.String(32), default=new_session_nonce)

    api_keys: Mapped[list[ApiKey]] = relationship(
        back_populates="created_by", foreign_keys="ApiKey.created_by_id"
    )

    # Flask-Login's user protocol. The id it stores in the session carries the session
    # nonce, so changing the password (a new nonce) signs out every other session.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_nonce}"

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


class ApiKey(Base):
    """A REST API key. Only a SHA-256 of the secret is stored; the prefix finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    role: Mapped[Role] = mapped_column(enum_by_value(Role, "role"))
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship(
        back_populates="api_keys", foreign_keys=[created_by_id]
    )

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]
