"""``docroute serve``: gunicorn with a worker count from the cores and one timer scheduler.

Where the scheduler runs, so that there is exactly one per ``serve`` and never one per
web worker:

* PostgreSQL: ``serve`` starts one ``docroute worker`` process beside gunicorn's web
  workers (and stops it with them). Web processes on other machines run
  ``docroute serve --no-scheduler``; any number of ``docroute worker`` processes may share
  the database, since firing is exactly-once through row locks (docs/deployment.md).
* SQLite (one machine): one web worker process with threads, and the scheduler inside
  it, where the in-process wake-up signal of ``engine.runtime.wakeup`` reaches it. SQLite has one
  writer at a time, so more processes would only queue for its lock.

Each web worker's connection pool holds as many connections as it has threads (plus
one for the occasional nested session), so no request waits for, or opens and closes, a
connection of its own (werkzeug's 8 threads against a pool of 5 used to).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    workers: int
    threads: int
    scheduler: bool
    sqlite: bool

    @property
    def pool_size(self) -> int:
        return self.threads + 1


def default_workers(cores: int, sqlite: bool) -> int:
    """One per core (at least two) on PostgreSQL; measured on 2 cores, 2 workers beat 4
    (docs/benchmarks.md). SQLite: one process (see the module docstring)."""
    return 1 if sqlite else max(2, cores)


def default_threads(sqlite: bool) -> int:
    return 8 if sqlite else 4


def gunicorn_settings(options: ServeOptions) -> dict[str, Any]:
    """gunicorn's settings for these options (also what the tests check)."""
    return {
        "bind": f"{options.host}:{options.port}",
        "workers": options.workers,
        "worker_class": "gthread",
        "threads": options.threads,
        # SIGHUP replaces workers one by one; SIGTERM lets requests in flight finish.
        "graceful_timeout": 30,
        "timeout": 120,
        # Bounds slow growth (caches, fragmentation); restarts are graceful and staggered.
        "max_requests": 20_000,
        "max_requests_jitter": 2_000,
        "accesslog": "-",
        "proc_name": "docroute",
        # One fixed socket path per user would be shared by every server on the machine.
        "control_socket_disable": True,
    }


def run(options: ServeOptions) -> None:
    """Serve until SIGTERM/SIGINT (blocking)."""
    from gunicorn.app.base import BaseApplication

    os.environ["DOCROUTE_DB_POOL_SIZE"] = str(options.pool_size)
    scheduler_process: list[subprocess.Popen[bytes]] = []

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in gunicorn_settings(options).items():
                self.cfg.set(key, value)
            if options.scheduler and options.sqlite:
                self.cfg.set("post_worker_init", _start_scheduler_in_worker)
                self.cfg.set("worker_exit", _stop_scheduler_in_worker)
            elif options.scheduler:
                self.cfg.set("when_ready", lambda _arbiter: scheduler_process.append(
                    _start_scheduler_process()))
                self.cfg.set("on_exit", lambda _arbiter: _stop(scheduler_process))

        def load(self) -> Any:
            from . import create_app

            return create_app()

    Server().run()


def _start_scheduler_process() -> subprocess.Popen[bytes]:
    log.info("starting the timer scheduler process (docroute worker)")
    return subprocess.Popen([sys.executable, "-m", "webui.cli", "worker"])


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _start_scheduler_in_worker(worker: Any) -> None:
    from engine.runtime import timers

    docroute = worker.wsgi.extensions["docroute"]
    scheduler = timers.Scheduler(docroute, mail=docroute.settings.mail)
    scheduler.start()
    worker.docroute_scheduler = scheduler


def _stop_scheduler_in_worker(_arbiter: Any, worker: Any) -> None:
    scheduler = getattr(worker, "docroute_scheduler", None)
    if scheduler is not None:
        scheduler.shutdown()
