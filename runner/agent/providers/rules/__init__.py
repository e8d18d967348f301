"""An offline, deterministic provider: a handful of conservative libcst rewrites.

Each rule looks at the target definition (and, where it must, the whole module) and
either returns a rewritten definition or declines. A rule declines whenever it cannot
show that the rewrite keeps the function's behaviour; the verifier's behaviour check is
a second line of defence, not the first.

Known, documented differences (each is stated in the candidate's description):

* membership-set: a set lookup hashes the probe value, so an *unhashable* probe raises
  TypeError where the list lookup returned False. Sequences that come from unknown data
  (parameters, locals built by calls) are converted inside ``try/except TypeError`` and
  only when their type is exactly ``list`` or ``tuple``; an unhashable element keeps the
  original sequence, so membership answers stay identical.
* min-max: ``min``/``max`` raise ValueError on empty input where ``sorted(x)[0]`` raised
  IndexError; rewrites inside ``try``/``with`` blocks are declined for that reason. For
  ``[-1]``, ties between equal but distinguishable values (``1`` and ``1.0``) may pick a
  different representative.
"""

import ast
from collections.abc import Callable

import libcst as cst

from runner.agent.providers.base import Candidate, TargetSource
from runner.agent.providers.rules._tree import Applied, Outcome, Scope
from runner.agent.providers.rules.aliases import local_alias
from runner.agent.providers.rules.counting import count_dict
from runner.agent.providers.rules.deque import deque_queue
from runner.agent.providers.rules.loops import comprehension
from runner.agent.providers.rules.membership import membership_set
from runner.agent.providers.rules.minmax import min_max
from runner.agent.providers.rules.regex import regex_hoist
from runner.agent.providers.rules.strjoin import str_join

__all__ = ["RULES", "RulesProvider", "apply_rule", "explain"]

Rule = Callable[[Scope], Outcome]

#: (rule id, rule), in the order they are tried and combined.
RULES: tuple[tuple[str, Rule], ...] = (
    ("membership-set", membership_set),
    ("deque-queue", deque_queue),
    ("regex-hoist", regex_hoist),
    ("min-max", min_max),
    ("count-dict", count_dict),
    ("str-join", str_join),
    ("comprehension", comprehension),
    ("local-alias", local_alias),
)


def _parse_function(definition: str) -> tuple[cst.Module, cst.FunctionDef] | str:
    try:
        module = cst.parse_module(definition)
    except cst.ParserSyntaxError:
        return "the definition does not parse"
    defs = [n for n in module.body if isinstance(n, cst.FunctionDef)]
    if len(defs) != 1 or len(module.body) != 1:
        return "the definition is not exactly one function"
    return module, defs[0]


def _parse_module(source: str) -> cst.Module | None:
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError:
        return None


def apply_rule(
    rule: Rule, definition: str, module: cst.Module | None, qualname: str = ""
) -> tuple[str, Applied] | str:
    """Run one rule on a definition: the new code, or the reason the rule declined."""
    parsed = _parse_function(definition)
    if isinstance(parsed, str):
        return parsed
    def_module, function = parsed
    applied = rule(Scope.of(function, module, qualname))
    if isinstance(applied, str):
        return applied
    code = def_module.with_changes(body=[applied.function]).code
    try:
        ast.parse(code + "".join(applied.helpers))
    except SyntaxError:  # a rule produced something invalid: decline rather than crash
        return "the rewrite did not parse (a bug in the rule; declined)"
    return (code, applied) if code != definition else "the rewrite changed nothing"


def explain(definition: str, module: str, qualname: str = "") -> list[str]:
    """One line per rule family: `<rule>: applies` or `<rule> declined: <why>`. Pure."""
    tree = _parse_module(module)
    lines: list[str] = []
    for rule_id, rule in RULES:
        result = apply_rule(rule, definition, tree, qualname)
        lines.append(
            f"{rule_id}: applies"
            if not isinstance(result, str)
            else f"{rule_id} declined: {result}"
        )
    return lines


def _with_helpers(code: str, helpers: list[str]) -> str:
    return code + "".join(f"\n\n{h}" for h in helpers)


class RulesProvider:
    """Deterministic, offline candidates from a fixed set of conservative rewrites.

    `declines` maps `str(target)` to why no candidate was proposed for it, per rule family;
    `propose` sets it whenever it returns nothing and removes it otherwise.
    """

    name = "rules"

    def __init__(self) -> None:
        self.declines: dict[str, str] = {}

    def propose(self, source: TargetSource, limit: int) -> list[Candidate]:
        """One candidate per applicable rule, then all of them combined (when ≥ 2 apply)."""
        key = str(source.target)
        candidates = self._candidates(source)[: max(limit, 0)]
        if candidates:
            self.declines.pop(key, None)
        elif limit <= 0:
            self.declines[key] = "no candidate requested (limit 0)"
        else:
            reasons = explain(source.definition, source.module, source.target.qualname)
            self.declines[key] = "no rule matched: " + "; ".join(reasons)
        return candidates

    def _candidates(self, source: TargetSource) -> list[Candidate]:
        module = _parse_module(source.module)
        candidates: list[Candidate] = []
        for rule_id, rule in RULES:
            result = apply_rule(rule, source.definition, module, source.target.qualname)
            if not isinstance(result, str):
                code, applied = result
                candidates.append(
                    Candidate(
                        source.target,
                        applied.description,
                        _with_helpers(code, list(applied.helpers)),
                        rule_id,
                        applied.imports,
                    )
                )
        if len(candidates) >= 2:
            combined = self._combined(source, module)
            if combined is not None:
                candidates.append(combined)
        unique: dict[str, Candidate] = {}
        for candidate in candidates:
            unique.setdefault(candidate.code, candidate)
        return list(unique.values())

    def _combined(self, source: TargetSource, module: cst.Module | None) -> Candidate | None:
        code = source.definition
        ids: list[str] = []
        imports: list[str] = []
        notes: list[str] = []
        helpers: list[str] = []
        for rule_id, rule in RULES:
            result = apply_rule(rule, code, module, source.target.qualname)
            if isinstance(result, str):
                continue
            code, applied = result
            ids.append(rule_id)
            notes.append(applied.description)
            imports.extend(i for i in applied.imports if i not in imports)
            helpers.extend(applied.helpers)
        if len(ids) < 2:
            return None
        return Candidate(
            source.target,
            "; ".join(notes),
            _with_helpers(code, helpers),
            "+".join(ids),
            tuple(imports),
        )
