"""The `yaofang` command line (click through Flask's CLI)."""
from __future__ import annotations

import secrets
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlmodel import select

from core.db import get_session
from core.errors import YaofangError


def _create_app(*_args, **_kwargs):
    from core.app import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main():
    """Yaofang (药房): pharmacy inventory and point of sale."""


def fail(exc: YaofangError):
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(2)


def system_actor():
    from core.services import Actor

    return Actor.system("cli")


def register(app) -> None:
    app.cli.add_command(init_command)
    app.cli.add_command(serve_command)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(user_group)
    app.cli.add_command(token_group)
    app.cli.add_command(jobs_group)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


@click.command("init")
@click.option("--demo", is_flag=True, help="Load the demo store when the database holds no users yet.")
@click.option("--admin-password", envvar="YAOFANG_ADMIN_PASSWORD", default=None,
              help="First admin's password (a random one is printed if not given).")
@with_appcontext
def init_command(demo: bool, admin_password: str | None):
    """Migrate the database to the newest schema; on an empty database create the first admin (or the demo)."""
    from core.migrate import upgrade
    from core.models import User
    from core.services import create_store, create_user

    url = current_app.config["DATABASE_URL"]
    upgrade(url)
    click.echo(f"database migrated: {url.split('@')[-1]}")
    db = get_session()
    if db.exec(select(User.id)).first() is not None:
        click.echo("users exist: nothing else to do")
        return
    if demo:
        for loader in current_app.extensions.get("yaofang.demo_loaders", []):
            click.echo(loader(db, current_app.config))
        return
    password = admin_password or secrets.token_urlsafe(12)
    store = create_store(db, system_actor(), code="S001", name="Yaofang", timezone=current_app.config["TIMEZONE"])
    create_user(db, system_actor(), username="admin", display_name="Administrator", password=password,
                store_id=store.id, roles=["admin"])
    click.echo(f"first admin created: admin / {password}  (change it after logging in)")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Do not start the scheduler in this process.")
