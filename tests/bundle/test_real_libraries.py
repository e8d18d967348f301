"""Extraction on real code no one here wrote: more-itertools, humanize, python-slugify.

Every public top-level function of the sampled modules is extracted into a bundle on its
own; the bundle's code must import standalone (PYTHONPATH = the bundle's import roots) with
the same signature, and, for the functions with hand-written inputs, return the same
results as the original package.
"""

from __future__ import annotations

import ast
import json
import os
import statistics
import subprocess
import sys
import tarfile
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.bundle.bundle import build_bundle
from runner.bundle.extract import extract
from runner.bundle.signing import load_or_create_key
from runner.spec import Target

pytestmark = pytest.mark.slow

CACHE = Path.home() / ".cache" / "optirunner-test-sdists"
SDISTS = {
    "more-itertools": ("10.5.0", ["more_itertools/more.py", "more_itertools/recipes.py"]),
    "humanize": (
        "4.11.0",
        ["src/humanize/number.py", "src/humanize/time.py", "src/humanize/filesize.py",
         "src/humanize/lists.py"],
    ),
    "python-slugify": ("8.0.4", ["slugify/slugify.py"]),
}  # fmt: skip
RUNTIME_DEPS = ["text-unidecode==1.3"]  # python-slugify's requirement, installed for both sides

# Hand-written inputs: the same calls must give the same results from bundle and original.
CASES: dict[str, list[str]] = {
    "take": ["(3, range(10))"], "tail": ["(2, [1, 2, 3])"], "nth": ["([1, 2, 3], 1)"],
    "all_equal": ["([1, 1, 1],)", "('aab',)"], "quantify": ["([1, 0, 1],)"],
    "flatten": ["([[1], [2, 3]],)"], "dotproduct": ["([1, 2], [3, 4])"],
    "grouper": ["('abcdefg', 3, fillvalue='x')"], "roundrobin": ["('abc', 'd', 'ef')"],
    "partition": ["(lambda x: x > 2, range(5))"], "unique_everseen": ["('aabbcad',)"],
    "unique_justseen": ["('aabbcad',)"], "first_true": ["([0, None, 2, 3],)"],
    "powerset": ["([1, 2, 3],)"], "sliding_window": ["(range(5), 2)"],
    "triplewise": ["('abcde',)"], "chunked": ["(range(7), 3)"], "first": ["([5, 6],)"],
    "last": ["([5, 6],)"], "one": ["([1],)", "([1, 2],)"], "ilen": ["(range(5),)"],
    "interleave": ["([1, 2], [3, 4, 5])"], "collapse": ["([[1, [2]], 3, 'ab'],)"],
    "split_at": ["('a,b,c', lambda c: c == ',')"], "windowed": ["([1, 2, 3, 4], 2)"],
    "distinct_permutations": ["([1, 1, 2],)"], "always_iterable": ["(1,)", "('ab',)"],
    "sort_together": ["([[3, 1, 2], 'abc'],)"], "divide": ["(2, [1, 2, 3, 4, 5])"],
    "intersperse": ["(0, [1, 2, 3])"], "padded": ["([1, 2], None, 4)"],
    "run_length": ["('aaabcc',)"] , "consecutive_groups": ["([1, 2, 4, 5, 7],)"],
    "naturalsize": ["(3000000,)", "(3000000, True)"], "intcomma": ["(1234567.25, 1)"],
    "intword": ["(1200000000,)"], "ordinal": ["(3,)", "(112,)"], "apnumber": ["(5,)"],
    "fractional": ["(0.3,)", "(1.5,)"], "scientific": ["(500,)"], "metric": ["(1500, 'V')"],
    "naturaldelta": ["(3600,)", "(86400 * 400,)"], "precisedelta": ["(3700,)"],
    "natural_list": ["(['a', 'b', 'c'],)"], "clamp": ["(0.0001, '{:.0%}', 0.01)"],
    "slugify": ["('Hello World! Ça va?',)", "('a b c', max_length=3)"],
    "smart_truncate": ["('hello world', 5)"],
}  # fmt: skip

