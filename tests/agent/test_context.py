"""A target's view of the signed bundle: what its requests show (runner/agent/context.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runner.agent.context import BundleView, view_of_module
from runner.errors import BundleError
from runner.spec import Target
from tests.agent.test_canary import bundle_of
from tests.bundle.test_outline import FILES, LEXER

MATCH = Target("pkg/lexer.py", "Token.match")
BUILD = Target("pkg/lexer.py", "build")


def write(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_a_method_target_sees_an_outline_cut_from_the_signed_bundle(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", FILES)
    bundle = bundle_of(repo, tmp_path, [MATCH])
    view = bundle.for_target(MATCH)
    text = view.module(MATCH)
    assert "FLATTEN_BODY_CANARY" in bundle.module(MATCH)  # the bundle runs: bodies kept
    assert "FLATTEN_BODY_CANARY" not in text  # the request reads: a signature
    assert "    def _flatten(self, depth=0): ...\n" in text
    assert "return self._flatten(depth) and self._compare(ttype, values)" in text
    assert "pkg/lexer.py class outline Token" in view.definitions
    assert view.bundle_id == bundle.bundle_id
    assert view.targets == (str(MATCH),)
    assert view.code_bytes < bundle.code_bytes
    assert view.code_bytes == sum(len(t.encode()) for _p, t in view.files)


def test_each_target_sees_only_its_own_code(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", FILES)
    bundle = bundle_of(repo, tmp_path, [MATCH, BUILD])
    match, build = bundle.for_target(MATCH), bundle.for_target(BUILD)
    assert "def build(kind)" in bundle.module(MATCH)
    assert "def build(kind)" not in match.module(MATCH)
    assert "def match(" not in build.module(BUILD)
    assert [p for p, _t in build.files] == ["pkg/lexer.py", "pkg/nodes.py"]


SRC = {
    "src/shop/__init__.py": "",
    "src/shop/util.py": "def helper(x):\n    return x + 1\n\n\ndef other():\n    return 0\n",
    "src/shop/cart.py": textwrap.dedent(
        """
        from .util import helper


        class Cart:
            def __init__(self, items):
                self.items = items

            def total(self):
                return sum(helper(i) for i in self.items)

            def clear(self):
                self.items = []
        """
    ).lstrip(),
}


def test_relative_imports_resolve_from_the_manifest_import_roots(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", SRC)
    target = Target("src/shop/cart.py", "Cart.total")
    bundle = bundle_of(repo, tmp_path, [target])
    assert bundle.import_roots == ("src",)
    view = bundle.for_target(target)
    files = dict(view.files)
    assert files["src/shop/util.py"] == "def helper(x):\n    return x + 1\n"
    assert "def clear" not in files["src/shop/cart.py"]
    assert "        self.items = items\n" in files["src/shop/cart.py"]


def test_the_provider_path_outlines_the_module_too() -> None:
    view = view_of_module(MATCH, LEXER)
    text = view.module(MATCH)
    assert "    def _flatten(self, depth=0): ...\n" in text
    assert "BODY_CANARY" not in text


def test_a_file_outside_the_code_folder_is_refused() -> None:
    view = BundleView("b", (str(MATCH),), (("../escape.py", "x = 1\n"),), (), ())
    with pytest.raises(BundleError, match="outside"):
        view.for_target(MATCH)
