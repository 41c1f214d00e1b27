"""Error responses: JSON under ``/api/``, pages elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

PAGE_TEXTS = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    403: (_l("Not allowed"), _l("Your role does not give access to this page.")),
    404: (_l("Not found"), _l("There is nothing at this address.")),
    405: (_l("Not allowed"), _l("This address does not accept this kind of request.")),
    410: (_l("Gone"), _l("This is no longer available.")),
    413: (_l("Too large"), _l("The upload is larger than allowed.")),
    429: (_l("Too many requests"), _l("Slow down and try again in a moment.")),
    500: (_l("Something went wrong"), _l("The error is logged. Try again in a moment.")),
}


def register_error_handlers(app: Flask) -> None:
    from interactive.api.errors import api_error_response

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> ResponseReturnValue:
        title = _l("The form has expired")
        text = _l("Reload the page and send the form again.")
        return render_template("web/error.html", code=400, title=title, text=text), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        if request.path.startswith("/api/"):
            return api_error_response(exc)
        code = exc.code or 500
        title, text = PAGE_TEXTS.get(code, (exc.name, exc.description or ""))
        response = exc.get_response()
        body = render_template("web/error.html", code=code, title=title, text=text)
        return body, code, {k: v for k, v in response.headers.items() if k == "Retry-After"}

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        log.error("unhandled error path=%s", request.path, exc_info=exc)
        if request.path.startswith("/api/"):
            return api_error_response(InternalServerError())
        title, text = PAGE_TEXTS[500]
        try:
            return render_template("web/error.html", code=500, title=title, text=text), 500
        except Exception:
            log.exception("error page failed to render")
            return str(title), 500, {"Content-Type": "text/plain; charset=utf-8"}
