"""GSP tables. Quality records (lot events, destruction, recall, expiry marks) and curing/environment records are
append-only GSP records: corrections are new rows with a reason (DESIGN.md invariant 4)."""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Optional

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import ts_field

# --- quality: locks, non-conforming, destruction, recall, stop-sale, expiry tiers ----------------------------------------


# --- curing (养护), storage conditions, temperature and humidity ----------------------------------------------------------
