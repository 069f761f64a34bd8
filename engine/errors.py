"""Error types that carry the sentence a user should read.

Callers branch on the type, never on the text; the web layer maps each type to one
HTTP status and shows ``str(error)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class DocrouteError(Exception):
    """Base of every expected failure; the message is for the user."""

    status = 400


@dataclass(frozen=True)
class Problem:
    """One located problem in an uploaded diagram or form."""

    file: str
    line: int | None
    element: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line or 0}: {self.element or '-'}: {self.message}"


class WorkflowInvalid(DocrouteError):
    """A diagram (or form) failed validation; nothing was stored."""

    status = 422

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class FieldErrors:
    errors: dict[str, str] = field(default_factory=dict)


class FormInvalid(DocrouteError):
    """Submitted data does not satisfy the task's form; ``errors`` maps field path to message."""

    status = 422

    def __init__(self, errors: dict[str, str], message: str = "The form has errors."):
        self.errors = errors
        super().__init__(message)


class NotAllowed(DocrouteError):
    status = 403


class NotFound(DocrouteError):
    status = 404


class Conflict(DocrouteError):
    """The thing changed under the caller: task already completed, claimed by another, …"""

    status = 409


class ScriptError(DocrouteError):
    """A diagram's script or expression failed or broke the sandbox's rules."""

    status = 422
