"""Jobs of the analytics feature: keeping the rollups up to date."""

from __future__ import annotations

from interactive.analytics import rollups
from interactive.db import db
from interactive.queue import job
from interactive.redis_store import get_redis
from interactive.scheduler import Periodic


@job("reports", timeout=600, ttl=60)
def refresh_rollups() -> dict[str, int]:
    """The incremental rollup run (see ``interactive.analytics.rollups``)."""
    done = rollups.refresh(db.session(), get_redis())
    return {"campaigns": done.campaigns, "links": done.links, "failed": done.failed}


PERIODIC = [Periodic("rollups", rollups.REFRESH_EVERY_S, refresh_rollups)]
