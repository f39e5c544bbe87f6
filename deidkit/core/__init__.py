"""Shared foundations of every stage: typed errors, atomic writes, the project key and the
keyed pseudonym derivations, the run-report format, optional-dependency and resource
lookup, silencing pydicom, the DICOM series reader, the executor that runs work in
parallel, and the scrubbing rules of NIfTI header text (shared by deface and
pseudonymise). Nothing here knows about a scrub, a verify or a deface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deidkit._lazy import lazy_exports

if TYPE_CHECKING:
    from deidkit.core.dask_executor import DaskCluster, DaskExecutor
    from deidkit.core.errors import (
        ColumnSpecError,
        DeidkitError,
        InputFileError,
        InsufficientSpaceError,
        KeyFileError,
        LinkageError,
        MissingDependencyError,
        NothingToDoError,
        OcrUnavailableError,
        OutputPathError,
        PixelDataError,
        ProfileError,
        RecipeError,
        ScrubError,
        SeriesError,
        TableInputError,
        UsageError,
        WorkerLostError,
    )
    from deidkit.core.executor import (
        Executor,
        LocalProcessExecutor,
        SerialExecutor,
    )
    from deidkit.core.io import (
        OutputKind,
        atomic_open,
        atomic_write_bytes,
        atomic_write_text,
        check_output_location,
        check_output_path,
        publish_bytes,
    )
    from deidkit.core.keys import (
        KEY_ENV_VAR,
        ProjectKey,
        generate_key_file,
        load_key,
        load_key_file,
    )
    from deidkit.core.locations import (
        Location,
    )
    from deidkit.core.metadata import (
        scrub_nifti_header,
    )
    from deidkit.core.optional import (
        DISTRIBUTION,
        import_optional,
        missing_dependency,
        require_extra,
    )
    from deidkit.core.pseudonym import (
        DEFAULT_DATE_SHIFT_RANGE,
        accession_pseudonym,
        date_offset_days,
        generic_pseudonym,
        patient_pseudonym,
        pseudonymous_uid,
        site_pseudonym,
        study_id_pseudonym,
    )
    from deidkit.core.quiet import (
        quiet_pydicom,
    )
    from deidkit.core.resources import (
        data_file,
        shipped_dir,
    )
    from deidkit.core.runreport import (
        FileOutcome,
        RunCounts,
        RunReport,
        action_log_path,
        read_run_report,
        run_report_path,
    )
    from deidkit.core.series import (
        SeriesVolume,
        read_series_volume,
    )

_EXPORTS = {
    "DeidkitError": "deidkit.core.errors",
    "UsageError": "deidkit.core.errors",
    "KeyFileError": "deidkit.core.errors",
    "OutputPathError": "deidkit.core.errors",
    "MissingDependencyError": "deidkit.core.errors",
    "ProfileError": "deidkit.core.errors",
    "RecipeError": "deidkit.core.errors",
    "LinkageError": "deidkit.core.errors",
    "TableInputError": "deidkit.core.errors",
    "ColumnSpecError": "deidkit.core.errors",
    "InputFileError": "deidkit.core.errors",
    "ScrubError": "deidkit.core.errors",
    "SeriesError": "deidkit.core.errors",
    "NothingToDoError": "deidkit.core.errors",
    "InsufficientSpaceError": "deidkit.core.errors",
    "WorkerLostError": "deidkit.core.errors",
    "OcrUnavailableError": "deidkit.core.errors",
    "PixelDataError": "deidkit.core.errors",
    "Executor": "deidkit.core.executor",
    "SerialExecutor": "deidkit.core.executor",
    "LocalProcessExecutor": "deidkit.core.executor",
    "DaskCluster": "deidkit.core.dask_executor",
    "DaskExecutor": "deidkit.core.dask_executor",
    "atomic_open": "deidkit.core.io",
    "atomic_write_bytes": "deidkit.core.io",
    "atomic_write_text": "deidkit.core.io",
    "publish_bytes": "deidkit.core.io",
    "check_output_location": "deidkit.core.io",
    "check_output_path": "deidkit.core.io",
    "OutputKind": "deidkit.core.io",
    "KEY_ENV_VAR": "deidkit.core.keys",
    "ProjectKey": "deidkit.core.keys",
    "load_key": "deidkit.core.keys",
    "load_key_file": "deidkit.core.keys",
    "generate_key_file": "deidkit.core.keys",
    "Location": "deidkit.core.locations",
    "scrub_nifti_header": "deidkit.core.metadata",
    "DISTRIBUTION": "deidkit.core.optional",
    "import_optional": "deidkit.core.optional",
    "missing_dependency": "deidkit.core.optional",
    "require_extra": "deidkit.core.optional",
    "DEFAULT_DATE_SHIFT_RANGE": "deidkit.core.pseudonym",
    "patient_pseudonym": "deidkit.core.pseudonym",
    "study_id_pseudonym": "deidkit.core.pseudonym",
    "accession_pseudonym": "deidkit.core.pseudonym",
    "site_pseudonym": "deidkit.core.pseudonym",
    "generic_pseudonym": "deidkit.core.pseudonym",
    "pseudonymous_uid": "deidkit.core.pseudonym",
    "date_offset_days": "deidkit.core.pseudonym",
    "quiet_pydicom": "deidkit.core.quiet",
    "shipped_dir": "deidkit.core.resources",
    "data_file": "deidkit.core.resources",
    "FileOutcome": "deidkit.core.runreport",
    "RunCounts": "deidkit.core.runreport",
    "RunReport": "deidkit.core.runreport",
    "run_report_path": "deidkit.core.runreport",
    "action_log_path": "deidkit.core.runreport",
    "read_run_report": "deidkit.core.runreport",
    "SeriesVolume": "deidkit.core.series",
    "read_series_volume": "deidkit.core.series",
}

__all__ = [
    "ColumnSpecError",
    "DEFAULT_DATE_SHIFT_RANGE",
    "DaskCluster",
    "DaskExecutor",
    "DISTRIBUTION",
    "DeidkitError",
    "Executor",
    "FileOutcome",
    "InputFileError",
    "InsufficientSpaceError",
    "KEY_ENV_VAR",
    "KeyFileError",
    "LinkageError",
    "LocalProcessExecutor",
    "Location",
    "MissingDependencyError",
    "NothingToDoError",
    "OcrUnavailableError",
    "OutputKind",
    "OutputPathError",
    "PixelDataError",
    "ProfileError",
    "ProjectKey",
    "RecipeError",
    "RunCounts",
    "RunReport",
    "ScrubError",
    "SerialExecutor",
    "SeriesError",
    "SeriesVolume",
    "TableInputError",
    "UsageError",
    "WorkerLostError",
    "accession_pseudonym",
    "action_log_path",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_location",
    "check_output_path",
    "data_file",
    "date_offset_days",
    "generate_key_file",
    "generic_pseudonym",
    "import_optional",
    "load_key",
    "load_key_file",
    "missing_dependency",
    "patient_pseudonym",
    "pseudonymous_uid",
    "publish_bytes",
    "quiet_pydicom",
    "read_run_report",
    "read_series_volume",
    "require_extra",
    "run_report_path",
    "scrub_nifti_header",
    "shipped_dir",
    "site_pseudonym",
    "study_id_pseudonym",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
