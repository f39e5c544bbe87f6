"""The project key: load it from a file or the environment, never from the command line.

A key file holds 32 or more random bytes as hexadecimal text (``deidkit keygen`` writes
one). The key is never logged or written anywhere; run reports carry its fingerprint.
A ``--key-file`` value that is not a readable file may be the key itself, pasted where its
path belongs, so errors name the option and never echo that value.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

from deidkit.core.errors import KeyFileError, OutputPathError

KEY_ENV_VAR = "DEIDKIT_KEY"
MIN_KEY_BYTES = 32
KEY_FILE_HEADER = "# deidkit project key v1: keep secret, share only with trusted sites\n"

ERR_KEY_MODE = "key file {path} is readable by group or others; run: chmod 600 {path}"
ERR_KEY_SHORT = "key is too short: at least {min} bytes (64 hex characters) are required"
ERR_KEY_MALFORMED = "key is malformed: expected hexadecimal text"
ERR_KEY_UNREADABLE = "{option}: not a readable file"


@dataclass(frozen=True)
class ProjectKey:
    """Secret key material plus where it came from.

    ``ephemeral`` keys are random per run: outputs made with them cannot be linked to
    any other run, and reports must say so.
    """

    secret: bytes = field(repr=False)
    source: str
    ephemeral: bool = False

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise KeyFileError(ERR_KEY_SHORT.format(min=MIN_KEY_BYTES))

    @property
    def fingerprint(self) -> str:
        """A short public identifier of the key (safe to print and store)."""
        return hmac.new(self.secret, b"deidkit:fingerprint", sha256).hexdigest()[:16]

    def digest(self, purpose: str, value: str | bytes) -> bytes:
        """HMAC-SHA256 of ``value`` under this key, domain-separated by ``purpose``."""
        data = value.encode("utf-8") if isinstance(value, str) else value
        return hmac.new(self.secret, purpose.encode("ascii") + b"\x00" + data, sha256).digest()


def parse_key_text(text: str) -> bytes:
    """Parse key file text (comments allowed) into bytes."""
    body = "".join(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
    try:
        secret = bytes.fromhex(body)
    except ValueError:
        raise KeyFileError(ERR_KEY_MALFORMED) from None
    if len(secret) < MIN_KEY_BYTES:
        raise KeyFileError(ERR_KEY_SHORT.format(min=MIN_KEY_BYTES))
    return secret


def load_key_file(path: Path, *, option: str = "--key-file") -> ProjectKey:
    """Load a key file, refusing one that group or others can read.

    Parameters
    ----------
    path
        The key file.
    option
        Where ``path`` came from (``--key-file``, ``--linkage-key-file``), for errors: a
        path that is not a readable file is never echoed, as it may be the key itself.

    Raises
    ------
    KeyFileError
        If ``path`` is not a readable file, is readable by group or others, or does not
        hold a well-formed key.
    """
    unreadable = KeyFileError(ERR_KEY_UNREADABLE.format(option=option))
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):  # missing, a name too long, a NUL byte in it ...
        raise unreadable from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(ERR_KEY_MODE.format(path=path))
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise KeyFileError(ERR_KEY_MALFORMED) from None
    except OSError:  # a directory, no read permission
        raise unreadable from None
    return ProjectKey(secret=parse_key_text(text), source=f"file:{path.name}")


def load_key(
    key_file: Path | None = None,
    *,
    env: dict[str, str] | None = None,
    allow_ephemeral: bool = True,
    option: str = "--key-file",
) -> ProjectKey:
    """Load the project key: ``key_file`` first, then ``$DEIDKIT_KEY``, else a random one.

    ``option`` names ``key_file`` in errors (see :func:`load_key_file`).

    Raises
    ------
    KeyFileError
        If the key is unreadable, malformed or too short, or none is given and
        ``allow_ephemeral`` is false.
    """
    environ = os.environ if env is None else env
    if key_file is not None:
        return load_key_file(Path(key_file), option=option)
    if environ.get(KEY_ENV_VAR):
        return ProjectKey(secret=parse_key_text(environ[KEY_ENV_VAR]), source=f"env:{KEY_ENV_VAR}")
    if not allow_ephemeral:
        raise KeyFileError(f"no key given: use --key-file or set {KEY_ENV_VAR}")
    return ProjectKey(secret=secrets.token_bytes(MIN_KEY_BYTES), source="random", ephemeral=True)


def generate_key_file(path: Path) -> ProjectKey:
    """Write a new random key to ``path`` with mode 0600; refuse to overwrite."""
    secret = secrets.token_bytes(MIN_KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OutputPathError(f"key file {path} already exists; refusing to overwrite") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(KEY_FILE_HEADER + secret.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return ProjectKey(secret=secret, source=f"file:{path.name}")
