"""Quality pages: suspect and locked lots, non-conforming stock, destruction, recalls, stop-sale notices, near-expiry."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("gsp", __name__, url_prefix="/quality")
