"""Engine settings, built from plain values (the web layer reads the environment)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class MailSettings:
    """Where to send e-mail (``Settings.mail``; None: no e-mail is sent)."""

    host: str
    port: int = 25
    sender: str = "docroute@localhost"
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MailSettings | None:
        """``DOCROUTE_SMTP_HOST`` (required, else None), ``_PORT``, ``_FROM``, ``_USER``,
        ``_PASSWORD``, ``_STARTTLS`` (1/true/yes)."""
        host = environ.get("DOCROUTE_SMTP_HOST", "").strip()
        if not host:
            return None
        port_text = environ.get("DOCROUTE_SMTP_PORT", "25")
        try:
            port = int(port_text)
        except ValueError:
            raise ValueError(
                f"DOCROUTE_SMTP_PORT must be a port number, not {port_text!r}") from None
        return cls(host=host, port=port,
                   sender=environ.get("DOCROUTE_SMTP_FROM", "") or cls.sender,
                   username=environ.get("DOCROUTE_SMTP_USER", ""),
                   password=environ.get("DOCROUTE_SMTP_PASSWORD", ""),
                   starttls=environ.get("DOCROUTE_SMTP_STARTTLS", "").lower()
                   in ("1", "true", "yes"))


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: Path("instance").resolve())
    database_url: str = ""
    storage_dir: Path | None = None
    workflows_dir: Path = PROJECT_ROOT / "workflows"
    forms_dir: Path = PROJECT_ROOT / "forms"
    max_diagram_bytes: int = 5 * 1024 * 1024
    max_attachment_bytes: int = 50 * 1024 * 1024
    script_timeout_seconds: float = 2.0
    # Connections per process; 0: SQLAlchemy's default (docroute serve sets threads + 1).
    db_pool_size: int = 0
    history_key: str = ""  # hex; empty: the key file in ``home`` (engine/keys.py)
    mail: MailSettings | None = None  # DOCROUTE_SMTP_*; None: notifications stay in-app

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'docroute.sqlite3'}"

    @property
    def attachments_dir(self) -> Path:
        return self.storage_dir or self.home / "attachments"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the documented DOCROUTE_* variables; unset ones keep their defaults."""
        env = dict(os.environ if environ is None else environ)
        kwargs: dict[str, object] = {}
        if env.get("DOCROUTE_HOME"):
            kwargs["home"] = Path(env["DOCROUTE_HOME"]).resolve()
        if env.get("DOCROUTE_DATABASE_URL"):
            kwargs["database_url"] = env["DOCROUTE_DATABASE_URL"]
        if env.get("DOCROUTE_HISTORY_KEY"):
            kwargs["history_key"] = env["DOCROUTE_HISTORY_KEY"].strip()
        if env.get("DOCROUTE_STORAGE_DIR"):
            kwargs["storage_dir"] = Path(env["DOCROUTE_STORAGE_DIR"]).resolve()
        for name, key in (("max_diagram_bytes", "DOCROUTE_MAX_DIAGRAM_BYTES"),
                          ("max_attachment_bytes", "DOCROUTE_MAX_ATTACHMENT_BYTES"),
                          ("db_pool_size", "DOCROUTE_DB_POOL_SIZE")):
            if env.get(key):
                try:
                    kwargs[name] = int(env[key])
                except ValueError:
                    raise ValueError(
                        f"{key} must be a whole number of bytes, not {env[key]!r}") from None
        if env.get("DOCROUTE_SCRIPT_TIMEOUT_SECONDS"):
            try:
                kwargs["script_timeout_seconds"] = float(env["DOCROUTE_SCRIPT_TIMEOUT_SECONDS"])
            except ValueError:
                raise ValueError("DOCROUTE_SCRIPT_TIMEOUT_SECONDS must be a number of seconds, "
                                 f"not {env['DOCROUTE_SCRIPT_TIMEOUT_SECONDS']!r}") from None
        kwargs["mail"] = MailSettings.from_env(env)
        return cls(**kwargs)  # type: ignore[arg-type]
