"""A job used by the queue tests: it records what it saw in the database."""

from __future__ import annotations

import logging

from interactive.db import db
from interactive.queue import job
from interactive.redis_store import get_redis, key
from interactive.web.models import User


@job("urgent", timeout=30)
def record_user_email(user_id: int) -> str | None:
    """Writes the email of user ``user_id`` (or "missing") to Redis."""
    user = db.session().get(User, user_id)
    seen = user.email if user is not None else "missing"
    get_redis().rpush(key("test", "seen"), seen)
    return seen


@job("default", timeout=30)
def rename_user(user_id: int, name: str) -> None:
    """Changes a user's name: the job's session is committed by the job edge."""
    user = db.session().get(User, user_id)
    assert user is not None
    user.name = name


@job("default", timeout=30)
def fail_after_change(user_id: int) -> None:
    """Changes a row, then fails: the change must be rolled back."""
    user = db.session().get(User, user_id)
    assert user is not None
    user.name = "should not stick"
    raise RuntimeError("job failed on purpose")


@job("default", timeout=30)
def log_something(user_id: int) -> None:
    """Writes one log line (to check that it carries the job id)."""
    logging.getLogger(__name__).info("job ran for user_id=%s", user_id)
