"""Strict comparison of two behaviour recordings (baseline against candidate).

A recording (written by `_record_plugin.py`) lists, per target, every call the test suite made:
the test that made it, the arguments before and after, and the return value or exception.
Two recordings agree only when every call agrees exactly. Values the recorder could not encode
faithfully ("unknown", "truncated") are never equal to anything else; on both sides, of one
type, they are counted as not compared. The A/A pass (`instability`) finds what two runs of
the unchanged baseline disagree on; `compare` leaves that out and counts it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import OptirunnerError

FORMAT_VERSION = 1
SUMMARY_LIMIT = 120
_UNCOMPARABLE = frozenset({"unknown", "truncated"})
_SCALARS = frozenset(
    {"none", "bool", "int", "str", "bytes", "bytearray", "type", "repr", "enum", "global", "cycle"}
)

Encoded = Any  # a tagged JSON value, as produced by `_record_plugin.encode`


class RecordingError(OptirunnerError):
    """A recording file is missing or not a recording."""


@dataclass(frozen=True)
class Call:
    """One recorded call of a target."""

    site: str
    seq: int
    args: Mapping[str, Encoded]
    outcome: str  # "return" or "raise"
    value: Encoded = None
    exception: tuple[str, str] | None = None  # (type, message)
    args_after: Mapping[str, Encoded] = field(default_factory=dict)
    # Arguments are keyed as passed ("0", "1", ..., keyword names); labels name the parameters.
    labels: Mapping[str, str] = field(default_factory=dict)

    def label(self, key: str) -> str:
        """The parameter name an argument key bound to, for reports."""
        return self.labels.get(key, key)

    @property
    def call_site(self) -> str:
        """The test and the call's 1-based position among that test's calls of the target."""
        return f"{self.site} call #{self.seq + 1}"


@dataclass(frozen=True)
class Recording:
    """All recorded calls, per target, in the order they happened."""

    targets: dict[str, list[Call]]
    dropped: dict[str, int] = field(default_factory=dict)  # calls past the per-target cap
    errors: dict[str, str] = field(default_factory=dict)  # targets that could not be wrapped
    # What each target's calls touched: "file:read", "env:HOME", "global-mutate:_CACHE"...
    accesses: dict[str, list[str]] = field(default_factory=dict)

    @property
    def call_count(self) -> int:
        """How many calls were recorded over all targets."""
        return sum(len(calls) for calls in self.targets.values())


@dataclass(frozen=True)
class Mismatch:
    """The first point where the candidate's behaviour departs from the baseline's."""

    target: str
    call_site: str
    field: str
    expected: str
    actual: str
    reason: str = ""


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a candidate recording with the baseline's."""

    ok: bool
    calls_compared: int
    first_mismatch: Mismatch | None = None
    # Values left out, by reason: not reproduced by the baseline itself, or not comparable.
    not_compared: Mapping[str, int] = field(default_factory=dict)

    def skipped_text(self) -> str:
        """``not compared: 12 values of type `_Sentinel`: differ between two baseline runs``."""
        if not self.not_compared:
            return ""
        parts = [f"{count} {reason}" for reason, count in sorted(self.not_compared.items())]
        return "not compared: " + "; ".join(parts)

    def describe(self) -> str:
        """One or two lines for a report."""
        mismatch = self.first_mismatch
        skipped = self.skipped_text()
        if mismatch is None:
            if self.calls_compared == 0 and not skipped:
                return "behaviour: no calls of the targets were recorded, nothing was compared"
            text = f"behaviour identical over {self.calls_compared} recorded calls"
            return f"{text} ({skipped})" if skipped else text
        line = (
            f"behaviour differs: {mismatch.target} in {mismatch.call_site}: {mismatch.field}: "
            f"expected {mismatch.expected}, got {mismatch.actual}"
        )
        return f"{line}\n  {mismatch.reason}" if mismatch.reason else line


# -- loading ----------------------------------------------------------------------------------


def _call_from_json(raw: Mapping[str, Any]) -> Call:
    exception = raw.get("exception")
    return Call(
        site=str(raw["site"]),
        seq=int(raw["seq"]),
        args=dict(raw.get("args", {})),
        outcome=str(raw["outcome"]),
        value=raw.get("value"),
        exception=None if exception is None else (exception["type"], exception["message"]),
        args_after=dict(raw.get("args_after", {})),
        labels=dict(raw.get("labels", {})),
    )


