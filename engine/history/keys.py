"""The two history keys, kept outside the database.

* The **history key** (32 random bytes) keys the hash chains (HMAC-SHA256): without it,
  nobody can compute a valid hash for an edited, inserted or re-numbered event, or a
  valid mark for a chain's recorded end.
* The **signing key** (Ed25519) signs checkpoints of every chain's end; its public half
  is given to auditors, who can check a checkpoint without trusting the server.

Both live in files in the instance folder (``DOCROUTE_HOME``), created on first start with
permissions 0600: someone who can read or write the database alone has neither. The
history key may instead come from ``DOCROUTE_HISTORY_KEY`` (64 hex digits), so several
web processes on several machines share one key. Back both files up apart from the
database: without the history key no event written after keying verifies.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

HISTORY_KEY_FILE = "history.key"
SIGNING_KEY_FILE = "checkpoint-signing.pem"


class KeyProblem(ValueError):
    """A key file or ``DOCROUTE_HISTORY_KEY`` value that cannot be used."""


@dataclass(frozen=True)
class HistoryKeys:
    mac_key: bytes
    signing_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    @property
    def public_pem(self) -> str:
        return public_pem(self.public_key)

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> str:
        return self.signing_key.sign(message).hex()


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key: names the key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_pem(text: str | bytes) -> Ed25519PublicKey:
    """An auditor's copy of the public key; KeyProblem if it is not an Ed25519 key."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as error:
        raise KeyProblem(f"not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem("the public key is not an Ed25519 key")
    return key


def signature_ok(public: Ed25519PublicKey, message: bytes, signature_hex: str) -> bool:
    try:
        public.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def load(home: Path, history_key_hex: str = "") -> HistoryKeys:
    """The instance's keys; files missing from ``home`` are created (0600) first."""
    home.mkdir(parents=True, exist_ok=True)
    if history_key_hex:
        mac_key = _parse_hex(history_key_hex, "DOCROUTE_HISTORY_KEY")
    else:
        path = home / HISTORY_KEY_FILE
        _create(path, lambda: secrets.token_hex(32).encode("ascii") + b"\n")
        mac_key = _parse_hex(path.read_text("ascii").strip(), str(path))
    path = home / SIGNING_KEY_FILE
    _create(path, _new_signing_pem)
    try:
        signing = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as error:
        raise KeyProblem(f"{path} is not a PEM private key: {error}") from None
    if not isinstance(signing, Ed25519PrivateKey):
        raise KeyProblem(f"{path} does not hold an Ed25519 private key")
    return HistoryKeys(mac_key, signing)


def _parse_hex(text: str, where: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise KeyProblem(f"{where} must be hexadecimal digits") from None
    if len(value) < 32:
        raise KeyProblem(f"{where} must hold at least 32 bytes (64 hex digits), "
                         f"not {len(value)}")
    return value


def _new_signing_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def _create(path: Path, content: Callable[[], bytes]) -> None:
    # Written to a private temporary file, then linked into place: two processes starting
    # at once never see a half-written key, and the loser of the race reads the winner's.
    # The mode is 0600 from creation on, never widened.
    if path.exists():
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content())
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: use its key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
