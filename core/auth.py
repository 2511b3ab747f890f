"""Who is asking, and may they: Flask-Login sessions for pages, bearer tokens for the API, and the `requires`
decorator that every route declares (tests/web/test_permissions.py visits every route as every role)."""
from __future__ import annotations

from functools import wraps

from flask import g, request
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user

from core.db import get_session
from core.errors import AuthenticationRequired, PermissionDenied
from core.models import User
from core.permissions import Perm
from core.services import Actor, actor_for, user_for_token

PUBLIC = "public"
AUTHENTICATED = "authenticated"  # any logged-in user, whatever the role (e.g. logout, language)

login_manager = LoginManager()
login_manager.login_view = "core.login"
login_manager.login_message = _l("Please log in first.")
login_manager.login_message_category = "warning"


class SessionUser(UserMixin):
    def __init__(self, user: User, actor: Actor):
        self.user = user
        self.actor = actor
        self.id = user.id

    def get_id(self) -> str:
        # The password hash suffix invalidates old sessions when the password changes.
        return f"{self.user.id}:{self.user.password_hash[-12:]}"


@login_manager.user_loader
def _load_user(value: str):
    try:
        user_id, tag = value.split(":", 1)
        user = get_session().get(User, int(user_id))
    except (ValueError, TypeError):
        return None
    if user is None or not user.active or user.password_hash[-12:] != tag:
        return None
    return SessionUser(user, actor_for(get_session(), user, ip=request.remote_addr))


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def current_actor() -> Actor | None:
    if is_api_request():
        if "api_actor" not in g:
            g.api_actor = _actor_from_bearer()
        return g.api_actor
    if current_user.is_authenticated:
        return current_user.actor
    return None


def _actor_from_bearer() -> Actor | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    session = get_session()
    user = user_for_token(session, header[7:].strip())
    return actor_for(session, user, ip=request.remote_addr) if user else None


def requires(permission: Perm | str):
    """Declare and enforce the permission a route needs. PUBLIC routes need no login; AUTHENTICATED any login."""

    def decorator(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            if permission != PUBLIC:
                actor = current_actor()
                if actor is None:
                    if is_api_request():
                        raise AuthenticationRequired(_l("A valid bearer token is required."))
                    return login_manager.unauthorized()
                if permission != AUTHENTICATED and permission not in actor.permissions:
                    raise PermissionDenied(_l("Your role does not allow this. Ask an administrator if you need it."))
            return fn(*args, **kwargs)

        wrapper.required_permission = permission
        return wrapper

    return decorator
