"""The engine's settings per backend, as the processes' sessions see them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session


def test_the_engine_is_set_up_for_its_backend(ctx: Session) -> None:
    if ctx.get_bind().dialect.name == "postgresql":
        # Plans made for the values at hand: a generic plan kept from when a table was
        # empty would read the whole table for every lookup until the next ANALYZE.
        assert ctx.execute(sa.text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
    else:
        assert ctx.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert int(ctx.execute(sa.text("PRAGMA busy_timeout")).scalar() or 0) > 0
