"""``interactive router``: the inbound router process."""

from __future__ import annotations

import click


@click.command()
def router() -> None:
    """Route inbound messages (opt-out, conversations, keyword rules, inbox); several may
    run side by side."""
    from interactive.cli import make_app, stop_event_on_signals
    from interactive.keywords.consumer import Router
    from interactive.keywords.shortcodes import ensure_configured
    from interactive.redis_store import get_redis

    app = make_app("router", long_running=True)
    stop = stop_event_on_signals()
    with app.app_context():
        factory = app.extensions["interactive.sessionmaker"]
        with factory() as session:
            ensure_configured(session, app.config["SMPP_CONNECTION_LIST"])
            session.commit()
        Router(
            factory,
            get_redis(),
            str(app.config["REDIS_PREFIX"]),
            region=str(app.config.get("DEFAULT_REGION", "TR")),
        ).run(stop)
