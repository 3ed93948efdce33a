"""`index/` never imports `bot/` (README): the core runs without Discord, and the bot is one of
its users. Checked on the source, so an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

INDEX = Path(__file__).resolve().parent.parent / "index"


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in a module, at any depth."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


def test_index_never_imports_bot():
    modules = sorted(INDEX.rglob("*.py"))
    assert len(modules) > 20
    offenders = [
        f"{path.relative_to(INDEX.parent)}:{line}"
        for path in modules
        for line, package in _imported(ast.parse(path.read_text(), str(path)))
        if package == "bot"
    ]
    assert offenders == []


def test_the_check_sees_function_level_imports():
    source = "def f():\n    from bot.config import BotSettings\n    import bot\n"
    assert [p for _, p in _imported(ast.parse(source))] == ["bot", "bot"]
