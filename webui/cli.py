"""The ``docroute`` command line (DESIGN.md, "Interfaces other tools rely on").

Only click and plain constants are imported here: each command imports the engine (and
with it SQLAlchemy and SpiffWorkflow) itself, so ``docroute --help``, ``--version`` and
argument errors answer at once (tests/test_cli_startup.py).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from engine.constants import CLEARANCES, MAX_EXPIRY_DAYS
from engine.ids import MAX_ID

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

    from engine import Docroute


def _docroute() -> Docroute:
    from engine import Docroute, Settings

    try:
        return Docroute(Settings.from_env())
    except ValueError as error:
        _fail(str(error))


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"docroute: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docroute", message="%(prog)s %(version)s")
def main() -> None:
    """docroute: official-document routing on BPMN."""


@main.command()
def init() -> None:
    """Create or upgrade the database and deploy workflows/ and forms/ (idempotent)."""
    from engine import WorkflowInvalid

    app = _docroute()
    try:
        for line in app.init():
            click.echo(line)
    except WorkflowInvalid as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)


@main.command()
def demo() -> None:
    """Seed the demo organisation, users and documents; print the demo logins."""
    from engine import demo as demo_data

    app = _docroute()
    app.init()
    click.echo(demo_data.seed(app))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="web worker processes (default: one per core, at least 2; SQLite: 1)")
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="threads per worker (default: 4; SQLite: 8)")
@click.option("--no-scheduler", is_flag=True, help="do not fire timers from this server")
@click.option("--dev", is_flag=True,
              help="werkzeug's development server (one process, reloads nothing)")
def serve(host: str, port: int, workers: int | None, threads: int | None,
          no_scheduler: bool, dev: bool) -> None:
    """Run the web UI and API under gunicorn, with one timer scheduler (docs/deployment.md)."""
    if dev:
        _serve_dev(host, port, no_scheduler)
        return
    from engine.config import Settings

    from . import serving

    # The one source of the database URL, as the web workers will read it.
    sqlite = not Settings.from_env().db_url.startswith("postgresql")
    if sqlite and (workers or 1) > 1:
        _fail("SQLite is served by one process (it has one writer at a time); give it "
              "--threads instead, or use PostgreSQL for several workers", code=2)
    options = serving.ServeOptions(
        host=host, port=port, scheduler=not no_scheduler, sqlite=sqlite,
        workers=workers or serving.default_workers(os.cpu_count() or 1, sqlite),
        threads=threads or serving.default_threads(sqlite))
    click.echo(f"docroute is serving on http://{host}:{port}/ ({options.workers} worker(s) "
               f"x {options.threads} threads)")
    serving.run(options)


def _serve_dev(host: str, port: int, no_scheduler: bool) -> None:
    from webui import create_app

    app = create_app(docroute=_docroute())
    scheduler = None
    if not no_scheduler:
        scheduler = _start_scheduler(app.extensions["docroute"])
    click.echo(f"docroute is serving on http://{host}:{port}/ (development server)")
    try:
        from werkzeug.serving import run_simple

        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if scheduler is not None:
            scheduler.shutdown()


def _start_scheduler(app: Docroute) -> Any:
    from engine.runtime import timers

    scheduler = timers.Scheduler(app, mail=app.settings.mail)
    scheduler.start()
    return scheduler


@main.command()
@click.option("--once", is_flag=True, help="fire everything due now, then exit")
def worker(once: bool) -> None:
    """Run the timer scheduler alone (several workers may share one PostgreSQL)."""
    from engine.runtime import timers

    app = _docroute()
    count = timers.run_worker(app, once=once, mail=app.settings.mail)
    if once:
        click.echo(f"fired {count} case(s)")


@main.command()
@click.option("--check", is_flag=True, help="validate only; store nothing")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def deploy(check: bool, files: tuple[str, ...]) -> None:
    """Validate and deploy BPMN/DMN files (with --check: validate only)."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine import DocrouteError, WorkflowInvalid
    from engine.definitions import SourceFile

    sources = []
    for name in files:
        path = Path(name)
        try:
            sources.append(SourceFile(path.name, path.read_bytes()))
        except OSError as error:
            click.echo(f"{name}:0: -: cannot read the file: {error.strerror}", err=True)
            sys.exit(1)
    app = _docroute()
    try:
        if check:
            results = app.check_deploy(sources)
        else:
            with app.session() as session:
                results = app.deploy(session, sources, actor="cli")
    except WorkflowInvalid as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    except DocrouteError as error:
        _fail(str(error))
    except SQLAlchemyError as error:
        _fail(_database_problem(error))
    for result in results:
        click.echo(str(result))


def _database_problem(error: SQLAlchemyError) -> str:
    # Most often an empty database: say what to do instead of showing a traceback.
    cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return f"the database is not ready ({cause}); run 'docroute init' first"


@main.group()
def users() -> None:
    """Manage users."""


