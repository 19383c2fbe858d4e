"""The built sdist and wheel carry the Lua scripts (`nox -s wheel` installs and runs them)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.name for p in (ROOT / "lua").glob("*.lua"))


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is needed to build the distributions")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([uv, "build", "--quiet", "--out-dir", str(out)], cwd=ROOT, check=True)
    return out


def test_wheel_carries_every_script_and_py_typed(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("aioredpat/_lua/")) == SCRIPTS
    assert "aioredpat/py.typed" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "aioredpat = aioredpat.testing.plugin" in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def test_sdist_carries_the_lua_directory(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert sorted(n.rsplit("/", 1)[1] for n in names if "/lua/" in n) == SCRIPTS
