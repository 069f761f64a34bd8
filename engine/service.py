"""The engine as one object: settings, database, runtime state, working-day calendar, and
the first-run setup.

Web processes, workers, the CLI and tests build one ``Docroute`` and pass sessions from
it to the engine's functions; each ``with docroute.session() as session:`` block is one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from engine.deadlines import workcalendar
from engine.definitions import deployment as definitions
from engine.definitions import forms, scripting
from engine.definitions.deployment import DeployResult, SourceFile
from engine.history import chain as history
from engine.history import keys
from engine.org import identity
from engine.runtime import state

from . import db
from .config import Settings
from .models import Base, Definition


class Docroute:
    def __init__(self, settings: Settings):
        from engine import wiring  # the composition root imports every package

        self.settings = settings
        if settings.database_url == "" or settings.database_url.startswith("sqlite"):
            settings.home.mkdir(parents=True, exist_ok=True)
        pool = {"pool_size": settings.db_pool_size} if settings.db_pool_size else {}
        self.engine = db.make_engine(settings.db_url, **pool)
        # What this Docroute keeps in memory for running cases (runtime/state.py), and its
        # working-day calendar (deadlines/workcalendar.py): every session it makes finds both.
        self.runtime = state.RuntimeState(
            script_engine=scripting.make_script_engine(settings.script_timeout_seconds))
        state.watch_writes(self.engine, self.runtime.memo)
        self.calendar = workcalendar.CalendarHolder()
        self.session_info: dict[str, Any] = {state.KEY: self.runtime,
                                             workcalendar.KEY: self.calendar,
                                             definitions.SPECS_KEY: {}}
        self.sessions = db.make_sessionmaker(self.engine, info=self.session_info)
        wiring.install(self)  # operators, after-step hooks, session listeners
        # The keys that make history forgery-evident live outside the database (keys.py).
        self.keys = keys.load(settings.home, settings.history_key)
        history.use_keys(self.engine, self.keys)

    def work_calendar(self) -> workcalendar.WorkCalendar:
        """This Docroute's working-day calendar (for the web layer, which has no session
        at hand); reads the database only when a version check is due."""
        calendar = self.calendar.peek()
        if calendar is not None and not self.calendar.due():
            return calendar
        with self.reading() as session:  # a version check only reads
            return workcalendar.of(session)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any exception."""
        with db.unit_of_work(self.sessions) as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A unit of work that only reads (``db.reading``): nothing it writes is kept."""
        with db.reading(self.sessions, self.engine) as session:
            yield session

    def init(self, actor: str = identity.SYSTEM_ACTOR) -> list[str]:
        """Create or upgrade the schema and deploy the shipped forms and workflows."""
        db.upgrade_schema(self.engine, history_key=self.keys.mac_key)
        lines: list[str] = []
        with self.session() as session:
            workcalendar.seed(session)
        with self.session() as session:
            for key, version, status in self.deploy_forms(session, self.form_files(), actor):
                lines.append(f"{status} form {key} v{version}")
        workflow_files = self.workflow_files()
        if workflow_files:
            with self.session() as session:
                results = self.deploy(session, workflow_files, actor=actor)
                lines.extend(str(r) for r in results)
        with self.session() as session:
            self.calendar.reload(session)
        return lines

    def workflow_files(self) -> list[SourceFile]:
        folder = self.settings.workflows_dir
        return [SourceFile(p.name, p.read_bytes())
                for p in sorted(folder.glob("*.bpmn")) + sorted(folder.glob("*.dmn"))]

    def form_files(self) -> list[forms.FormFile]:
        return [forms.FormFile(p.stem, p.name, p.read_bytes())
                for p in sorted(self.settings.forms_dir.glob("*.json"))]

    def form_exists(self, session: Session,
                    pending: set[str] | None = None) -> definitions.FormExists:
        """A form-key check that knows deployed forms, forms/ files and forms in this upload."""
        shipped = {p.stem for p in Path(self.settings.forms_dir).glob("*.json")}
        extra = (pending or set()) | shipped
        return lambda key: key in extra or forms.exists(session, key)

    def deploy(self, session: Session, files: list[SourceFile], *, actor: str,
               check_only: bool = False) -> list[DeployResult]:
        return definitions.deploy(session, files, self.form_exists(session), actor=actor,
                                  max_bytes=self.settings.max_diagram_bytes,
                                  check_only=check_only)

    def check_deploy(self, files: list[SourceFile]) -> list[DeployResult]:
        """Validate files as ``deploy`` would and store nothing.

        Against this database when it has a schema (calls may then name what is deployed
        there); before ``docroute init``, against an empty schema in memory, where calls
        may also name the shipped workflows that init would deploy.
        """
        if inspect(self.engine).has_table(Definition.__tablename__):
            with self.session() as session:
                return self.deploy(session, files, actor="check", check_only=True)
        # What init would deploy counts as deployed: calls may name the shipped workflows.
        uploaded = {f.name for f in files}
        installed = {key: source for source in self.workflow_files()
                     if source.name not in uploaded
                     for key in definitions.provided_ids(source,
                                                         self.settings.max_diagram_bytes)}
        # A check writes nothing and runs no step: the scratch sessions need neither the
        # session listeners nor the runtime state nor a calendar.
        scratch = db.make_engine("sqlite://")
        try:
            Base.metadata.create_all(scratch)
            with db.unit_of_work(db.make_sessionmaker(scratch)) as session:
                return definitions.deploy(
                    session, files, self.form_exists(session), actor="check",
                    max_bytes=self.settings.max_diagram_bytes, check_only=True,
                    installed=installed)
        finally:
            scratch.dispose()

    def deploy_forms(self, session: Session, files: list[forms.FormFile], actor: str,
                     check_only: bool = False) -> list[tuple[str, int, str]]:
        return forms.deploy(session, files, actor=actor,
                            max_bytes=self.settings.max_diagram_bytes, check_only=check_only)

