"""GSP JSON API."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("gsp_api", __name__, url_prefix="/api/v1")

OPENAPI: dict = {"paths": {}, "schemas": {}}
