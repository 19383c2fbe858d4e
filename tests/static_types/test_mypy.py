"""``mypy --strict`` run on a user's module: the documented uses type-check with the model
carried through, and the common mistakes are flagged where they are made."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

HERE = Path(__file__).parent


def _mypy(module: str, cache: Path) -> tuple[str, int]:
    # a user's settings, not the project's: no config file, --strict, this Python
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stdout, stderr, status = api.run(
        [
            "--config-file=",
            "--strict",
            "--python-version",
            version,
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--hide-error-context",
            "--show-error-codes",
            str(HERE / module),
        ]
    )
    return stdout + stderr, status


def test_the_documented_uses_type_check(tmp_path: Path) -> None:
    output, status = _mypy("right_uses.py", tmp_path)
    assert status == 0, output


def test_each_mistake_is_flagged_on_its_line(tmp_path: Path) -> None:
    source = (HERE / "mistakes.py").read_text().splitlines()
    expected = {
        (number, code)
        for number, line in enumerate(source, start=1)
        for code in re.findall(r"# error: ([\w-]+)", line)
    }
    output, status = _mypy("mistakes.py", tmp_path)
    found = {
        (int(line), code)
        for line, code in re.findall(r"mistakes\.py:(\d+): error: .*\[([\w-]+)\]$", output, re.M)
    }
    assert status == 1
    assert len(expected) == 13
    assert found == expected, output
