"""Pseudonymise what is not a DICOM header: tables (CSV/Parquet), BIDS trees, the encrypted
linkage store of original -> pseudonym pairs (and re-identification from it), the cohort
manifest, and the MIDI-B answer-key export. Uses the same keyed derivations as scrub
(:mod:`deidkit.core.pseudonym`), so a table and a release made with one key agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deidkit._lazy import lazy_exports

if TYPE_CHECKING:
    from deidkit.pseudonymise.bids import (
        BidsResult,
        pseudonymise_bids,
    )
    from deidkit.pseudonymise.cohort import (
        CohortManifestWriter,
        CohortReport,
        series_attributes,
    )
    from deidkit.pseudonymise.linkage import (
        LinkageCheck,
        LinkageEntry,
        LinkageStore,
        open_linkage,
        open_linkage_reader,
    )
    from deidkit.pseudonymise.midib import (
        ExportFormat,
        export_linkage,
    )
    from deidkit.pseudonymise.reidentify import (
        BatchReidentification,
        Reidentification,
        ReidentifiedRow,
        reidentify_batch,
        reidentify_pseudonym,
    )
    from deidkit.pseudonymise.source import (
        ColumnOptions,
        PseudonymiseResult,
        pseudonymise_source,
    )
    from deidkit.pseudonymise.tables import (
        TableResult,
        TableSpec,
        parse_id_column,
        pseudonymise_table,
    )

_EXPORTS = {
    "BidsResult": "deidkit.pseudonymise.bids",
    "pseudonymise_bids": "deidkit.pseudonymise.bids",
    "CohortManifestWriter": "deidkit.pseudonymise.cohort",
    "CohortReport": "deidkit.pseudonymise.cohort",
    "series_attributes": "deidkit.pseudonymise.cohort",
    "LinkageCheck": "deidkit.pseudonymise.linkage",
    "LinkageEntry": "deidkit.pseudonymise.linkage",
    "LinkageStore": "deidkit.pseudonymise.linkage",
    "open_linkage": "deidkit.pseudonymise.linkage",
    "open_linkage_reader": "deidkit.pseudonymise.linkage",
    "ExportFormat": "deidkit.pseudonymise.midib",
    "export_linkage": "deidkit.pseudonymise.midib",
    "BatchReidentification": "deidkit.pseudonymise.reidentify",
    "Reidentification": "deidkit.pseudonymise.reidentify",
    "ReidentifiedRow": "deidkit.pseudonymise.reidentify",
    "reidentify_batch": "deidkit.pseudonymise.reidentify",
    "reidentify_pseudonym": "deidkit.pseudonymise.reidentify",
    "ColumnOptions": "deidkit.pseudonymise.source",
    "PseudonymiseResult": "deidkit.pseudonymise.source",
    "pseudonymise_source": "deidkit.pseudonymise.source",
    "TableSpec": "deidkit.pseudonymise.tables",
    "TableResult": "deidkit.pseudonymise.tables",
    "parse_id_column": "deidkit.pseudonymise.tables",
    "pseudonymise_table": "deidkit.pseudonymise.tables",
}

__all__ = [
    "BatchReidentification",
    "BidsResult",
    "CohortManifestWriter",
    "CohortReport",
    "ColumnOptions",
    "ExportFormat",
    "LinkageCheck",
    "LinkageEntry",
    "LinkageStore",
    "PseudonymiseResult",
    "Reidentification",
    "ReidentifiedRow",
    "TableResult",
    "TableSpec",
    "export_linkage",
    "open_linkage",
    "open_linkage_reader",
    "parse_id_column",
    "pseudonymise_bids",
    "pseudonymise_source",
    "pseudonymise_table",
    "reidentify_batch",
    "reidentify_pseudonym",
    "series_attributes",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
