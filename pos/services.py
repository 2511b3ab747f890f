"""POS use cases. The foundation creates registers; shifts and sales build on them."""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

from core.db import transaction
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Store
from core.services import Actor, record_audit
from pos.models import Register

PRINTER_URL = re.compile(r"^(network://[\w.\-]+(:\d{1,5})?|usb://[0-9a-fA-F]{4}:[0-9a-fA-F]{4}|serial:///\S+|"
                         r"file:///\S+|dummy:)$")
PRINTER_PROFILES = ("gbk-80mm", "gbk-58mm", "gb18030-80mm", "gb18030-58mm", "big5-80mm", "utf8-80mm")


def create_register(session: Session, actor: Actor, *, store_id: int, code: str, name: str,
                    printer_url: str = "dummy:", printer_profile: str = "gbk-80mm") -> Register:
    code = (code or "").strip()
    if not re.fullmatch(r"[A-Z0-9]{1,16}", code):
        raise InvalidInput(_l("Register code: 1–16 capital letters or digits (it prefixes sale numbers)."))
    if not PRINTER_URL.match(printer_url or ""):
        raise InvalidInput(_l("Printer URL not understood: %(url)s (network://host:9100, usb://04b8:0202, "
                              "serial:///dev/ttyUSB0, file:///dev/usb/lp0 or dummy:)", url=printer_url))
    if printer_profile not in PRINTER_PROFILES:
        raise InvalidInput(_l("Unknown printer profile: %(p)s", p=printer_profile))
    with transaction(session):
        if session.get(Store, store_id) is None:
            raise NotFound(_l("Store not found."))
        if session.exec(select(Register.id).where(Register.store_id == store_id, Register.code == code)).first():
            raise Conflict(_l("Register code %(code)s is already in use.", code=code))
        register = Register(store_id=store_id, code=code, name=name or code, printer_url=printer_url,
                            printer_profile=printer_profile)
        session.add(register)
        session.flush()
        record_audit(session, actor, "register.create", "register", register.id,
                     after={"code": code, "name": name, "printer_url": printer_url}, store_id=store_id)
    return register
