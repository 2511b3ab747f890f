"""POS pages. The foundation lists the store's registers (counters and their printers)."""
from flask import Blueprint, render_template
from sqlmodel import select

from core.auth import current_actor, requires
from core.db import get_session
from core.permissions import Perm
from pos.models import Register

bp = Blueprint("pos", __name__)


@bp.route("/registers")
@requires(Perm.STORE_READ)
def registers():
    rows = get_session().exec(select(Register).where(Register.store_id == current_actor().store_id)
                              .order_by(Register.code)).all()
    return render_template("pos/registers.html", registers=rows)
