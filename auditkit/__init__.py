"""auditkit: subgroup performance and fairness audits of medical imaging models."""

__version__ = "0.1.0"

__all__ = ["__version__"]
