"""Release-wide checks of the scanner: references, study/series structure, missing files.

These need every file's identity at once, so they run in the parent process on the
per-file reports (release UIDs are pseudonymous) and, with ``--original``, on the
originals' identities (PHI, memory only). Findings never name an original path: inputs
often carry patient names in their paths, so an original is named by its ordinal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from deidkit.verify.originals import OriginalHarvest
from deidkit.verify.records import FileReport, Finding
from deidkit.verify.score import IdentifierMap

CHECK_REFERENCES = "reference-integrity"
CHECK_RELATIONSHIPS = "relationships"
CHECK_MISSING = "missing-file"
RELEASE_CHECKS = (CHECK_REFERENCES, CHECK_RELATIONSHIPS)


def _spans(records: Iterable[tuple[str, str, str]]) -> tuple[dict[str, set[str]], ...]:
    """Series -> studies and study -> patients, from (patient, study, series) records."""
    series_study: dict[str, set[str]] = {}
    study_patient: dict[str, set[str]] = {}
    for patient, study, series in records:
        series_study.setdefault(series, set()).add(study)
        study_patient.setdefault(study, set()).add(patient)
    return series_study, study_patient


def _pre_existing(
    harvest: OriginalHarvest | None, mapping: IdentifierMap | None
) -> tuple[tuple[set[str], int], ...]:
    """Per span kind: release UIDs that already spanned in the originals, and how many did.

    With a mapping each spanning original UID is mapped to its release UID; without one
    (or for UIDs it does not know) a release has no more spans than its originals had.
    """
    if harvest is None:
        return ((set(), 0), (set(), 0))
    originals = [o for o in harvest.files if not o.unreadable and o.sop_uid]
    kinds = _spans((o.patient_id, o.study_uid, o.series_uid) for o in originals)
    result: list[tuple[set[str], int]] = []
    for parents_of in kinds:
        spanning = {uid for uid, parents in parents_of.items() if len(parents) > 1}
        mapped = {mapping.new_uid(uid) or "" for uid in spanning} if mapping is not None else set()
        result.append((spanning | mapped, len(spanning)))
    return tuple(result)


def release_structure(
    reports: list[FileReport],
    *,
    harvest: OriginalHarvest | None = None,
    mapping: IdentifierMap | None = None,
) -> list[Finding]:
    """Relationships and references inside the release alone.

    With the originals' ``harvest``, a study spanning several patients (or a series several
    studies) that the originals already had is reported as pre-existing, a warning: the
    release kept the originals' inconsistency, it did not make it.
    """
    findings: list[Finding] = []
    dicom = [r for r in reports if r.kind == "dicom" and r.sop_uid]
    first_file: dict[str, str] = {}
    for r in dicom:
        first_file.setdefault(r.series_uid, r.rel)
        first_file.setdefault(r.study_uid, r.rel)
    series_study, study_patient = _spans((r.patient_id, r.study_uid, r.series_uid) for r in dicom)
    spans = (
        (series_study, "(0020,000E)", "SeriesInstanceUID", "one series spans several studies"),
        (study_patient, "(0020,000D)", "StudyInstanceUID", "one study spans several patients"),
    )
    for (parents_of, tag, keyword, message), (known, before) in zip(
        spans, _pre_existing(harvest, mapping), strict=True
    ):
        spanning = sorted(uid for uid, parents in parents_of.items() if len(parents) > 1)
        by_count = harvest is not None and len(spanning) <= before
        for uid in spanning:
            if uid in known or by_count:
                findings.append(
                    Finding(
                        first_file[uid],
                        tag,
                        CHECK_RELATIONSHIPS,
                        "warn",
                        keyword,
                        message=f"pre-existing in the originals: {message}",
                    )
                )
            else:
                findings.append(
                    Finding(
                        first_file[uid], tag, CHECK_RELATIONSHIPS, "error", keyword, message=message
                    )
                )
    sops = {r.sop_uid for r in dicom}
    for r in dicom:
        missing = sum(1 for ref in r.references if ref not in sops)
        if missing:
            findings.append(
                Finding(
                    r.rel,
                    "-",
                    CHECK_REFERENCES,
                    "info",
                    "ReferencedSOPInstanceUID",
                    message=f"{missing} reference(s) do not resolve within the release",
                )
            )
    return findings


def _shape(records: Iterable[tuple[str, str, str]]) -> list[tuple[tuple[int, ...], ...]]:
    """Patient -> studies -> series sizes, with identities erased (comparable across runs)."""
    tree: dict[str, dict[str, Counter[str]]] = {}
    for patient, study, series in records:
        tree.setdefault(patient, {}).setdefault(study, Counter())[series] += 1
    return sorted(
        tuple(sorted(tuple(sorted(series.values())) for series in studies.values()))
        for studies in tree.values()
    )


def compare_with_originals(
    harvest: OriginalHarvest,
    reports: list[FileReport],
    held: set[str],
    mapping: IdentifierMap | None,
) -> list[Finding]:
    """Missing files, structure and reference integrity of the release against its originals.

    Parameters
    ----------
    harvest
        Identities of the original files.
    reports
        Per-file reports of the release.
    held
        Original relative paths the run report lists as held back or skipped (with a reason).
    mapping
        Original -> pseudonym map (exact missing-file and per-file reference checks), or
        None (checks by counts).
    """
    findings: list[Finding] = []
    released = [r for r in reports if r.kind == "dicom" and r.sop_uid]
    originals = [o for o in harvest.files if not o.unreadable and o.rel not in held]
    release_sops = {r.sop_uid for r in released}
    # Missing files: exact with a mapping, else by count.
    if mapping is not None:
        ordinal = {o.rel: i + 1 for i, o in enumerate(sorted(harvest.files, key=lambda o: o.rel))}
        for o in originals:
            new = mapping.new_uid(o.sop_uid)
            if new is not None and new not in release_sops:
                # Input paths often carry patient names: name the file by its ordinal only.
                findings.append(
                    Finding(
                        f"original #{ordinal[o.rel]}",
                        "-",
                        CHECK_MISSING,
                        "error",
                        message="original not in the release and no run-report reason",
                    )
                )
    elif len(originals) > len(released):
        findings.append(
            Finding(
                "-",
                "-",
                CHECK_MISSING,
                "error",
                message=f"{len(originals) - len(released)} original file(s) missing from "
                "the release without a run-report reason",
            )
        )
    # Study/series relationships: same shape of patients, studies and series.
    before = _shape((o.patient_id, o.study_uid, o.series_uid) for o in originals)
    after = _shape((r.patient_id, r.study_uid, r.series_uid) for r in released)
    if before != after:
        findings.append(
            Finding(
                "-",
                "-",
                CHECK_RELATIONSHIPS,
                "error",
                message="patient/study/series structure differs from the originals",
            )
        )
    # Reference integrity: a profile may drop references, never break one. Per file with a
    # mapping (a released file may not have more dangling references than its original),
    # else over the whole set.
    orig_sops = {o.sop_uid for o in originals}
    by_sop = {r.sop_uid: r for r in released}
    if mapping is not None:
        for o in originals:
            paired = by_sop.get(mapping.new_uid(o.sop_uid) or "")
            if paired is None:
                continue
            before_n = sum(1 for ref in o.references if ref not in orig_sops)
            after_n = sum(1 for ref in paired.references if ref not in release_sops)
            if after_n > before_n:
                findings.append(
                    Finding(
                        paired.rel,
                        "-",
                        CHECK_REFERENCES,
                        "error",
                        "ReferencedSOPInstanceUID",
                        message=f"{after_n - before_n} reference(s) broken by de-identification",
                    )
                )
    else:
        before_n = sum(1 for o in originals for ref in o.references if ref not in orig_sops)
        after_n = sum(1 for r in released for ref in r.references if ref not in release_sops)
        if after_n > before_n:
            findings.append(
                Finding(
                    "-",
                    "-",
                    CHECK_REFERENCES,
                    "error",
                    "ReferencedSOPInstanceUID",
                    message=f"{after_n - before_n} more dangling reference(s) than the originals",
                )
            )
    return findings
