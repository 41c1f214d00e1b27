"""The analytics pages' fixtures: a marketer signed in, and the hand-built data set
stored and rolled up."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from sqlalchemy.orm import Session

from interactive.web.models import Role
from tests.analytics.dataset import Built, seed
from tests.conftest import UserFactory
from tests.helpers import login


@pytest.fixture
def marketer(client: Any, make_user: UserFactory) -> Any:
    user = make_user(Role.MARKETER)
    login(client, user.email)
    return client


@pytest.fixture
def bahar(ctx: Session, redis_client: redis.Redis) -> Built:
    return seed(ctx, redis_client)
