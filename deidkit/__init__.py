"""deidkit: standard-driven de-identification of medical images.

The library API lives in the stage modules (``deidkit.scrub.engine``, ``deidkit.scrub.pipeline``,
``deidkit.verify.release``, ``deidkit.deface``, ``deidkit.core.pseudonym`` ...); the ``deidkit`` command
is a thin Typer layer over them (``deidkit.cli``).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
