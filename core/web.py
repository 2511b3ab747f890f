"""Helpers shared by the HTML views and the JSON API: error responses, request parsing, the acting user."""
from __future__ import annotations

import logging
from datetime import date

from flask import flash, jsonify, redirect, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from core.errors import InvalidInput, MalformedRequest, PermissionDenied, YaofangError

log = logging.getLogger("yaofang")

HTTP_CODES = {400: "bad_request", 401: "authentication_required", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
              422: "invalid_input", 429: "too_many_requests"}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, details: dict | None = None):
    if _wants_json():
        body = {"error": {"code": code, "message": message}}
        if details:
            body["error"]["details"] = details
        return jsonify(body), status
    return render_template("errors/error.html", status=status, code=code, message=message), status


def register_error_handlers(app) -> None:
    @app.before_request
    def _refuse_nul_in_forms():
        if request.form and _has_nul(list(request.form.items(multi=True))):
            return error_response(400, "invalid_text", _("Text must not contain NUL characters."))

    @app.errorhandler(YaofangError)
    def _domain_error(exc: YaofangError):
        return error_response(exc.status, exc.code, str(exc.message), exc.details)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        return error_response(400, "csrf_failed", _("This form has expired or did not come from Yaofang. "
                                                    "Reload the page and try again."))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        messages = {404: _("Page or record not found."), 405: _("This action is not allowed here."),
                    400: _("The request could not be understood."), 413: _("The request is too large.")}
        return error_response(status, HTTP_CODES.get(status, "http_error"), messages.get(status, exc.description))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", _("Something went wrong on the server; nothing was saved. "
                                                       "Please try again or tell the administrator."))


def json_body() -> dict:
    """The request's JSON object, or a clear 400 (malformed JSON, wrong content type, not an object)."""
    data = request.get_json(silent=True)
    if data is None:
        raise MalformedRequest(_l("The request body must be valid JSON (Content-Type: application/json)."),
                               code="invalid_json")
    if not isinstance(data, dict):
        raise MalformedRequest(_l("The request body must be a JSON object."), code="invalid_json")
    if _has_nul(data):
        raise InvalidInput(_l("Text must not contain NUL characters."), code="invalid_text")
    return data


def _has_nul(value) -> bool:
    """Text with a NUL character anywhere in a JSON value or form (PostgreSQL cannot store it; refused on both)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend([*item, *item.values()])
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, str) and "\x00" in item:
            return True
    return False


def int_arg(name: str, default: int | None = None, *, minimum: int = 0, maximum: int = 10**9) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(_l("Parameter %(name)s must be a whole number.", name=name), code="invalid_parameter")
    if not minimum <= value <= maximum:
        raise InvalidInput(_l("Parameter %(name)s is out of range.", name=name), code="invalid_parameter")
    return value


def date_arg(name: str, default: date | None = None) -> date | None:
    """A YYYY-MM-DD query parameter, or a clear 422."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(_l("Parameter %(name)s must be a date like 2026-06-15.", name=name),
                           code="invalid_parameter")


def require_store_access(actor, store_id: int) -> None:
    """Users act within their own store; chain-wide roles come with the quality and procurement issues."""
    if actor.store_id != store_id:
        raise PermissionDenied(_l("This record belongs to another store."))


def form_errors(form) -> str:
    """A WTForms form's errors as one line: "label: error, error; label: error"."""
    return "; ".join(f"{form[k].label.text}: {', '.join(str(e) for e in v)}" for k, v in form.errors.items())


def run_form(form, action, success, page, to):
    """Validate the form (if any), run the service, flash `success` (text, or a function of the result) and redirect
    to `to(result)`; on bad input show `page(status)` again with the 4xx status — nothing was written, as each
    service runs in one transaction."""
    if form is not None and not form.validate():
        flash(_("Please correct: %(errors)s", errors=form_errors(form)), "error")
        return page(422)
    try:
        result = action()
    except YaofangError as exc:
        flash(str(exc.message), "error")
        return page(exc.status)
    flash(success(result) if callable(success) else success, "success")
    return redirect(to(result))
