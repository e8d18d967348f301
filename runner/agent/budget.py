"""Budget accounting of one agent run (pure: the caller passes the clock's readings).

Four budgets, checked before every turn: tokens (input + output), cost (from the price
table; a model without a price costs 0, as a self-hosted one does), turns and wall time.
The first one used up stops the loop, which then reports its name.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.agent.exchange import Completion
from runner.agent.settings import AIBudgets, ModelPrice

TOKENS = "tokens"
COST = "cost"
TURNS = "turns"
WALL_TIME = "wall_time"


@dataclass
class Ledger:
    """What a run has used so far, against its budgets."""

    budgets: AIBudgets
    price: ModelPrice | None
    started: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    turns: int = 0

    @property
    def tokens(self) -> int:
        """Input plus output tokens of every turn."""
        return self.input_tokens + self.output_tokens

    def start_turn(self) -> None:
        """Count a turn when its request is sent (a failed request still used a turn)."""
        self.turns += 1

    def charge(self, completion: Completion) -> float:
        """Add a completion's tokens and cost; returns the cost of this one."""
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens
        cost = (
            self.price.cost(completion.input_tokens, completion.output_tokens)
            if self.price is not None
            else 0.0
        )
        self.cost_usd += cost
        return cost

    def elapsed(self, now: float) -> float:
        """Seconds since the run started."""
        return now - self.started

    def remaining_s(self, now: float) -> float:
        """Seconds left of the wall-time budget (never negative)."""
        return max(0.0, self.budgets.max_wall_s - self.elapsed(now))

    def exhausted(self, now: float, only: str | None = None) -> tuple[str, str] | None:
        """The first budget used up (or `only` that one), as (name, detail); None: room left."""
        b, tokens = self.budgets, self.tokens
        elapsed = self.elapsed(now)
        checks = (
            (TOKENS, tokens >= b.max_tokens_per_job, f"{tokens} of {b.max_tokens_per_job}"),
            (COST, self.cost_usd >= b.max_cost_usd, f"${self.cost_usd:.4f} of ${b.max_cost_usd}"),
            (TURNS, self.turns >= b.max_turns, f"{self.turns} of {b.max_turns} turns"),
            (WALL_TIME, elapsed >= b.max_wall_s, f"{elapsed:.1f} of {b.max_wall_s:.0f} s"),
        )
        hits = ((name, detail) for name, hit, detail in checks if hit and only in (None, name))
        return next(hits, None)

    def summary(self) -> dict[str, float | int]:
        """Totals for the report and the trace."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "turns": self.turns,
        }
