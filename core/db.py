"""Database engine, per-request sessions and the write-transaction helper.

SQLite: WAL, foreign keys, busy timeout, and `BEGIN IMMEDIATE` for write transactions so that two writers queue
instead of failing half-way. PostgreSQL: row locks are taken by the statements themselves (`SELECT … FOR UPDATE`,
conditional `UPDATE`), see inventory.services.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from flask import current_app, g, has_app_context
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlmodel import Session

WRITE_OPTION = "yaofang_write"


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):
            # Take BEGIN into our own hands (pysqlite would otherwise issue a deferred BEGIN itself).
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA recursive_triggers=ON")  # REPLACE then fires delete triggers too
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            immediate = conn.get_execution_options().get(WRITE_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def is_postgres(session_or_engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def get_engine() -> Engine:
    return current_app.extensions["yaofang.engine"]


def get_session() -> Session:
    """The session of the current request (or app context), closed when the context ends."""
    if "db_session" not in g:
        g.db_session = new_session(get_engine())
    return g.db_session


def close_session(_exc=None) -> None:
    session = g.pop("db_session", None) if has_app_context() else None
    if session is not None:
        end_session(session)


def end_session(session: Session) -> None:
    """Close a session. A clean read transaction is committed rather than rolled back: psycopg drops its prepared
    statements on rollback, so committing keeps PostgreSQL from re-planning every query of the next request.
    Anything left unsaved outside `transaction()` is never written (rolled back instead)."""
    try:
        if session.in_transaction() and not (session.new or session.dirty or session.deleted) \
                and not session.info.get("writing"):
            session.commit()
    except Exception:  # a broken transaction: closing rolls it back
        pass
    finally:
        session.close()


@contextlib.contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Run a block as one write transaction: all of it commits, or none of it.

    Nested use joins the outer transaction. A read transaction still open on the session is ended first, so the
    write starts with `BEGIN IMMEDIATE` on SQLite (no lock upgrade half-way, no "database is locked" mid-sale).
    """
    if session.info.get("writing"):
        yield session
        return
    if session.in_transaction():
        session.rollback()
    session.info["writing"] = True
    try:
        session.connection(execution_options={WRITE_OPTION: True})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info["writing"] = False


def in_write_transaction(session: Session) -> bool:
    return bool(session.info.get("writing"))


@contextlib.contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session for CLI commands and jobs (outside a request)."""
    session = new_session(engine)
    try:
        yield session
    finally:
        end_session(session)