def recording_from_document(document: Mapping[str, Any]) -> Recording:
    """Build a `Recording` from the JSON document the recorder writes."""
    if document.get("version") != FORMAT_VERSION:
        raise RecordingError(f"unsupported recording version {document.get('version')!r}")
    try:
        targets = {
            target: [_call_from_json(call) for call in calls]
            for target, calls in document["targets"].items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordingError(f"malformed recording: {exc!r}") from exc
    return Recording(
        targets=targets,
        dropped={k: int(v) for k, v in document.get("truncated", {}).items()},
        errors={k: str(v) for k, v in document.get("errors", {}).items()},
        accesses={
            str(k): [str(entry) for entry in v]
            for k, v in document.get("accesses", {}).items()
            if isinstance(v, list)
        },
    )


def _merge(recordings: list[Recording]) -> Recording:
    """One recording from several (pytest-xdist writes one per worker; their tests differ)."""
    merged = Recording(targets={})
    for part in recordings:
        for target, calls in part.targets.items():
            merged.targets.setdefault(target, []).extend(calls)
        for target, count in part.dropped.items():
            merged.dropped[target] = merged.dropped.get(target, 0) + count
        merged.errors.update(part.errors)
        for target, entries in part.accesses.items():
            known = merged.accesses.setdefault(target, [])
            known.extend(e for e in entries if e not in known)
    return merged


def load_recording(path: Path) -> Recording:
    """Read the recording at `path`, merged with per-worker files `path.gw*` if any."""
    files = [path, *sorted(path.parent.glob(f"{path.name}.gw*"))]
    parts = []
    for file in files:
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if file == path:
                raise RecordingError(f"no behaviour recording at {path}") from None
            continue
        except (OSError, ValueError) as exc:
            raise RecordingError(f"unreadable behaviour recording {file}: {exc}") from exc
        parts.append(recording_from_document(document))
    return parts[0] if len(parts) == 1 else _merge(parts)


# -- rendering values -------------------------------------------------------------------------


def shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _join(items: list[Encoded]) -> str:
    return ", ".join(render(item) for item in items)


def _render_container(node: Mapping[str, Any]) -> str:
    tag, items = node["t"], node["items"]
    if tag == "list":
        text = f"[{_join(items)}]"
    elif tag == "tuple":
        text = f"({_join(items)}{',' if len(items) == 1 else ''})"
    elif tag == "dict":
        text = "{" + ", ".join(f"{render(k)}: {render(v)}" for k, v in items) + "}"
    elif tag == "set":
        text = f"{{{_join(items)}}}" if items else "set()"
    else:
        text = f"frozenset({{{_join(items)}}})"
    return f"{node['type']}({text})" if "type" in node else text


def _render_scalar(node: Mapping[str, Any]) -> str:
    tag = node["t"]
    if tag == "int" and "hex" in node:
        return f"0x{node['hex']}"
    if tag in ("float", "repr", "int"):
        return str(node["v"])
    if tag in ("str", "bool"):
        return repr(node["v"])
    if tag in ("bytes", "bytearray"):
        text = repr(bytes.fromhex(node["v"]))
        return text if tag == "bytes" else f"bytearray({text})"
    if tag == "type":
        return f"<class {node['v']}>"
    return "None"


def _render_generator(node: Mapping[str, Any]) -> str:
    """``<generator yielding [1, 2] then returning 'done'>``: what the caller consumed."""
    text = f"<{node['type']} yielding [{_join(node['items'])}]"
    if node.get("more"):
        text += f" and {node['more']} more"
    if node["end"] == "return":
        return f"{text} then returning {render(node['value'])}>"
    if node["end"] == "raise":
        return f"{text} then raising {node['exception']['type']}>"
    return f"{text} so far>"


def _render_object(node: Mapping[str, Any]) -> str:
    fields = ", ".join(f"{name}={render(value)}" for name, value in node["fields"].items())
    return f"{node['type']}({fields})"


_RENDERERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    **dict.fromkeys(("list", "tuple", "dict", "set", "frozenset"), _render_container),
    "object": _render_object,
    "enum": lambda node: f"{node['type']}.{node['name']}",
    "ndarray": lambda node: f"array({render(node['data'])}, dtype={node['dtype']})",
    "npscalar": lambda node: f"{node['dtype']}({render(node['v'])})",
    "unknown": lambda node: f"<{node['type']}: {node['repr']}>",
    "truncated": lambda node: f"<{node['type']}: too large to record>",
    "cycle": lambda node: "<cycle>",
    "global": lambda node: str(node["v"]),
    "iterator": lambda node: (
        f"<{node['type']} of [{_join(node['items'])}]>"
        if "items" in node
        else f"<{node['type']} of {render(node['state'])}>"
    ),
    "generator": _render_generator,
    "method": lambda node: f"<method {node['name']} of {render(node['self'])}>",
    "mock": lambda node: f"<{node['type']} called {render(node['calls'])}>",
}


