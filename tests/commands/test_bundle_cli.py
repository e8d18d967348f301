"""`optirunner bundle create|verify` as a user runs them, in real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXE = Path(sys.executable).with_name("optirunner")
MODULE = """import json

RATE = 3


def price(x):
    return json.dumps(x * RATE)


def unrelated():
    return 0
"""


def cli(*args: str, width: int = 80) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": str(width)},
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "shop.py").write_text(MODULE)
    (root / "test_shop.py").write_text("def test_x():\n    pass\n")
    return root


def test_create_shows_what_leaves_and_verify_accepts(repo: Path, tmp_path: Path) -> None:
    done = cli(
        "bundle", "create", str(repo), "--target", "shop.py::price", "--out", str(tmp_path / "o")
    )
    assert done.returncode == 0, done.stderr
    assert "code/shop.py" in done.stdout
    assert "price" in done.stdout
    assert "Share of the original files' bytes" in done.stdout
    assert "unrelated" not in done.stdout
    assert "test_shop" not in done.stdout
    for path in ("o/bundle.zip", "o/bundle"):
        verified = cli("bundle", "verify", str(tmp_path / path))
        assert verified.returncode == 0, verified.stderr
        assert verified.stdout.startswith("signature valid, 4 files intact")


def test_create_json_and_default_job_dir(repo: Path) -> None:
    done = cli("bundle", "create", str(repo), "-t", "shop.py::price", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["manifest"]["targets"] == ["shop.py::price"]
    assert "/jobs/" in data["zip"]
    assert Path(data["zip"]).is_file()


def test_tampering_exits_1_with_one_line(repo: Path, tmp_path: Path) -> None:
    cli("bundle", "create", str(repo), "-t", "shop.py::price", "--out", str(tmp_path / "o"))
    code = tmp_path / "o/bundle/code/shop.py"
    code.write_text(code.read_text().replace("RATE = 3", "RATE = 4"))
    done = cli("bundle", "verify", str(tmp_path / "o/bundle"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "code/shop.py was modified" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["bundle", "create", "/no/such/repo", "-t", "a.py::f"],
        ["bundle", "create", "{repo}", "-t", "shop.py::missing_function_with_a_long_name"],
        ["bundle", "create", "{repo}", "-t", "nope.py::f"],
        ["bundle", "create", "{repo}", "-t", "not-a-target"],
        ["bundle", "verify", "/no/such/bundle.zip", "--public-key", "/no/such/key.pub"],
        ["bundle", "verify", "{repo}/shop.py"],
    ],
)
def test_bad_inputs_exit_1_one_line(repo: Path, args: list[str]) -> None:
    done = cli(*(a.replace("{repo}", str(repo)) for a in args), width=40)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("optirunner: error: ")
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
