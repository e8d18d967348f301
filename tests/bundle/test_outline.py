"""Class outlines: what a request shows of a class (runner/bundle/outline.py and the outline
mode of runner/bundle/extract.py), on a class shaped like sqlparse's `Token` and
pyparsing's `ParseResults`: over 200 lines, slots, class constants, nested classes,
static and class methods, a subclass, and a class from another module used by name."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from runner.bundle.extract import Extraction, extract
from runner.bundle.outline import Shown, attribute_stores, class_outline, doc_line, signature
from runner.errors import TargetError
from runner.spec import Target

# Two dozen methods the targets never reach: their bodies must never be in a request.
FILLER = "".join(
    f'''
    def helper_{i}(self, items, limit={i}):
        """Helper {i}."""
        total = 0
        for item in items[:limit]:
            total += len(str(item))
        return total + {i}  # BODY_CANARY_{i}
'''
    for i in range(24)
)
LEXER = (
    '''"""Tokens, shaped like sqlparse's sql.py."""

import re

from pkg import tokens as T
from pkg.nodes import Node

_SPACE = re.compile(r"\\s+")
UNUSED_MODULE_CONSTANT = "MODULE_CANARY"


def _normalise(value):
    return _SPACE.sub(" ", value).strip()


class Token:
    """A token: a value with a type.

    DOCSTRING_REST_CANARY: only the first line is shown.
    """

    __slots__ = ("value", "ttype", "parent", "_cache", "is_keyword", "normalized")
    MAX_DEPTH = 40
    UNUSED_CONSTANT = "CONSTANT_CANARY"
    _registry = {}

    def __init__(self, ttype, value, parent=None):
        value = str(value)
        self.value = value
        self.ttype = ttype
        self.parent = parent
        if parent is None:
            self._cache = None
        else:
            self._cache = parent._cache
        marker = "INIT_BODY_CANARY"
        self.is_keyword = ttype in T.Keyword
        self.normalized = _normalise(value).upper() if self.is_keyword else value

    class Meta:
        """Options of a token class."""

        ordering = ("value",)

        def describe(self):
            return "META_BODY_CANARY"

    class Unused:
        def hidden(self):
            return "UNUSED_NESTED_CANARY"

    def match(self, ttype, values, depth=0):
        """Whether the token matches `ttype` and one of `values`."""
        if depth > self.MAX_DEPTH:
            return False
        if self._cache is not None and self._cache[0] == (ttype, values):
            return self._cache[1]
        return self._flatten(depth) and self._compare(ttype, values)

    def _flatten(self, depth=0):
        return "FLATTEN_BODY_CANARY" and depth < 10

    def _compare(
        self,
        ttype,
        values,  # a comment in the signature
    ):
        return "COMPARE_BODY_CANARY" != ttype

    @staticmethod
    def escape(value):
        return Token._escape_table().get(value, value) + str(Token.MAX_DEPTH)

    @staticmethod
    def _escape_table():
        return {"STATIC_BODY_CANARY": ""}

    @classmethod
    def register(cls, name):
        token = cls(name, name)
        cls._registry[name] = token
        return token

    def options(self):
        return self.Meta().ordering

    def to_node(self):
        return Node(self.ttype, [self.value])

    def shout(self):
        return self.normalized + "!"
'''
    + FILLER
    + '''

class TokenList(Token):
    """A group of tokens."""

    __slots__ = ("tokens",)

    def __init__(self, tokens=None):
        self.tokens = tokens or []
        super().__init__(None, "".join(t.value for t in self.tokens))
        self.extra = "TOKENLIST_INIT_CANARY"

    def first_value(self):
        return self.tokens[0].value if self.tokens else self.value


def build(kind):
    return Node(kind)