def render(node: Encoded) -> str:
    """A Python-like rendering of an encoded value, for reports."""
    if not _is_node(node):
        return repr(node)
    return _RENDERERS.get(node["t"], _render_scalar)(node)


def _summary(node: Encoded) -> str:
    return shorten(render(node))


def _outcome_summary(call: Call) -> str:
    if call.exception is not None:
        kind, message = call.exception
        return shorten(f"raised {kind}: {message}" if message else f"raised {kind}")
    return shorten(f"returned {render(call.value)}")


def _call_summary(call: Call) -> str:
    arguments = ", ".join(f"{call.label(key)}={render(value)}" for key, value in call.args.items())
    return shorten(f"call({arguments}) {_outcome_summary(call)}")


# -- comparing values -------------------------------------------------------------------------

ValuePath = tuple[str | int, ...]  # where a value sits: an argument key or "return", then JSON keys
WHOLE_CALL: ValuePath = ("*",)  # the outcome itself (returned vs raised) differs between runs


def _type_label(node: Mapping[str, Any]) -> str:
    return str(node.get("type", node["t"]))


def _floats_equal(expected: str, actual: str, tolerance: float | None) -> bool:
    if expected == actual:  # exact, including nan == nan and the sign of zero
        return True
    if tolerance is None:
        return False
    a, b = float(expected), float(actual)
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= tolerance * max(abs(a), abs(b))


def _node_difference(
    expected: Mapping[str, Any], actual: Mapping[str, Any], tolerance: float | None
) -> str | None:
    """The reason two tagged nodes differ at their own level; None to compare their parts."""
    if expected["t"] != actual["t"] or expected.get("type") != actual.get("type"):
        return f"type differs: {_type_label(expected)} vs {_type_label(actual)}"
    if expected["t"] == "float" and not _floats_equal(expected["v"], actual["v"], tolerance):
        return "values differ"
    return None


def _is_node(value: object) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("t"), str)


def _not_comparable(node: Mapping[str, Any]) -> str:
    if node["t"] == "unknown":
        return f"values of type `{node['type']}`: no faithful recording"
    return f"values of type `{node['type']}`: {node.get('reason', 'too large to record')}"