@with_appcontext
def serve_command(host: str, port: int, threads: int, no_scheduler: bool):
    """Serve Yaofang with waitress (and the scheduler in-process, for a single machine)."""
    from waitress import serve

    from core.scheduler import build_scheduler

    app = current_app._get_current_object()
    scheduler = None
    if app.config["SCHEDULER_IN_PROCESS"] and not no_scheduler:
        scheduler = build_scheduler(app, blocking=False)
        scheduler.start()
        click.echo(f"scheduler started in-process with {len(scheduler.get_jobs())} jobs")
    # The print queue worker runs in-process too, for the single-machine default (`yaofang worker` otherwise).
    for start in app.extensions.get("yaofang.background", []):
        start(app)
    click.echo(f"Yaofang serving on http://{host}:{port}")
    try:
        serve(app, host=host, port=port, threads=threads, ident="yaofang")
    finally:
        if scheduler:
            scheduler.shutdown(wait=False)


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the scheduled jobs (blocking). Safe to run on several machines: each slot runs once."""
    from core.scheduler import build_scheduler

    scheduler = build_scheduler(current_app._get_current_object(), blocking=True)
    click.echo(f"scheduler running {len(scheduler.get_jobs())} jobs; Ctrl+C to stop")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass


@click.group("user")
def user_group():
    """Users, roles and staff licences."""


@user_group.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help="Repeat for several roles.")
@click.option("--name", "display_name", default=None)
@click.option("--store", "store_code", default=None, help="Store code (default: the first store).")
@click.password_option()
@with_appcontext
def user_create(username, roles, display_name, store_code, password):
    from core.models import Store
    from core.services import create_user

    db = get_session()
    stmt = select(Store).where(Store.code == store_code) if store_code else select(Store).order_by(Store.id)
    store = db.exec(stmt).first()
    if store is None:
        click.echo("error: no such store; run `yaofang init` first", err=True)
        sys.exit(2)
    try:
        user = create_user(db, system_actor(), username=username, display_name=display_name or username,
                           password=password, store_id=store.id, roles=list(roles))
    except YaofangError as exc:
        fail(exc)
    click.echo(f"user {user.username} created in store {store.code} with roles {', '.join(roles)}")


def _user(db, username):
    from core.models import User

    user = db.exec(select(User).where(User.username == username)).first()
    if user is None:
        click.echo(f"error: no user {username}", err=True)
        sys.exit(2)
    return user


@user_group.command("unlock")
@click.argument("username")
@with_appcontext
def user_unlock(username):
    from core.services import unlock_user

    db = get_session()
    unlock_user(db, system_actor(), _user(db, username).id)
    click.echo(f"{username} unlocked")


@user_group.command("licence")
@click.argument("username")
@click.option("--kind", required=True, type=click.Choice(["pharmacist", "pharmacy_technician", "health_certificate",
                                                          "training"]))
@click.option("--number", required=True)
@click.option("--valid-until", required=True, type=click.DateTime(formats=["%Y-%m-%d"]))
@with_appcontext
def user_licence(username, kind, number, valid_until):
    from core.services import add_licence

    db = get_session()
    try:
        add_licence(db, system_actor(), _user(db, username).id, kind=kind, number=number,
                    valid_until=valid_until.date())
    except YaofangError as exc:
        fail(exc)
    click.echo(f"licence {kind} {number} added to {username}")


@click.group("token")
def token_group():
    """API bearer tokens."""


@token_group.command("create")
@click.argument("username")
@click.option("--name", default="api")
@with_appcontext
def token_create(username, name):
    """Create a bearer token for USERNAME; it is shown once and stored only as a hash."""
    from core.services import create_token

    db = get_session()
    plain, _token = create_token(db, system_actor(), _user(db, username).id, name)
    click.echo(plain)


@click.group("jobs")
def jobs_group():
    """Scheduled jobs."""


@jobs_group.command("run")
@click.argument("name")
@with_appcontext
def jobs_run(name):
    """Run a scheduled job now (recorded in the job runs)."""
    from core.scheduler import JOBS, run_job_now

    if name not in JOBS:
        click.echo(f"error: unknown job {name}; known: {', '.join(sorted(JOBS))}", err=True)
        sys.exit(2)
    run = run_job_now(current_app._get_current_object(), name, triggered_by="cli")
    click.echo(f"{name}: {run.status} {run.message}")
    sys.exit(0 if run.status == "ok" else 1)


@click.command("backup")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Where to write the backup (default: BACKUP_DIR, or <instance>/backups).")
@click.option("--keep", type=click.IntRange(min=1), default=None,
              help="Keep this many newest backups and delete older ones (default: BACKUP_KEEP, 14).")
@with_appcontext
def backup_command(directory, keep):
    """Back up the database while the server runs: SQLite through its online backup API, PostgreSQL with pg_dump."""
    from pathlib import Path

    from core.backup import backup_database, backup_dir, backup_keep

    cfg = current_app.config
    try:
        result = backup_database(cfg["DATABASE_URL"], Path(directory) if directory else backup_dir(cfg),
                                 keep=keep or backup_keep(cfg), timezone=cfg["TIMEZONE"],
                                 pg_bin_dir=cfg.get("PG_BIN_DIR"))
    except YaofangError as exc:
        fail(exc)
    click.echo(result.describe())


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-safety-backup", is_flag=True,
              help="Do not back up the current database first (e.g. when it is too damaged to read).")
@with_appcontext
def restore_command(file, yes, no_safety_backup):
    """Replace the whole database with a backup made by `yaofang backup`. Stop the server and scheduler first:
    everything written since the backup is lost (the current database is backed up first, unless told not to)."""
    from pathlib import Path

    from core.backup import backup_database, backup_dir, check_backup, restore_database
    from core.db import close_session, session_scope, transaction
    from core.errors import NotFound
    from core.migrate import current_head
    from core.services import record_audit

    cfg = current_app.config
    url = cfg["DATABASE_URL"]
    path = Path(file)
    try:
        revision = check_backup(url, path, pg_bin_dir=cfg.get("PG_BIN_DIR"))
    except YaofangError as exc:
        fail(exc)
    where = url.split("@")[-1]
    click.echo(f"{path.name}: a valid backup (schema revision {revision})")
    if not yes:
        click.confirm(f"Replace the database {where} with {path.name}? Everything written since that backup is lost",
                      abort=True)
    engine = current_app.extensions["yaofang.engine"]
    close_session()
    engine.dispose()  # no pooled connection of ours holds a lock or a stale schema
    try:
        if not no_safety_backup:
            try:
                safety = backup_database(url, backup_dir(cfg), keep=None, timezone=cfg["TIMEZONE"],
                                         pg_bin_dir=cfg.get("PG_BIN_DIR"))
                click.echo(f"current database saved first: {safety.describe()}")
            except NotFound:
                click.echo("no current database file: nothing to save first")
        restore_database(url, path, pg_bin_dir=cfg.get("PG_BIN_DIR"))
    except YaofangError as exc:
        fail(exc)
    finally:
        engine.dispose()
    click.echo(f"database {where} restored from {path.name}")
    if revision != current_head():
        click.echo(f"the backup's schema ({revision}) is older than this version's ({current_head()}): "
                   "run `yaofang init` to migrate it")
        return
    with session_scope(engine) as db:
        with transaction(db):
            record_audit(db, system_actor(), "database.restore", "database", None,
                         after={"file": path.name, "revision": revision})
