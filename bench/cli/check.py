"""``python -m bench check METHOD|FILE.py|all``: the contract checks on methods, one row per check."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.contract.checks import ALLOWED, FAIL, CheckRow, check_rows
from bench.errors import BenchError
from bench.plugins import load_plugins, load_user_plugin
from bench.registry import METHODS

STYLES = {FAIL: "red", ALLOWED: "yellow"}


def targets_to_methods(targets: list[str], console: Console) -> list[str]:
    """Method names from names, ``all`` (every registered method available here) and plugin files."""
    load_plugins()
    names: list[str] = []
    for target in targets:
        if target.endswith(".py"):
            found = load_user_plugin(target)
            if not found:
                raise BenchError(f"{target} registers no method (a Method subclass needs @register_method)")
            names += found
        elif target == "all":
            for info, cls in METHODS:
                if why := cls.unavailable():
                    console.print(f"{info.name}: not checked, not here: {why}", markup=False)
                else:
                    names.append(info.name)
        else:
            _, cls = METHODS.get(target)  # an unknown name ends here, in one line
            if why := cls.unavailable():
                raise BenchError(f"method {target!r} cannot run here: {why}")
            names.append(target)
    return list(dict.fromkeys(names))


def check_methods(targets: list[str]) -> int:
    """Run every check on every target with its ``fast_params``; exit code 1 if any check failed."""
    console = Console()
    console.width = max(console.width, 110)
    names = targets_to_methods(targets, console)
    table = Table(title="contract checks (each method fitted with its fast_params)")
    for column in ("method", "check", "result", "seconds"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    start = time.perf_counter()
    rows: list[CheckRow] = []
    for name in names:
        with console.status(f"checking {name}"):
            found = check_rows(name)
        rows += found
        for row in found:
            result = row.outcome if not row.detail else f"{row.outcome}: {row.detail}"
            style = STYLES.get(row.outcome)
            table.add_row(escape(name), row.check, escape(result), f"{row.seconds:.2f}", style=style)
    console.print(table)
    failed = sorted({row.method for row in rows if row.outcome == FAIL})
    allowed = sum(row.outcome == ALLOWED for row in rows)
    console.print(
        f"{len(names)} methods, {len(rows)} checks: {sum(row.outcome == FAIL for row in rows)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
        + (f", {allowed} allowed failures" if allowed else "")
        + f"; {time.perf_counter() - start:.1f}s",
        markup=False,
    )
    return 1 if failed else 0