@dataclass
class _Walk:
    """One comparison of two encoded values, part by part.

    Identical encodings are equal (one comparison in C, no walk). Otherwise, `unstable`:
    paths where two runs of the unchanged baseline already disagree; what sits there is not
    compared. A value the recorder could not encode faithfully ("unknown", "truncated") on
    both sides, of the same type, is not compared either. Both are counted in `skipped`, by
    reason (inside identical encodings, only a whole value that is one). With `collect`,
    every differing path is added to it instead of the walk stopping at the first (that is
    how the A/A pass finds the unstable paths).
    """

    tolerance: float | None = None
    unstable: frozenset[ValuePath] = frozenset()
    skipped: Counter[str] = field(default_factory=Counter)
    collect: set[ValuePath] | None = None

    def difference(self, expected: Encoded, actual: Encoded, path: ValuePath = ()) -> str | None:
        if expected == actual:  # identical encodings (compared in C): nothing to walk
            if _is_node(expected) and expected["t"] in _UNCOMPARABLE:  # only ever whole
                self.skipped[_not_comparable(expected)] += 1  # values: counted, not equal
            return None
        if path in self.unstable:
            label = _type_label(expected) if _is_node(expected) else "value"
            self.skipped[f"values of type `{label}`: differ between two baseline runs"] += 1
            return None
        reason = self._difference(expected, actual, path)
        if reason is not None and self.collect is not None:
            self.collect.add(path)
            return None
        return reason

    def _difference(  # noqa: PLR0911 - one return per kind of JSON value
        self, expected: Encoded, actual: Encoded, path: ValuePath
    ) -> str | None:
        if _is_node(expected) or _is_node(actual):
            if not (_is_node(expected) and _is_node(actual)):
                return "values differ"
            if expected["t"] in _UNCOMPARABLE or actual["t"] in _UNCOMPARABLE:
                return self._uncomparable(expected, actual)
            reason = _node_difference(expected, actual, self.tolerance)
            if reason is not None or expected["t"] == "float":
                return reason
            if expected["t"] in _SCALARS:  # a difference is the whole node's, not its "v"'s
                return None if expected == actual else "values differ"
        if isinstance(expected, Mapping) and isinstance(actual, Mapping):
            if expected.keys() != actual.keys():
                return "values differ"
            return _first(self.difference(expected[k], actual[k], (*path, k)) for k in expected)
        if isinstance(expected, list) and isinstance(actual, list):
            if len(expected) != len(actual):
                return f"lengths differ: {len(expected)} vs {len(actual)}"
            pairs = enumerate(zip(expected, actual, strict=True))
            return _first(self.difference(e, a, (*path, i)) for i, (e, a) in pairs)
        same = type(expected) is type(actual) and expected == actual
        return None if same else "values differ"

    def _uncomparable(self, expected: Mapping[str, Any], actual: Mapping[str, Any]) -> str | None:
        if expected["t"] == actual["t"] and expected.get("type") == actual.get("type"):
            self.skipped[_not_comparable(expected)] += 1  # not comparable is not unequal
            return None
        if _type_label(expected) != _type_label(actual):
            return f"type differs: {_type_label(expected)} vs {_type_label(actual)}"
        node = expected if expected["t"] in _UNCOMPARABLE else actual
        return f"cannot compare values of type {node['type']}: {_not_comparable(node)}"


def difference(expected: Encoded, actual: Encoded, tolerance: float | None = None) -> str | None:
    """Why two encoded values differ, or None when they are equal under the strict rules
    (values that cannot be compared, on both sides and of one type, are not unequal)."""
    return _Walk(tolerance).difference(expected, actual)


def differing_paths(expected: Encoded, actual: Encoded, root: ValuePath) -> set[ValuePath]:
    """Every path under `root` where two encoded values differ (nothing below a difference)."""
    found: set[ValuePath] = set()
    _Walk(collect=found).difference(expected, actual, root)
    return found


def _first(reasons: Any) -> str | None:
    return next((reason for reason in reasons if reason is not None), None)


# -- comparing calls --------------------------------------------------------------------------


def _argument_mismatch(
    target: str,
    call: Call,
    when: str,
    expected: Mapping[str, Encoded],
    actual: Mapping[str, Encoded],
    walk: _Walk,
) -> Mismatch | None:
    """The first argument that differs (before or after the call, as `when` says)."""
    for key in dict.fromkeys([*expected, *actual]):
        field_name = f"argument {when} call {call.label(key)}"
        if key not in expected or key not in actual:
            shown = ("<absent>", "<passed>") if key not in expected else ("<passed>", "<absent>")
            return Mismatch(target, call.call_site, field_name, *shown, "the calls differ")
        reason = walk.difference(expected[key], actual[key], (when, key))
        if reason is not None:
            expected_text, actual_text = _summary(expected[key]), _summary(actual[key])
            return Mismatch(target, call.call_site, field_name, expected_text, actual_text, reason)
    return None


