"""``interactive rollups``: the dashboards' rollup tables by hand."""

from __future__ import annotations

import time

import click


@click.group()
def rollups() -> None:
    """The rollup tables the dashboards read."""


@rollups.command("rebuild")
def rebuild() -> None:
    """Recompute every rollup from the raw events (the periodic job keeps them current;
    this is for after a restore, a migration or a changed definition)."""
    from interactive.analytics import rollups as service
    from interactive.cli import make_app

    app = make_app("rollups")
    started = time.monotonic()
    with app.app_context(), app.extensions["interactive.sessionmaker"]() as session:
        done = service.rebuild(session)
    click.echo(
        f"rebuilt {done.campaigns} campaigns and {done.links} standalone links "
        f"in {time.monotonic() - started:.1f} s"
    )


@rollups.command("refresh")
def refresh() -> None:
    """Run the periodic job once, now: the changed and the live campaigns."""
    from interactive.analytics import rollups as service
    from interactive.cli import make_app
    from interactive.redis_store import get_redis

    app = make_app("rollups")
    with app.app_context(), app.extensions["interactive.sessionmaker"]() as session:
        done = service.refresh(session, get_redis())
    click.echo(f"refreshed {done.campaigns} campaigns, {done.links} links, {done.failed} failed")
