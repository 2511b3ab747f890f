"""`yaofang ledger verify`, `yaofang worker` and `yaofang scanner-agent`."""
from __future__ import annotations

import sys
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from core.db import get_session


@click.group("ledger")
def ledger_group():
    """The sales journal."""


@ledger_group.command("verify")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes; registers are checked in parallel (one chain per register).")
@with_appcontext
def ledger_verify(jobs: int):
    """Recompute every register's hash chain; exit code 1 names the first bad sale."""
    from pos.services import verify_journal_parallel

    started = time.perf_counter()
    reports = verify_journal_parallel(get_session(), current_app.config["DATABASE_URL"], jobs)
    took = time.perf_counter() - started
    bad = 0
    for r in reports:
        if r.ok:
            click.echo(f"{r.register_code}: OK, {r.sales} sales chained")
        else:
            bad += 1
            click.echo(f"{r.register_code}: BROKEN at sale {r.first_bad_sale}: {r.problem}")
    total = sum(r.sales for r in reports)
    click.echo(f"checked {total} sales on {len(reports)} registers in {took:.2f} s")
    sys.exit(1 if bad else 0)


@click.command("worker")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between queue rounds.")
@with_appcontext
def worker_command(interval: float):
    """Run the print queue: send receipts, retry with back-off while a printer is off."""
    from pos.printing import process_due_jobs

    app = current_app._get_current_object()
    click.echo("print worker running; Ctrl+C to stop")
    try:
        while True:
            process_due_jobs(app)
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


@click.command("scanner-agent")
@click.option("--port", required=True, help="Serial device of the scanner, e.g. /dev/ttyACM0.")
@click.option("--register", "register_code", required=True, help="Register code, e.g. POS1.")
@click.option("--server", default="http://127.0.0.1:8000", show_default=True)
@click.option("--token", envvar="YAOFANG_TOKEN", required=True, help="Bearer token (yaofang token create USER).")
@click.option("--baudrate", default=9600, show_default=True, type=int)
def scanner_agent_command(port, register_code, server, token, baudrate):
    """Read a serial (USB-COM) scanner and post each code to the register's open cart."""
    from hardware.scanner_agent import run_agent

    click.echo(f"reading {port} for register {register_code} → {server}")
    try:
        run_agent(port, register_code, server, token, baudrate=baudrate)
    except KeyboardInterrupt:
        pass


def register(app) -> None:
    app.cli.add_command(ledger_group)
    app.cli.add_command(worker_command)
    app.cli.add_command(scanner_agent_command)