def _outcome_mismatch(target: str, expected: Call, actual: Call, walk: _Walk) -> Mismatch | None:
    site = expected.call_site
    if expected.outcome == actual.outcome == "return":
        reason = walk.difference(expected.value, actual.value, ("return",))
        if reason is None:
            return None
        return Mismatch(
            target, site, "return", _summary(expected.value), _summary(actual.value), reason
        )
    if expected.outcome == actual.outcome and expected.exception == actual.exception:
        return None
    expected_type = expected.exception[0] if expected.exception else None
    actual_type = actual.exception[0] if actual.exception else None
    if expected.outcome != actual.outcome:
        reason = "one raised, the other returned"
    elif expected_type == actual_type:
        if ("message",) in walk.unstable:
            walk.skipped[f"messages of `{expected_type}`: differ between two baseline runs"] += 1
            return None
        reason = "exception message differs"
    else:
        reason = "exception type differs"
    return Mismatch(
        target, site, "exception", _outcome_summary(expected), _outcome_summary(actual), reason
    )


def _compare_call(target: str, expected: Call, actual: Call, walk: _Walk) -> Mismatch | None:
    return (
        _argument_mismatch(target, expected, "before", expected.args, actual.args, walk)
        or _outcome_mismatch(target, expected, actual, walk)
        or _argument_mismatch(
            target, expected, "after", expected.args_after, actual.args_after, walk
        )
    )


def compare_call(
    target: str, expected: Call, actual: Call, *, float_tolerance: float | None = None
) -> Mismatch | None:
    """The first difference between two calls at the same call site, or None.

    Arguments before the call are checked first: if they differ, the tests fed the two runs
    different inputs (nondeterminism, or an earlier unrecorded side effect), and nothing
    after that point can be compared meaningfully.
    """
    return _compare_call(target, expected, actual, _Walk(float_tolerance))


def _by_site(calls: list[Call]) -> dict[str, list[Call]]:
    sites: dict[str, list[Call]] = {}
    for call in calls:
        sites.setdefault(call.site, []).append(call)
    return sites


# -- the A/A pass: what two runs of the unchanged baseline do not reproduce -------------------


@dataclass(frozen=True)
class Instability:
    """Where two recordings of the unchanged baseline disagree: per call (target, test,
    position in that test), the paths of the values that differ; and the tests whose
    number of calls of a target differs, whose calls are then not compared at all; and the
    targets whose number of calls past the recording cap differs (sympy's caches make
    `igcd` run 18 more times in one run of its core tests than in another)."""

    paths: Mapping[tuple[str, str, int], frozenset[ValuePath]] = field(default_factory=dict)
    sites: frozenset[tuple[str, str]] = frozenset()
    dropped: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        """Whether the two runs agreed everywhere."""
        return not self.paths and not self.sites and not self.dropped

    def describe(self) -> str:
        """One line for a report."""
        if self.empty:
            return "two baseline runs agree on every recorded value"
        values = sum(len(paths) for paths in self.paths.values())
        parts = [f"{values} values in {len(self.paths)} calls"] if self.paths else []
        if self.sites:
            parts.append(f"the number of calls in {len(self.sites)} tests")
        if self.dropped:
            parts.append(f"the number of calls past the recording cap of {len(self.dropped)}")
        return f"two baseline runs differ in {' and '.join(parts)}: those are not compared"


def _call_paths(first: Call, second: Call) -> frozenset[ValuePath]:
    if first.outcome != second.outcome:
        return frozenset({WHOLE_CALL})
    found: set[ValuePath] = set()
    for when, a, b in (
        ("before", first.args, second.args),
        ("after", first.args_after, second.args_after),
    ):
        for key in a.keys() & b.keys():
            found |= differing_paths(a[key], b[key], (when, key))
    if first.outcome == "return":
        found |= differing_paths(first.value, second.value, ("return",))
    elif first.exception != second.exception and first.exception and second.exception:
        found.add(("message",) if first.exception[0] == second.exception[0] else WHOLE_CALL)
    return frozenset(found)


def instability(first: Recording, second: Recording) -> Instability:
    """The A/A pass: compare two recordings of the same, unchanged code, everywhere."""
    paths: dict[tuple[str, str, int], frozenset[ValuePath]] = {}
    sites: set[tuple[str, str]] = set()
    for target in dict.fromkeys([*first.targets, *second.targets]):
        a_sites = _by_site(first.targets.get(target, []))
        b_sites = _by_site(second.targets.get(target, []))
        for site in dict.fromkeys([*a_sites, *b_sites]):
            a_calls, b_calls = a_sites.get(site, []), b_sites.get(site, [])
            if len(a_calls) != len(b_calls):
                sites.add((target, site))
                continue
            for index, (a, b) in enumerate(zip(a_calls, b_calls, strict=True)):
                found = _call_paths(a, b)
                if found:
                    paths[(target, site, index)] = found
    targets = dict.fromkeys([*first.targets, *second.targets, *first.dropped, *second.dropped])
    dropped = {t for t in targets if first.dropped.get(t, 0) != second.dropped.get(t, 0)}
    return Instability(paths, frozenset(sites), frozenset(dropped))


