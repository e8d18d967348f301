"""docs/architecture.md is a true map: its generated tree is `ls -R runner`, and every
subpackage has its paragraph."""

from __future__ import annotations

import re
from pathlib import Path

from tests.packaging.generators import load

GEN = load("gen_layout_docs")


def _document() -> str:
    return GEN.DOC.read_text(encoding="utf-8")


def test_the_tree_is_up_to_date() -> None:
    assert GEN.main(["--check"]) == 0, "run `python packaging/gen_layout_docs.py`"


def test_the_tree_names_exactly_the_files_under_runner() -> None:
    on_disk = {str(path) for path in GEN.files()}
    listed = GEN.listed(_document())
    assert on_disk - listed == set(), "files under runner/ missing from the map"
    assert listed - on_disk == set(), "the map names files that do not exist"


def test_a_new_module_makes_the_tree_stale(tmp_path: Path) -> None:
    package = tmp_path / "runner"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text('"""Top."""\n')
    (package / "sub" / "__init__.py").write_text('"""A sub. More."""\n')
    document = "# Map\n" + GEN.render(package) + "\n"
    (package / "sub" / "new.py").write_text('"""New one."""\n')
    fresh = GEN.render(package)
    assert GEN.splice(document, fresh) != document
    assert "new.py" in fresh
    assert "New one." in fresh
    names = {"__init__.py", "sub/__init__.py", "sub/new.py"}
    assert GEN.listed("# Map\n" + fresh, package) == names


def test_every_subpackage_has_a_paragraph() -> None:
    document = _document()
    packages = sorted(path.parent.name for path in (GEN.PACKAGE).glob("*/__init__.py"))
    headings = set(re.findall(r"^### `runner/(\w+)/`", document, flags=re.MULTILINE))
    assert set(packages) - headings == set(), "subpackages without a paragraph"
    assert headings - set(packages) == set(), "paragraphs of subpackages that do not exist"
