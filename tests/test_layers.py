"""The layers keep to their side: the pages (registry/web) reach data only through the services,
and neither the pages nor the services reach into the API (registry/api), nor the services into
the pages. Read from the source with `ast`, so an import inside a function or an
`if TYPE_CHECKING:` block counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REGISTRY = Path(__file__).resolve().parent.parent / "registry"

RULES = {  # package -> the modules it must not import
    "web": ("registry.models", "registry.api"),
    "services": ("registry.api", "registry.web"),
}


def imports(path: Path):
    """(line, modules) for each import in the file, relative imports resolved; `from X import a`
    names both X and X.a (a may be a submodule: `from .. import models`)."""
    package = list(path.relative_to(REGISTRY.parent).with_suffix("").parts)
    package = package[:-1]  # a module's package; an __init__.py's parts end in "__init__"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield node.lineno, [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield node.lineno, [module] + [f"{module}.{alias.name}" for alias in node.names]


def violations(layer: str) -> list[str]:
    forbidden = RULES[layer]
    found = []
    for path in sorted((REGISTRY / layer).rglob("*.py")):
        for line, modules in sorted(imports(path)):
            bad = [m for m in modules if any(m == rule or m.startswith(rule + ".") for rule in forbidden)]
            if bad:
                found.append(f"{path.relative_to(REGISTRY.parent)}:{line} imports {bad[0]}")
    return found


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports(layer):
    assert violations(layer) == []


def test_the_check_sees_every_spelling(tmp_path, monkeypatch):
    """Each way of writing a forbidden import is caught, so a passing check means something."""
    web = tmp_path / "registry" / "web"
    web.mkdir(parents=True)
    spellings = ["from ..models import User", "from .. import models", "from ..api.context import db_session",
                 "from .. import api", "import registry.models", "from registry.api import context",
                 "def f():\n    from ..models.users import User",
                 "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..models import User"]
    for number, source in enumerate(spellings):
        (web / f"page{number}.py").write_text(source + "\n")
    (web / "fine.py").write_text("from ..services import users\nfrom . import models\nfrom .api_docs import x\n")
    monkeypatch.setattr(__name__ + ".REGISTRY", tmp_path / "registry")
    flagged = {line.split(":")[0] for line in violations("web")}
    assert flagged == {f"registry/web/page{number}.py" for number in range(len(spellings))}


def test_no_coroutine_views_or_hooks():
    """registry.RegistryFlask runs views and hooks without asking whether they are coroutines."""
    found = [f"{path.relative_to(REGISTRY.parent)}:{node.lineno}"
             for path in sorted(REGISTRY.rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(), str(path)))
             if isinstance(node, ast.AsyncFunctionDef)]
    assert found == []
