"""``interactive gateway …`` and ``interactive simulator``."""

from __future__ import annotations

import sys

import click


@click.group()
def gateway() -> None:
    """The SMPP gateway: one process per SMSC connection."""


@gateway.command("run")
@click.argument("name", required=False)
def gateway_run(name: str | None) -> None:
    """Keep the bind(s) of connection NAME (default: the only one configured) and move
    messages, receipts and replies until stopped (SIGTERM/Ctrl-C unbinds first)."""
    from interactive.cli import make_app, stop_event_on_signals
    from interactive.smpp.gateway import Gateway

    app = make_app("gateway", long_running=True)
    connections = {c.name: c for c in app.config["SMPP_CONNECTION_LIST"]}
    if name is None and len(connections) == 1:
        name = next(iter(connections))
    if name not in connections:
        known = ", ".join(connections) or "none (set INTERACTIVE_SMPP_CONNECTIONS)"
        click.echo(f"error: no connection {name!r}; configured: {known}", err=True)
        sys.exit(2)
    Gateway(app, connections[name]).run(stop_event_on_signals())


@gateway.command("list")
def gateway_list() -> None:
    """List the configured connections (without passwords)."""
    from interactive.cli import make_app

    app = make_app("cli")
    for c in app.config["SMPP_CONNECTION_LIST"]:
        click.echo(f"{c.name}\t{c.host}:{c.port}\t{c.bind_mode}\t{c.system_id}")


@click.command()
def simulator() -> None:
    """Run the built-in SMSC simulator (development and demos)."""
    from interactive.cli import make_app, stop_event_on_signals
    from interactive.smpp.handset import inject_typed_replies
    from interactive.smpp.simulator import SimulatorConfig, run_simulator

    app = make_app("simulator", long_running=True)
    config = app.config
    host, _, port = str(config["SIMULATOR_BIND"]).rpartition(":")
    settings = SimulatorConfig(
        host=host or "127.0.0.1",
        port=int(port),
        credentials={str(config["SIMULATOR_SYSTEM_ID"]): str(config["SIMULATOR_PASSWORD"])},
        receipt_delay=float(config["SIMULATOR_RECEIPT_DELAY"]),
        keep_records=int(config["SIMULATOR_KEEP_RECORDS"]),
    )
    stop = stop_event_on_signals()
    run_simulator(settings, stop, lambda sim: inject_typed_replies(app, sim, stop))
