"""``interactive users …``: manage users from the shell."""

from __future__ import annotations

import secrets
import sys

import click
import sqlalchemy as sa

from interactive.db import db
from interactive.web import service
from interactive.web.models import Role, User


@click.group()
def users() -> None:
    """Create and list users, reset a password."""


def _app():  # type: ignore[no-untyped-def]
    from interactive.cli import make_app

    return make_app("cli")


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.ADMIN.value)
@click.option("--name", default="")
@click.option("--password", help="Default: a random one, printed once.")
@click.option("--locale", type=click.Choice(["tr", "en"]))
@click.option("--timezone")
def create(
    email: str,
    role: str,
    name: str,
    password: str | None,
    locale: str | None,
    timezone: str | None,
) -> None:
    """Create a user (admin by default) and print the login."""
    app = _app()
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    with app.app_context(), db.transaction() as session:
        try:
            user = service.create_user(
                session,
                email=email,
                password=password,
                role=Role(role),
                name=name,
                locale=locale or app.config["DEFAULT_LOCALE"],
                timezone=timezone or app.config["DEFAULT_TIMEZONE"],
            )
        except service.ServiceError as exc:
            click.echo(f"error: {exc.message.replace('_', ' ')}", err=True)
            sys.exit(1)
        click.echo(f"created {user.role.value} {user.email}")
    if generated:
        click.echo(f"password: {password}")


@users.command("list")
def list_users() -> None:
    """List users with their role and status."""
    app = _app()
    with app.app_context():
        for user in db.session().scalars(sa.select(User).order_by(User.email)):
            status = "active" if user.active else "inactive"
            click.echo(f"{user.id}\t{user.email}\t{user.role.value}\t{status}")


@users.command("set-password")
@click.argument("email")
@click.option("--password", help="Default: a random one, printed once.")
def set_password(email: str, password: str | None) -> None:
    """Set a user's password (signs out their sessions)."""
    app = _app()
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    with app.app_context(), db.transaction() as session:
        user = service.get_user_by_email(session, email)
        if user is None:
            click.echo(f"error: no user {email}", err=True)
            sys.exit(1)
        try:
            service.set_password(session, user, password)
        except service.ServiceError as exc:
            click.echo(f"error: {exc.message.replace('_', ' ')}", err=True)
            sys.exit(1)
    click.echo(f"password set for {email}" + (f": {password}" if generated else ""))
