"""The README's "Library use" imports only public stage APIs, and every name it uses exists."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
PUBLIC = {
    "deidkit.core", "deidkit.rules", "deidkit.scrub", "deidkit.verify",
    "deidkit.pseudonymise", "deidkit.deface", "auditkit", "pydicom", "pathlib",
}  # fmt: skip


def _library_use_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Library use", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "README's Library use has no python block"
    return match.group(1)


def test_library_use_imports_public_apis_that_exist() -> None:
    tree = ast.parse(_library_use_block())
    imported = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module in PUBLIC, f"README imports from {node.module}"
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module}.{alias.name}"
                imported += 1
    assert imported >= 10
