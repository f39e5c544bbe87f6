"""Checks of released files other than DICOM headers: names, NIfTI, JSON sidecars, others.

:func:`check_file` is the per-file entry point of the scanner: it scans the file's path,
then dispatches on content (DICOM to :func:`deidkit.verify.checks.check_dicom_bytes`,
NIfTI headers and extensions via nibabel, JSON sidecars key by key, anything else line by
line as text). Findings name places, never values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from deidkit.verify.checks import _check_raw_bytes, _Scanner, _value_search, check_dicom_bytes
from deidkit.verify.patterns import UID_TOKEN, scan_text
from deidkit.verify.records import (
    CHECK_FILE_NAME,
    CHECK_JSON,
    CHECK_NIFTI,
    CHECK_TEXT_FILE,
    CHECK_UNREADABLE,
    FileReport,
    Finding,
    OriginalIndex,
    Rules,
)

# --- names, NIfTI, JSON, other files -------------------------------------------------------


def check_name(rel: str, *, rules: Rules, originals: OriginalIndex | None) -> list[Finding]:
    """Scan each component of a relative path (folders and file name)."""
    findings: list[Finding] = []
    search = _value_search(originals)
    for index, part in enumerate(Path(rel).parts):
        stem = re.sub(r"(\.nii\.gz|\.[A-Za-z0-9]{1,5})$", "", part)
        text = stem.replace("_", " ")
        for hit in scan_text(text, dates_allowed=False):
            findings.append(
                Finding(rel, f"name:{index}", CHECK_FILE_NAME, hit.severity, pattern=hit.pattern)
            )
        if search is not None:
            for source in sorted(set(search.find_in_text(text))):
                findings.append(
                    Finding(
                        rel, f"name:{index}", CHECK_FILE_NAME, "error", matched_attribute=source
                    )
                )
        if originals is not None and stem in originals.uids:
            findings.append(
                Finding(
                    rel,
                    f"name:{index}",
                    CHECK_FILE_NAME,
                    "error",
                    matched_attribute=originals.uids[stem],
                )
            )
    return findings


def _scan_strings(
    rel: str,
    items: Iterable[tuple[str, str]],
    check: str,
    rules: Rules,
    originals: OriginalIndex | None,
) -> list[Finding]:
    findings: list[Finding] = []
    search = _value_search(originals)
    for where, text in items:
        if not text:
            continue
        for hit in scan_text(text, dates_allowed=rules.dates_allowed):
            findings.append(Finding(rel, where, check, hit.severity, pattern=hit.pattern))
        if search is not None:
            for source in sorted(set(search.find_in_text(text))):
                findings.append(Finding(rel, where, check, "error", matched_attribute=source))
        if originals is not None:
            for token in UID_TOKEN.findall(text.encode("utf-8", "replace")):
                uid_source = originals.uids.get(token.decode("ascii"))
                if uid_source is not None:
                    found = Finding(rel, where, check, "error", matched_attribute=uid_source)
                    findings.append(found)
    return findings


def _nifti_strings(path: Path) -> list[tuple[str, str]]:
    import nibabel as nib

    header: Any = nib.load(str(path)).header
    items: list[tuple[str, str]] = []
    for name in ("descrip", "aux_file", "intent_name", "db_name"):
        try:
            raw = header[name]
        except (KeyError, ValueError):
            continue
        value = raw.item() if hasattr(raw, "item") else raw
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        items.append((f"nifti:{name}", str(value).rstrip("\x00")))
    for index, ext in enumerate(getattr(header, "extensions", []) or []):
        content = ext.get_content() if hasattr(ext, "get_content") else b""
        if isinstance(content, bytes):
            items.append((f"nifti:extension[{index}]", content.decode("latin-1")))
    return items


def _json_strings(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{where}.{key}" if where != "json:" else f"json:{key}"
            yield sub, str(key)
            yield from _json_strings(value, sub)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _json_strings(value, f"{where}[{index}]")
    elif isinstance(node, str):
        yield where, node


def check_file(
    path: Path,
    rel: str,
    *,
    rules: Rules,
    originals: OriginalIndex | None,
    keep_dataset: bool = False,
    score_facts: bool = False,
) -> FileReport:
    """Check any released file: dispatch on its content and name; never raises for bad data.

    ``keep_dataset`` and ``score_facts`` are passed on to
    :func:`deidkit.verify.checks.check_dicom_bytes` for DICOM files.
    """
    findings = check_name(rel, rules=rules, originals=originals)
    try:
        data = path.read_bytes()
    except OSError:
        report = FileReport(rel=rel, kind="other", unreadable=True)
        report.findings = [
            *findings,
            Finding(rel, "-", CHECK_UNREADABLE, "error", message="cannot be read"),
        ]
        return report
    name = path.name.lower()
    if data[128:132] == b"DICM" or name.endswith((".dcm", ".ima")):
        report = check_dicom_bytes(
            rel,
            data,
            rules=rules,
            originals=originals,
            keep_dataset=keep_dataset,
            score_facts=score_facts,
        )
    elif name.endswith((".nii", ".nii.gz")):
        report = _check_with(
            rel, "nifti", CHECK_NIFTI, lambda: _nifti_strings(path), rules, originals
        )
    elif name.endswith(".json"):
        report = _check_with(
            rel,
            "json",
            CHECK_JSON,
            lambda: list(_json_strings(json.loads(data), "json:")),
            rules,
            originals,
        )
    else:
        text = data.decode("utf-8", "replace")
        lines = [(f"line:{i + 1}", line) for i, line in enumerate(text.splitlines())]
        report = _check_with(rel, "other", CHECK_TEXT_FILE, lambda: lines, rules, originals)
    if report.kind in ("nifti", "json", "other"):
        raw_scanner = _Scanner(rel, rules, originals)
        _check_raw_bytes(raw_scanner, b"" if name.endswith(".gz") else data, None)
        # Text files are scanned line by line above; raw bytes add nothing new for them.
        if report.kind != "other":
            report.findings += [f for f in raw_scanner.findings if f.matched_attribute]
    report.findings = findings + report.findings
    return report


def _check_with(
    rel: str,
    kind: str,
    check: str,
    extract: Any,
    rules: Rules,
    originals: OriginalIndex | None,
) -> FileReport:
    report = FileReport(rel=rel, kind=kind, modality=kind.upper() if kind != "other" else "other")
    try:
        items = extract()
    except Exception:  # noqa: BLE001 - a malformed file is reported, the batch goes on
        report.unreadable = True
        report.findings.append(
            Finding(rel, "-", CHECK_UNREADABLE, "error", message=f"not readable as {kind}")
        )
        return report
    report.findings = _scan_strings(rel, items, check, rules, originals)
    return report
