"""gunicorn, started from code so that settings are validated (one clear line) first."""

from __future__ import annotations

from typing import Any

from flask import Config as FlaskConfig
from flask import Flask
from gunicorn.app.base import BaseApplication

ACCESS_LOG_FORMAT = (
    '%(h)s "%(r)s" status=%(s)s bytes=%(B)s duration_ms=%(M)s request_id=%({x-request-id}o)s'
)


class WebApplication(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        # Each worker builds its own app after the fork: no connection crosses it.
        from interactive.app import create_app
        from interactive.heap import freeze_startup_heap

        app = create_app()
        freeze_startup_heap()
        return app


def serve(config: FlaskConfig, bind: str) -> None:
    options = {
        "bind": bind,
        "workers": config["WEB_WORKERS"],
        "threads": config["WEB_THREADS"],
        "worker_class": "gthread",
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "graceful_timeout": 10,
        "timeout": 60,
        "forwarded_allow_ips": "*" if config["TRUSTED_PROXIES"] else "127.0.0.1",
        "proc_name": "interactive-web",
        # gunicorn's control socket lives in the home folder and is shared by every
        # instance of the user; we do not use it.
        "control_socket_disable": True,
    }
    WebApplication(options).run()