PROBE = r"""
import importlib, inspect, json, re, sys
module = importlib.import_module(sys.argv[1])
names, cases = json.loads(sys.argv[2]), json.loads(sys.argv[3])

def norm(value, depth=0):
    if depth > 2 or isinstance(value, (str, bytes, int, float, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)) or hasattr(value, "__next__"):
        return [norm(v, depth + 1) for v in value]
    return value

def call(function, args):
    try:
        return repr(norm(eval("function" + args)))
    except Exception as exc:
        return "raises " + type(exc).__name__

out = {}
for name in names:
    function = getattr(module, name)
    # Default sentinels print with their address: compare the text without it.
    signature = re.sub(r" at 0x[0-9a-f]+", "", str(inspect.signature(function)))
    out[name] = {"signature": signature,
                 "results": [call(function, args) for args in cases.get(name, [])]}
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Library:
    root: Path
    modules: list[str]


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "-q", *args], check=True, capture_output=True, timeout=300
    )


def _download() -> None:
    pins = [f"{name}=={version}" for name, (version, _) in SDISTS.items()]
    try:
        _pip("download", "--no-deps", "--no-binary", ":all:", "-d", str(CACHE), *pins)
        _pip("install", "--no-deps", "--target", str(CACHE / "site"), *RUNTIME_DEPS)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"the package registry is unreachable: {exc}")


@pytest.fixture(scope="session")
def libraries() -> dict[str, Library]:
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (CACHE / "site").is_dir() or len(list(CACHE.glob("*.tar.gz"))) < len(SDISTS):
        _download()
    found: dict[str, Library] = {}
    for name, (version, modules) in SDISTS.items():
        archive = next(CACHE.glob(f"{name.replace('-', '?')}-{version}.tar.gz"))
        root = CACHE / archive.name.removesuffix(".tar.gz")
        if not root.is_dir():
            with tarfile.open(archive) as tar:
                tar.extractall(CACHE, filter="data")
        found[name] = Library(root, modules)
    return found


def _public_functions(file: Path) -> list[str]:
    tree = ast.parse(file.read_text(encoding="utf-8"))
    return [
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and not n.name.startswith("_")
    ]


def _probe(pythonpath: list[Path], module: str, names: list[str], cwd: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [*pythonpath, CACHE / "site"]))}
    # -S: no site-packages. An installed copy of the library (more-itertools comes with
    # keyring's dependencies) would otherwise shadow a bundle's namespace package.
    done = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, module, json.dumps(names), json.dumps(CASES)],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return {"error": {"stderr": done.stderr[-500:]}}
    result: dict[str, dict] = json.loads(done.stdout)  # type: ignore[type-arg]
    return result


def _module_name(path: str) -> str:
    return path.removeprefix("src/").removesuffix(".py").replace("/", ".")


def test_real_libraries(libraries: dict[str, Library], tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "state")
    same, behaved, ratios, failures = 0, 0, [], []
    total = with_cases = 0
    for library in libraries.values():
        for path in library.modules:
            module = _module_name(path)
            names = _public_functions(library.root / path)
            original_roots = [library.root / "src" if path.startswith("src/") else library.root]
            expected = _probe(original_roots, module, names, tmp_path)
            assert "error" not in expected, expected
            for name in names:
                total += 1
                out = tmp_path / "bundles" / f"{module}.{name}"
                extraction = extract(library.root, [Target(path, name)])
                built = build_bundle(
                    extraction, out, key, repository=str(library.root), commit=None,
                    now=lambda: datetime(2024, 1, 1, tzinfo=UTC),
                )  # fmt: skip
                ratios.append(extraction.share)
                roots = [out / "bundle" / r for r in built.manifest["import_roots"]]
                got = _probe(roots, module, [name], tmp_path).get(name)
                if got is not None and got["signature"] == expected[name]["signature"]:
                    same += 1
                    if name in CASES:
                        with_cases += 1
                        behaved += got["results"] == expected[name]["results"]
                        if got["results"] != expected[name]["results"]:
                            failures.append(f"{module}.{name}: {got} != {expected[name]}")
                else:
                    failures.append(f"{module}.{name}: {got}")
    share_ok = same / total
    median_ratio = statistics.median(ratios)
    summary = textwrap.dedent(f"""
        functions extracted: {total}
        bundle imports with the same signature: {same}/{total} = {share_ok:.1%}
        same results on hand-written inputs: {behaved}/{with_cases}
        median bundle/original size: {median_ratio:.1%} ({1 - median_ratio:.1%} smaller)
        failures: {failures[:10]}
    """)
    print(summary)
    (CACHE / "last-results.txt").write_text(summary)
    assert total >= 30
    assert with_cases >= 30
    assert share_ok >= 0.9, summary
    assert behaved / with_cases >= 0.9, summary
    assert median_ratio <= 0.2, summary
