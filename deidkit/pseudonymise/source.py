"""``deidkit pseudonymise`` as one function: a clinical table or a BIDS tree, from options.

:func:`pseudonymise_source` resolves the date shift range (explicit, else a profile's, else
the default) and the project key, refuses a random key (pseudonyms of a key nobody keeps
join nothing), opens the linkage file if one is named, and hands the work to
:func:`~deidkit.pseudonymise.tables.pseudonymise_table` or
:func:`~deidkit.pseudonymise.bids.pseudonymise_bids`. Its checks run in a fixed order, so
that a call with several faults always reports the same one first.

The result, :class:`PseudonymiseResult`, holds counts and column names only, never a value
read from the table or the tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deidkit.core.errors import UsageError
from deidkit.core.io import OutputKind, check_output_path
from deidkit.core.keys import load_key
from deidkit.core.pseudonym import DEFAULT_DATE_SHIFT_RANGE
from deidkit.pseudonymise.bids import BidsResult, pseudonymise_bids
from deidkit.pseudonymise.linkage import open_linkage
from deidkit.pseudonymise.tables import (
    TableResult,
    TableSpec,
    parse_id_column,
    pseudonymise_table,
)
from deidkit.rules.profile import load_profile

ERR_NO_KEY = (
    "pseudonymise needs a project key: --key-file or $DEIDKIT_KEY "
    "(a random key would give pseudonyms that join nothing)"
)
ERR_FOLDER = "{name} is a folder: add --bids to pseudonymise a BIDS tree"
ERR_BIDS_COLUMNS = "column options do not apply to --bids"
ERR_NO_ID_COLUMN = "name at least one --id-column or --patient-column"
ERR_AS_IS_TABLE = "--copy-metadata-as-is applies to --bids only"


@dataclass(frozen=True)
class ColumnOptions:
    """What to do with a table's columns, as a user names them.

    ``id_columns`` holds ``COL`` or ``COL:KIND`` texts (see
    :func:`~deidkit.pseudonymise.tables.parse_id_column`); the rest are column names.
    """

    id_columns: tuple[str, ...] = ()
    patient_column: str | None = None
    date_columns: tuple[str, ...] = ()
    drop_columns: tuple[str, ...] = ()
    empty_columns: tuple[str, ...] = ()
    keep_columns: tuple[str, ...] = ()
    keep_unlisted: bool = False

    def given(self) -> bool:
        """Whether any column option is set (none applies to a BIDS tree)."""
        named = (self.id_columns, self.patient_column, self.date_columns, self.drop_columns)
        return any(named) or bool(self.empty_columns or self.keep_columns or self.keep_unlisted)

    def table_spec(self, date_shift_range: tuple[int, int] = DEFAULT_DATE_SHIFT_RANGE) -> TableSpec:
        """The :class:`~deidkit.pseudonymise.tables.TableSpec` these options describe."""
        return TableSpec(
            id_columns=dict(parse_id_column(spec) for spec in self.id_columns),
            patient_column=self.patient_column,
            date_columns=self.date_columns,
            drop_columns=self.drop_columns,
            empty_columns=self.empty_columns,
            keep_columns=self.keep_columns,
            keep_unlisted=self.keep_unlisted,
            date_shift_range=date_shift_range,
        )


@dataclass(frozen=True)
class PseudonymiseResult:
    """What :func:`pseudonymise_source` did: exactly one of ``table`` and ``bids`` is set."""

    output: Path
    key_fingerprint: str
    key_ephemeral: bool
    date_shift_range: tuple[int, int]
    table: TableResult | None = None
    bids: BidsResult | None = None

    def to_json(self) -> dict[str, Any]:
        """The counts of the table or tree, plus output, key fingerprint and shift range."""
        done = self.table if self.table is not None else self.bids
        data: dict[str, Any] = done.to_json() if done is not None else {}
        data.update(
            output=str(self.output),
            key_fingerprint=self.key_fingerprint,
            key_ephemeral=self.key_ephemeral,
            date_shift_range=list(self.date_shift_range),
        )
        return data


def resolve_date_shift_range(
    date_shift_range: tuple[int, int] | None = None, profile: str | Path | None = None
) -> tuple[int, int]:
    """``date_shift_range`` if given, else the range of ``profile``, else the default.

    Raises
    ------
    ProfileError
        If ``profile`` is needed and cannot be loaded.
    """
    if date_shift_range is not None:
        return date_shift_range
    if profile is not None:
        return load_profile(profile).date_shift_range
    return DEFAULT_DATE_SHIFT_RANGE


def _check_outputs(
    source: Path,
    output: Path,
    *,
    bids: bool,
    inputs: dict[str, Path | None],
    linkage: Path | None,
    overwrite: bool,
) -> None:
    """OUTPUT and the linkage file against every input (the table's own check knows SOURCE).

    The linkage file holds identifiers (encrypted): never in a release.
    """
    inputs = {"SOURCE": source, **inputs}
    kind = OutputKind.TREE if bids else OutputKind.FILE
    others = {"--linkage": linkage}
    check_output_path(
        output, option="OUTPUT", kind=kind, inputs=inputs, others=others, force=overwrite
    )
    if linkage is not None:
        check_output_path(
            linkage, option="--linkage", kind=OutputKind.APPEND, inputs=inputs, sensitive=True
        )


def pseudonymise_source(
    source: Path,
    output: Path,
    *,
    columns: ColumnOptions | None = None,
    bids: bool = False,
    key_file: Path | None = None,
    linkage: Path | None = None,
    linkage_key_file: Path | None = None,
    profile: str | Path | None = None,
    date_shift_range: tuple[int, int] | None = None,
    overwrite: bool = False,
    copy_metadata_as_is: bool = False,
    env: dict[str, str] | None = None,
) -> PseudonymiseResult:
    """Pseudonymise a table, or with ``bids`` a BIDS tree, into a new ``output``.

    ``source`` is a CSV/TSV/Parquet table and ``output`` a table in the format its
    extension names, or with ``bids`` both are folders.

    Parameters
    ----------
    columns
        The column actions of a table (none may be given with ``bids``).
    key_file
        The project key file; default ``$DEIDKIT_KEY`` (from ``env``, default the process
        environment). A random key is refused.
    linkage, linkage_key_file
        Append original -> pseudonym pairs to this linkage file, encrypted with a key derived
        from the project key or with the separate key in ``linkage_key_file``.
    profile, date_shift_range
        The date offset range: ``date_shift_range`` if given, else ``profile``'s, else
        :data:`~deidkit.core.pseudonym.DEFAULT_DATE_SHIFT_RANGE`. With ``bids``, ``profile``
        (default ``basic``) also rules the JSON sidecars' keys by its Table E.1-1 codes.
    overwrite
        Replace an existing output table (a BIDS output folder must be new).
    copy_metadata_as_is
        With ``bids``: copy NIfTI headers and JSON sidecars unchanged instead of scrubbing
        them and shifting their dates (the result says so: ``metadata_as_is``).

    Raises
    ------
    UsageError
        No project key, a folder without ``bids``, column options with ``bids``,
        ``copy_metadata_as_is`` without ``bids``, a table without an ID or patient column,
        or an existing output (also the subclasses
        :class:`~deidkit.core.errors.KeyFileError`, ``ProfileError``, ``ColumnSpecError``,
        ``OutputPathError``).
    LinkageError
        If ``linkage`` belongs to another key or project.
    TableInputError
        If the table or a file of the tree cannot be read, or a tree's header or sidecar
        cannot be scrubbed (see :func:`~deidkit.pseudonymise.bids.pseudonymise_bids`).
    """
    shift = resolve_date_shift_range(date_shift_range, profile)
    key = load_key(key_file, env=env)
    if key.ephemeral:
        raise UsageError(ERR_NO_KEY)
    store = None
    if linkage is not None:
        store = open_linkage(linkage, key=key, linkage_key_file=linkage_key_file)
    columns = columns if columns is not None else ColumnOptions()
    source, output = Path(source), Path(output)
    if source.is_dir() and not bids:
        raise UsageError(ERR_FOLDER.format(name=source.name))
    _check_outputs(
        source,
        output,
        bids=bids,
        inputs={"--key-file": key_file, "--linkage-key-file": linkage_key_file},
        linkage=linkage,
        overwrite=overwrite,
    )
    tree: BidsResult | None = None
    table: TableResult | None = None
    if bids:
        if columns.given():
            raise UsageError(ERR_BIDS_COLUMNS)
        tree = pseudonymise_bids(
            source,
            output,
            key=key,
            linkage=store,
            date_shift_range=shift,
            copy_metadata_as_is=copy_metadata_as_is,
            profile=load_profile(profile) if profile is not None else None,
        )
    else:
        if copy_metadata_as_is:
            raise UsageError(ERR_AS_IS_TABLE)
        spec = columns.table_spec(shift)
        if not spec.id_columns and spec.patient_column is None:
            raise UsageError(ERR_NO_ID_COLUMN)
        table = pseudonymise_table(
            source, output, key=key, spec=spec, linkage=store, overwrite=overwrite
        )
    return PseudonymiseResult(
        output=output,
        key_fingerprint=key.fingerprint,
        key_ephemeral=key.ephemeral,
        date_shift_range=shift,
        table=table,
        bids=tree,
    )