@users.command("add")
@click.argument("name")
@click.option("--password", required=True)
@click.option("--display-name", default="")
@click.option("--group", "groups", multiple=True)
@click.option("--clearance", default="none", type=click.Choice(CLEARANCES))
@click.option("--admin", is_flag=True)
@click.option("--auditor", is_flag=True)
def users_add(name: str, password: str, display_name: str, groups: tuple[str, ...],
              clearance: str, admin: bool, auditor: bool) -> None:
    """Add a user."""
    from engine import DocrouteError
    from engine.org import identity

    app = _docroute()
    try:
        with app.session() as session:
            identity.add_account(session, name, display_name or name, password,
                                 groups=groups, clearance=clearance, is_admin=admin,
                                 is_auditor=auditor, actor="cli")
    except DocrouteError as error:
        _fail(str(error))
    click.echo(f"added {name}")


@users.command("password")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_password(name: str, password: str) -> None:
    """Set the user NAME's password; their sessions end and their API tokens are revoked."""
    from engine import DocrouteError
    from engine.org import identity

    try:
        with _docroute().session() as session:
            user = identity.get_user(session, name)
            identity.set_password(session, user, password, actor="cli")
    except DocrouteError as error:
        _fail(str(error))
    click.echo(f"password set for {name}; sessions ended, API tokens revoked")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
