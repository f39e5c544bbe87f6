"""deidkit: standard-driven de-identification of medical images.

The library is a set of stage packages, each with its public API in its ``__init__``:
:mod:`deidkit.core` (keys, pseudonyms, atomic I/O, errors, executor), :mod:`deidkit.rules`
(PS3.15 tables, profiles, recipes, decisions), :mod:`deidkit.scrub` (:func:`scrub_dataset`,
:func:`scrub_tree`), :mod:`deidkit.verify` (:func:`verify_release`),
:mod:`deidkit.pseudonymise` (tables, BIDS, linkage), :mod:`deidkit.deface`. The ``deidkit``
command is a thin Typer layer over them (:mod:`deidkit.cli`); ``docs/architecture.md`` has
the map.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
