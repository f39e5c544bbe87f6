"""Reading the files auditkit is given, with one typed error per way a file can be wrong.

Policy YAML, RESULTS.json, predictions tables, manifests, cohort manifests and bundle configs
all come through here, so a missing file says "not found", a binary or Latin-1 file says
"not valid UTF-8 text" and broken JSON says "not JSON", never a traceback, and never the
file's content (it may be patient data). The caller picks the error class (PolicyError,
ResultsFormatError, ...): all are usage errors, exit 2, so that no command mistakes an
unreadable input for a verdict (``auditkit gate`` exits 1 for "gate failed").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from auditkit.errors import AuditkitError, InputFileError

MSG_NOT_FOUND: Final = "{what} '{name}' not found"
MSG_FOLDER: Final = "{what} '{name}' is a folder, not a file"
MSG_NOT_FILE: Final = "{what} '{name}' is not a regular file"
MSG_OS: Final = "{what} '{name}' could not be read ({reason})"
MSG_NOT_UTF8: Final = "{what} '{name}' is not valid UTF-8 text (a binary file or another encoding?)"
MSG_NOT_JSON: Final = "{what} '{name}' is not JSON ({where})"

ErrorType = type[AuditkitError]


def check_file(path: str | Path, *, what: str, error: ErrorType = InputFileError) -> Path:
    """Return ``path`` if it names an existing regular file, else raise ``error``.

    ``what`` says which input it is ("policy", "results", "manifest") in the message.
    """
    path = Path(path)
    name = path.name or str(path)
    if path.is_dir():
        raise error(MSG_FOLDER.format(what=what, name=name))
    if not path.exists():
        raise error(MSG_NOT_FOUND.format(what=what, name=name))
    if not path.is_file():
        raise error(MSG_NOT_FILE.format(what=what, name=name))
    return path


def read_bytes(path: str | Path, *, what: str, error: ErrorType = InputFileError) -> bytes:
    """The bytes of an input file; a missing, folder or unreadable path raises ``error``."""
    path = check_file(path, what=what, error=error)
    try:
        return path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise error(MSG_OS.format(what=what, name=path.name, reason=reason)) from None


def read_text(path: str | Path, *, what: str, error: ErrorType = InputFileError) -> str:
    """An input file as UTF-8 text (a leading byte-order mark is dropped)."""
    data = read_bytes(path, what=what, error=error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(MSG_NOT_UTF8.format(what=what, name=Path(path).name)) from None


def read_json(path: str | Path, *, what: str, error: ErrorType = InputFileError) -> Any:
    """An input file parsed as JSON; the message gives the line and column, never the text."""
    text = read_text(path, what=what, error=error)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise error(MSG_NOT_JSON.format(what=what, name=Path(path).name, where=where)) from None
    except RecursionError:
        # json's decoder recurses once per nesting level.
        where = "nested too deeply"
        raise error(MSG_NOT_JSON.format(what=what, name=Path(path).name, where=where)) from None