# -- comparing recordings ---------------------------------------------------------------------


def _count_mismatch(target: str, expected: list[Call], actual: list[Call]) -> Mismatch:
    if len(expected) > len(actual):
        missing = expected[len(actual)]
        return Mismatch(
            target, missing.call_site, "missing call", _call_summary(missing), "no such call"
        )
    extra = actual[len(expected)]
    return Mismatch(target, extra.call_site, "extra call", "no such call", _call_summary(extra))


def _error_mismatch(target: str, baseline: Recording, candidate: Recording) -> Mismatch | None:
    if target not in baseline.errors and target not in candidate.errors:
        return None
    expected = baseline.errors.get(target, "recorded")
    actual = candidate.errors.get(target, "recorded")
    return Mismatch(
        target,
        "<recording>",
        "recording error",
        shorten(expected),
        shorten(actual),
        "the target could not be recorded, so its behaviour cannot be compared",
    )


@dataclass
class _Tally:
    compared: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def _compare_target(
    target: str,
    baseline: Recording,
    candidate: Recording,
    tolerance: float | None,
    unstable: Instability,
    tally: _Tally,
) -> Mismatch | None:
    expected_sites = _by_site(baseline.targets.get(target, []))
    actual_sites = _by_site(candidate.targets.get(target, []))
    for site in dict.fromkeys([*expected_sites, *actual_sites]):
        expected, actual = expected_sites.get(site, []), actual_sites.get(site, [])
        if (target, site) in unstable.sites:
            reason = "calls in tests whose number of calls differs between two baseline runs"
            tally.skipped[reason] += max(len(expected), len(actual))
            continue
        for index, (expected_call, actual_call) in enumerate(zip(expected, actual, strict=False)):
            paths = unstable.paths.get((target, site, index), frozenset())
            if WHOLE_CALL in paths:
                tally.skipped["calls whose outcome differs between two baseline runs"] += 1
                continue
            tally.compared += 1
            walk = _Walk(tolerance, paths, tally.skipped)
            found = _compare_call(target, expected_call, actual_call, walk)
            if found is not None:
                return found
        if len(expected) != len(actual):
            return _count_mismatch(target, expected, actual)
    dropped = baseline.dropped.get(target, 0), candidate.dropped.get(target, 0)
    if target in unstable.dropped:  # not even the baseline reproduces that number
        reason = "calls past the recording cap, whose number differs between two baseline runs"
        tally.skipped[reason] += max(dropped)
    elif dropped[0] != dropped[1]:
        field_name = "missing call" if dropped[0] > dropped[1] else "extra call"
        counts = tuple(f"{n} calls past the recording cap" for n in dropped)
        return Mismatch(target, "<past the recording cap>", field_name, *counts)
    return None


def compare(
    baseline: Recording,
    candidate: Recording,
    *,
    float_tolerance: float | None = None,
    unstable: Instability | None = None,
) -> Comparison:
    """Compare the candidate's recorded behaviour with the baseline's, strictly.

    `float_tolerance`, when given, is a relative tolerance for floats; otherwise floats must be
    identical (nan equals nan, -0.0 differs from 0.0). Everything else must be equal exactly,
    except what `unstable` (the A/A pass) says two baseline runs do not reproduce, and values
    that cannot be compared on either side: those are counted, never called unequal.
    """
    tally = _Tally()
    aa = unstable or Instability()
    for target in dict.fromkeys([*baseline.targets, *candidate.targets, *baseline.errors]):
        mismatch = _error_mismatch(target, baseline, candidate)
        if mismatch is None:
            mismatch = _compare_target(target, baseline, candidate, float_tolerance, aa, tally)
        if mismatch is not None:
            return Comparison(False, tally.compared, mismatch, dict(tally.skipped))
    return Comparison(ok=True, calls_compared=tally.compared, not_compared=dict(tally.skipped))