'''
)
FILES = {
    "pkg/__init__.py": "",
    "pkg/tokens.py": 'class _TokenType(tuple):\n    pass\n\n\nKeyword = _TokenType(("K",))\n',
    "pkg/nodes.py": textwrap.dedent(
        '''
        class Node:
            """A node of the parse tree."""

            def __init__(self, kind, children=()):
                self.kind = kind
                self.children = list(children)

            def walk(self):
                yield "NODE_WALK_CANARY"
        '''
    ).lstrip(),
    "pkg/lexer.py": LEXER,
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    for path, text in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def outline(repo: Path, target: str) -> Extraction:
    return extract(repo, [Target.parse(target)], resolver=lambda _m: (), outline=True)


def text_of(extraction: Extraction, path: str = "pkg/lexer.py") -> str:
    return next(f.text for f in extraction.files if f.path == path)


def class_text(name: str) -> str:
    node = next(n for n in ast.parse(LEXER).body if isinstance(n, ast.ClassDef) and n.name == name)
    return ast.get_source_segment(LEXER, node) or ""


def assert_no_canary(text: str, *allowed: str) -> None:
    canaries = [w for w in text.replace('"', " ").split() if "CANARY" in w]
    assert set(canaries) <= set(allowed), canaries


def test_the_fixture_is_a_real_library_sized_class() -> None:
    assert class_text("Token").count("\n") > 200


def test_a_method_is_sent_with_header_reads_and_the_signatures_it_calls(repo: Path) -> None:
    extraction = outline(repo, "pkg/lexer.py::Token.match")
    text = text_of(extraction)
    ast.parse(text)  # an outline is valid Python
    method = ast.get_source_segment(LEXER, _member("Token", "match"), padded=True)
    assert method
    assert method in text  # the method itself, byte for byte
    assert 'class Token:\n    """A token: a value with a type."""\n' in text
    assert "    MAX_DEPTH = 40\n" in text  # the class constant it reads
    assert "__slots__ = (" in text
    # The attribute it reads, as its constructor sets it (branches kept), nothing else.
    assert "        if parent is None:\n            self._cache = None\n" in text
    assert "            self._cache = parent._cache\n" in text
    assert "self.value = value" not in text
    # The methods it calls, by signature only, comments in the signature included.
    assert "    def _flatten(self, depth=0): ...\n" in text
    assert "        values,  # a comment in the signature\n    ): ...\n" in text
    assert_no_canary(text)
    assert "helper_" not in text
    assert "Meta" not in text
    assert "UNUSED" not in text
    assert "def _normalise" not in text  # only the unshown part of __init__ uses it
    kinds = {(d.name, d.kind) for f in extraction.files for d in f.definitions}
    assert ("Token", "class outline") in kinds


def test_the_outline_is_at_least_70_percent_smaller_than_the_class(repo: Path) -> None:
    sent = len(text_of(outline(repo, "pkg/lexer.py::Token.match")).encode())
    assert sent <= 0.3 * len(class_text("Token").encode())


def test_bundle_mode_still_keeps_what_runs(repo: Path) -> None:
    """The bundle itself is unchanged: a skeleton whose reached members are whole."""
    bundle = extract(repo, [Target.parse("pkg/lexer.py::Token.match")], resolver=lambda _m: ())
    text = text_of(bundle)
    assert "FLATTEN_BODY_CANARY" in text
    assert "INIT_BODY_CANARY" in text
    assert "BODY_CANARY_1" not in text


def test_a_staticmethod_reaches_its_class_by_name(repo: Path) -> None:
    text = text_of(outline(repo, "pkg/lexer.py::Token.escape"))
    assert "    @staticmethod\n    def escape(value):\n" in text
    assert "    @staticmethod\n    def _escape_table(): ...\n" in text
    assert "    MAX_DEPTH = 40\n" in text
    assert "def __init__" not in text  # Token is not constructed
    assert_no_canary(text)


def test_a_classmethod_constructing_cls_shows_the_constructor_signature(repo: Path) -> None:
    text = text_of(outline(repo, "pkg/lexer.py::Token.register"))
    assert "    _registry = {}\n" in text
    assert "    def __init__(self, ttype, value, parent=None): ...\n" in text
    assert_no_canary(text)


def test_a_nested_class_is_an_outline_of_its_own(repo: Path) -> None:
    text = text_of(outline(repo, "pkg/lexer.py::Token.options"))
    assert '    class Meta:\n        """Options of a token class."""\n' in text
    assert "META_BODY_CANARY" not in text
    assert "class Unused" not in text
    ast.parse(text)


def test_a_method_of_a_nested_class_is_whole_inside_both_outlines(repo: Path) -> None:
    text = text_of(outline(repo, "pkg/lexer.py::Token.Meta.describe"))
    ast.parse(text)
    assert 'class Token:\n    """A token: a value with a type."""\n' in text
    assert '    class Meta:\n        """Options of a token class."""\n' in text
    assert '        def describe(self):\n            return "META_BODY_CANARY"\n' in text
    assert "class Unused" not in text
    assert "def match" not in text
    assert_no_canary(text, "META_BODY_CANARY")
    bundle = text_of(
        extract(repo, [Target.parse("pkg/lexer.py::Token.Meta.describe")], resolver=lambda _m: ())
    )
    assert "META_BODY_CANARY" in bundle  # the nested class whole, inside its class's skeleton
    assert "UNUSED_NESTED_CANARY" not in bundle


def test_a_missing_nested_class_is_named(repo: Path) -> None:
    with pytest.raises(TargetError, match=r"no function 'Token\.Nope\.describe'"):
        outline(repo, "pkg/lexer.py::Token.Nope.describe")


def test_an_inherited_attribute_comes_from_the_base_constructor(repo: Path) -> None:
    text = text_of(outline(repo, "pkg/lexer.py::TokenList.first_value"))
    assert "class TokenList(Token):" in text
    assert "        self.tokens = tokens or []\n" in text
    # `self.value` is set by Token.__init__, with the local it is computed from.
    assert "        value = str(value)\n        self.value = value\n" in text
    assert_no_canary(text)
    assert "helper_" not in text
    ast.parse(text)


def test_a_class_of_another_module_used_by_name_shows_its_constructor(repo: Path) -> None:
    extraction = outline(repo, "pkg/lexer.py::Token.to_node")
    nodes = text_of(extraction, "pkg/nodes.py")
    assert nodes == (
        'class Node:\n    """A node of the parse tree."""\n\n'
        "    def __init__(self, kind, children=()): ...\n"
    )
    # ...and the same for a module-level function target.
    assert text_of(outline(repo, "pkg/lexer.py::build"), "pkg/nodes.py") == nodes


def test_an_attribute_shows_what_its_assignment_is_computed_from(repo: Path) -> None:
    extraction = outline(repo, "pkg/lexer.py::Token.shout")
    text = text_of(extraction)
    # `self.normalized` comes from a local, another attribute and a module function.
    assert "        value = str(value)\n" in text
    assert "        self.is_keyword = ttype in T.Keyword\n" in text
    assert (
        "        self.normalized = _normalise(value).upper() if self.is_keyword else value\n"
        in text
    )
    assert 'def _normalise(value):\n    return _SPACE.sub(" ", value).strip()\n' in text
    assert "_SPACE = re.compile(" in text
    assert "Keyword = " in text_of(extraction, "pkg/tokens.py")
    assert "self.ttype = ttype" not in text
    assert_no_canary(text)
    init = _member("Token", "__init__")
    assert isinstance(init, ast.FunctionDef)
    shown = [ast.unparse(s) for s in attribute_stores(init, {"normalized"})]
    assert shown == [
        "value = str(value)",
        "self.normalized = _normalise(value).upper() if self.is_keyword else value",
    ]


# --- rendering ----------------------------------------------------------------------------


def _member(class_name: str, name: str) -> ast.stmt:
    node = next(
        n for n in ast.parse(LEXER).body if isinstance(n, ast.ClassDef) and n.name == class_name
    )
    return next(m for m in node.body if isinstance(m, ast.FunctionDef) and m.name == name)


RENDER = '''class A(Base, metaclass=Meta):  # why
    """Summary with "quotes"

    More.
    """

    def one(self): return 1

    @property
    def two(
        self,
    ) -> dict[str, int]:
        return {}

    def __init__(self, x):
        if x:
            y = x * 2
            self.a = y
        else:
            self.a = 0
        print("not shown")
        for i in range(3):
            self.b = i
