"""The fault tests' tallies at the end of every run (what was tried, acknowledged and lost)."""

from __future__ import annotations

from typing import Any

from .helpers import REPORTED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORTED:
        terminalreporter.section("fault tallies")
        for line in REPORTED:
            terminalreporter.write_line(line)
