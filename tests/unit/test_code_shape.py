"""The shape of the package's code, checked on its syntax tree (no imports of the package).

* no function or method longer than :data:`MAX_FUNCTION_LINES` lines (``def`` to last line);
* the statistics layer (``trialmeta/stats``) imports nothing from the other trialmeta layers and
  does no file I/O (no ``open``, ``pathlib``, ``os``, ``io``, ``shutil``);
* no trialmeta module imports a private name (``_name``) from another trialmeta module (a private
  *module* such as ``trialmeta/plots/_axes.py`` is private to its package: its siblings may use it).

Each failure lists every offender as ``file:line``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "workflow" / "trialmeta"
MAX_FUNCTION_LINES = 80
#: modules whose import is file I/O (the statistics take arrays and return result objects)
FILE_IO_MODULES = ("pathlib", "os", "io", "shutil", "tempfile", "glob")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, tree: ast.AST):
    """``(node, module, imported names)`` of every import, relative imports resolved."""
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            yield node, module, [alias.name for alias in node.names]


def test_no_function_longer_than_80_lines():
    long = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{_where(path, node)} {node.name} ({n} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_statistics_import_only_statistics_and_do_no_file_io():
    bad = []
    for path, tree in _modules():
        if not _module_name(path).startswith("trialmeta.stats"):
            continue
        for node, module, _ in _imports(path, tree):
            if module.startswith("trialmeta.") and not module.startswith("trialmeta.stats"):
                bad.append(f"{_where(path, node)} imports {module}")
            if module.split(".")[0] in FILE_IO_MODULES:
                bad.append(f"{_where(path, node)} imports {module} (file I/O)")
        for node in ast.walk(tree):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            if call and node.func.id == "open":
                bad.append(f"{_where(path, node)} calls open()")
    assert not bad, "trialmeta.stats must stay pure statistics:\n" + "\n".join(bad)


def test_no_private_names_imported_across_modules():
    bad = []
    for path, tree in _modules():
        this = _module_name(path)
        for node, module, names in _imports(path, tree):
            if not module.startswith("trialmeta") or module == this:
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            parts = module.split(".")
            sibling = parts[:-1] == this.split(".")[:-1]
            if private or (not sibling and any(p.startswith("_") for p in parts[1:])):
                what = ", ".join(private) if private else module
                bad.append(f"{_where(path, node)} imports {what} from {module}")
    assert not bad, "private names imported from another trialmeta module:\n" + "\n".join(bad)