def users_list(as_json: bool) -> None:
    """List users."""
    from engine.org import identity

    with _docroute().session() as session:
        rows: list[dict[str, Any]] = [{"username": u.username, "name": u.name,
                 "groups": [g.key for g in u.groups],
                 "clearance": identity.clearance_name(u.clearance), "admin": u.is_admin,
                 "auditor": u.is_auditor, "active": u.active}
                for u in identity.list_users(session)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        flags = " ".join(f for f in ("admin", "auditor") if row[f])
        click.echo(f"{row['username']:<12} {row['name']:<10} {row['clearance']:<12} "
                   f"{','.join(row['groups'])} {flags}".rstrip())


@main.group()
def groups() -> None:
    """Manage groups."""


@groups.command("list")
@click.option("--json", "as_json", is_flag=True)
def groups_list(as_json: bool) -> None:
    """List groups (departments and roles)."""
    from engine.org import identity

    with _docroute().session() as session:
        rows = [{"key": g.key, "name": g.name, "name_en": g.name_en, "kind": g.kind}
                for g in identity.list_groups(session)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        click.echo(f"{row['key']:<24} {row['kind']:<11} {row['name']}")


@main.group()
def definitions() -> None:
    """Deployed processes."""


@definitions.command("list")
@click.option("--json", "as_json", is_flag=True)
def definitions_list(as_json: bool) -> None:
    """List every deployed version."""
    from engine import definitions as defs

    with _docroute().session() as session:
        rows: list[dict[str, Any]] = [
            {"key": d.key, "version": d.version, "name": d.name, "sha256": d.sha256,
             "deployed_at": d.deployed_at.isoformat(), "deployed_by": d.deployed_by,
             "running": n}
            for d, n in defs.list_all(session)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        click.echo(f"{row['key']:<24} v{row['version']:<3} {row['sha256'][:12]} "
                   f"{row['deployed_at'][:19]} {row['name']}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("name")
@click.option("--name", "label", default="", help="what the token is for")
@click.option("--expires-days", type=click.IntRange(1, MAX_EXPIRY_DAYS), default=None,
              help="the token stops working after this many days")
def token_create(name: str, label: str, expires_days: int | None) -> None:
    """Print a new API token for the user NAME, alone on stdout."""
    from engine import DocrouteError
    from engine.org import identity

    try:
        with _docroute().session() as session:
            secret = identity.create_token(session, name, name=label, expires_days=expires_days)
    except DocrouteError as error:
        _fail(str(error))
    click.echo(secret)


@token.command("list")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def token_list(name: str, as_json: bool) -> None:
    """List the user NAME's tokens: id, name, status, created, expires, last used."""
    from engine import DocrouteError
    from engine.org import tokens

    try:
        with _docroute().session() as session:
            rows: list[dict[str, Any]] = [{"id": t.id, "name": t.name, "status": t.status,
                     "created_at": t.created_at.isoformat(),
                     "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                     "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None}
                    for t in tokens.list_for(session, name)]
    except DocrouteError as error:
        _fail(str(error))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        click.echo(f"{row['id']:<6} {row['status']:<8} {row['created_at'][:16]}  "
                   f"expires {(row['expires_at'] or 'never')[:16]:<16}  "
                   f"used {(row['last_used_at'] or 'never')[:16]:<16}  {row['name']}")


@token.command("revoke")
@click.argument("token_id", type=click.IntRange(1, MAX_ID))
def token_revoke(token_id: int) -> None:
    """Revoke the token with this id (see 'docroute token list')."""
    from engine import DocrouteError
    from engine.org import identity, tokens

    try:
        with _docroute().session() as session:
            info = tokens.revoke(session, identity.SYSTEM, token_id)
    except DocrouteError as error:
        _fail(str(error))
    click.echo(f"revoked token {info.id} of {info.username}")


# --- audit (issue 7: engine/audit.py, engine/replay.py) ------------------------------------


@main.command()
@click.argument("case_id", type=int)
def replay(case_id: int) -> None:
    """Rebuild a case from its events; print 'verified' or where it differs (exit 1)."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine import DocrouteError, history
    from engine.history import audit as audit_engine
    from engine.history import checkpoints

    try:
        with _docroute().session() as session:
            result = audit_engine.verify_case(session, case_id, checkpoints.pins_for(
                session, history.case_chain(case_id)))
    except DocrouteError as error:
        _fail(str(error))
    except SQLAlchemyError as error:
        _fail(_database_problem(error))
    for line in result.lines():
        click.echo(line if result.ok else f"case {case_id}: {line}")
    if result.replay.unknown_types:
        click.echo("not replayed (unknown event types): "
                   + ", ".join(result.replay.unknown_types), err=True)
    if not result.ok:
        sys.exit(1)


@main.group()
def audit() -> None:
    """Tamper evidence."""


@audit.command("verify")
@click.option("--quiet", is_flag=True, help="no progress lines")
@click.option("--checkpoints", "checkpoint_file", type=click.File("rb"),
              help="an exported checkpoint file to check history against as well")
@click.option("--public-key", "public_key_file", type=click.File("rb"),
              help="check signatures with this copy of the public key (PEM)")
def audit_verify(quiet: bool, checkpoint_file: Any, public_key_file: Any) -> None:
    """Check every hash chain against its keyed end and every signed checkpoint (stored,
    and supplied with --checkpoints); report each break (exit 1)."""
    import time

    from sqlalchemy.exc import SQLAlchemyError

    from engine import DocrouteError
    from engine.history import audit as audit_engine
    from engine.history import checkpoints, keys

    started = time.monotonic()

    def progress(chains: int, events: int, total: int) -> None:
        if not quiet:
            click.echo(f"checked {chains}/{total} chains, {events} events "
                       f"({time.monotonic() - started:.0f} s)", err=True)

    try:
        supplied = checkpoints.parse_export(checkpoint_file.read()) if checkpoint_file else []
        public = keys.load_public_pem(public_key_file.read()) if public_key_file else None
        with audit_engine.reading(_docroute()) as session:
            report = checkpoints.verify(session, supplied=supplied, public=public,
                                        progress=progress, every=10_000)
    except (DocrouteError, keys.KeyProblem) as error:
        _fail(str(error), 2)
    except SQLAlchemyError as error:
        _fail(_database_problem(error))
    for problem in report.problems:
        click.echo(str(problem))
    summary = (f"{report.chains} chains, {report.events} events, {report.checkpoints} "
               f"signed checkpoint(s) checked in {time.monotonic() - started:.1f} s: ")
    if report.ok:
        click.echo(summary + "no tampering found")
        return
    click.echo(summary + f"{len(report.problems)} problem(s) in "
               f"{len(report.broken_chains)} chain(s)")
    sys.exit(1)


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of every chain's end now (the worker also does, periodically)."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine.history import checkpoints

    try:
        with _docroute().session() as session:
            row = checkpoints.write(session, force=True)
    except SQLAlchemyError as error:
        _fail(_database_problem(error))
    assert row is not None  # forced
    click.echo(f"checkpoint {row.number} signed: {row.heads} chain end(s) moved since the "
               f"previous one (key {row.key_id})")


@audit.command("export-checkpoints")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="write to this file (default: standard output)")
def audit_export_checkpoints(output: Any) -> None:
    """Every signed checkpoint with the public key, as JSON: the file auditors keep."""
    from engine.history import checkpoints

    with _docroute().session() as session:
        data = checkpoints.export(session)
    json.dump(data, output, ensure_ascii=False, indent=1)
    output.write("\n")


@audit.command("public-key")
def audit_public_key() -> None:
    """Print the public key that checks the checkpoints' signatures (PEM)."""
    click.echo(_docroute().keys.public_pem, nl=False)


@main.group()
def kpi() -> None:
    """Performance reports."""


@kpi.command("rebuild")
@click.option("--quiet", is_flag=True, help="no progress lines")
def kpi_rebuild(quiet: bool) -> None:
    """Derive every case's report facts again from its events; name the cases whose
    stored facts differed (after an upgrade to 0014_case_facts: all of them)."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine.queries import kpi as kpi_engine

    def progress(done: int, total: int) -> None:
        if not quiet:
            click.echo(f"rebuilt {done}/{total} cases", err=True)

    try:
        with _docroute().session() as session:
            cases, differed = kpi_engine.rebuild_facts(session, progress)
    except SQLAlchemyError as error:
        _fail(_database_problem(error))
    shown = ", ".join(f"#{i}" for i in differed[:20]) + (" …" if len(differed) > 20 else "")
    click.echo(f"{cases} case(s) rebuilt from their events; "
               + (f"{len(differed)} differed from the stored facts: {shown}" if differed
                  else "the stored facts agreed"))


from .admin_cli import calendar as _calendar  # noqa: E402  (docroute calendar …)

main.add_command(_calendar)


if __name__ == "__main__":
    main()
