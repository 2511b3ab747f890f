"""POS tables. The foundation has registers; shifts and the sales journal build on them."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class Register(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("store_id", "code"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    code: str = Field(max_length=16)  # also the prefix of this register's sale numbers
    name: str = Field(max_length=64)  # counter name, e.g. 1号收银台
    printer_url: str = Field(default="dummy:", max_length=255)
    printer_profile: str = Field(default="gbk-80mm", max_length=32)
    active: bool = True