'''


def _render() -> tuple[list[str], ast.ClassDef]:
    tree = ast.parse(RENDER)
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef)
    return RENDER.splitlines(keepends=True), node


def test_signatures_end_at_the_header_colon() -> None:
    lines, node = _render()
    one, two, _init = (s for s in node.body if isinstance(s, ast.FunctionDef))
    assert signature(lines, one) == "    def one(self): ...\n"
    assert (
        signature(lines, two)
        == "    @property\n    def two(\n        self,\n    ) -> dict[str, int]: ...\n"
    )


def test_a_docstring_shows_its_first_line_safely() -> None:
    _lines, node = _render()
    line = doc_line(node)
    assert line == "'Summary with \"quotes\"'"  # it ends with a quote: repr, not triple quotes
    plain = ast.parse('class B:\n    """Plain."""\n').body[0]
    assert isinstance(plain, ast.ClassDef)
    assert doc_line(plain) == '"""Plain."""'
    bare = ast.parse("class B:\n    x = 1\n").body[0]
    assert isinstance(bare, ast.ClassDef)
    assert doc_line(bare) == ""


def test_a_constructor_shows_only_the_stores_and_their_blocks() -> None:
    lines, node = _render()
    init = node.body[-1]
    shown = Shown(classes={node}, attributes={init: {"a"}})
    text = class_outline(lines, node, shown)
    assert text.startswith("class A(Base, metaclass=Meta):\n    'Summary with \"quotes\"'\n\n")
    assert text.endswith(
        "    def __init__(self, x):\n"
        "        if x:\n"
        "            y = x * 2\n"
        "            self.a = y\n"
        "        else:\n"
        "            self.a = 0\n"
        "        ...\n"
    )
    assert "print" not in text
    assert "self.b" not in text
    ast.parse(text)


def test_an_empty_outline_is_still_a_class() -> None:
    lines, node = _render()
    text = class_outline(lines, node, Shown(classes={node}))
    assert text == "class A(Base, metaclass=Meta):\n    'Summary with \"quotes\"'\n"
    bare = "class B(object):\n    def f(self):\n        pass\n"
    tree = ast.parse(bare).body[0]
    assert isinstance(tree, ast.ClassDef)
    assert class_outline(bare.splitlines(keepends=True), tree, Shown()) == (
        "class B(object):\n    ...\n"
    )
