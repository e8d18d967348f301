"""Settings of the AI providers (`[ai]` in config.toml): model, endpoint, retries, budgets.

Defined here rather than in `runner.config` so that the agent modules can import them
without importing the whole configuration (config imports this module). The API key is
deliberately not a setting: see `runner.agent.secrets`, which imports this module (never
the other way round); the names of the variables the key lookup reads are defined here.
This module imports nothing above the config layer (the `[tool.importlinter]` contracts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

ENV_KEY = "OPTIRUNNER_AI_API_KEY"
CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"
#: The only variables the key lookup (`runner.agent.secrets`) reads.
KEY_VARIABLES = (CREDENTIALS_DIRECTORY, ENV_KEY)


def key_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """Only the variables the key lookup uses, so nothing else is carried around."""
    return {name: environ[name] for name in KEY_VARIABLES if environ.get(name)}


class ModelPrice(BaseModel):
    """What one model costs, in USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(ge=0, description="USD per 1M input (prompt) tokens")
    output_per_mtok: float = Field(ge=0, description="USD per 1M output (completion) tokens")

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for one exchange."""
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


class AIBudgets(BaseModel):
    """Per-job limits; the agent loop stops cleanly at the first one reached."""

    model_config = ConfigDict(extra="forbid")

    max_tokens_per_job: int = Field(200_000, gt=0, description="input + output tokens, all turns")
    max_cost_usd: float = Field(
        2.0, gt=0, description="USD per job, from `ai.prices` (models without a price cost 0)"
    )
    max_turns: int = Field(8, gt=0, description="requests to the model per job")
    max_wall_s: float = Field(900.0, gt=0, description="seconds the agent loop may run")


class AISettings(BaseModel):
    """How to reach the model and how much of it a job may use (see docs/providers.md)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("", description="model (or Azure deployment) name; required for AI")
    base_url: str | None = Field(
        None, description="API endpoint (vLLM, Ollama, LiteLLM, a proxy) [the vendor's]"
    )
    api_version: str | None = Field(
        None, description="Azure OpenAI api-version; when set, `base_url` is the Azure endpoint"
    )
    temperature: float = Field(0.4, ge=0, le=2, description="sampling temperature")
    timeout_s: float = Field(120.0, gt=0, description="seconds per request")
    max_tokens: int = Field(4096, gt=0, description="largest response, in tokens")
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens",
        description="OpenAI-style name of the response limit (newer OpenAI models need "
        "max_completion_tokens; self-hosted servers accept max_tokens)",
    )
    max_retries: int = Field(4, ge=0, le=20, description="retries of a failed request")
    backoff_s: float = Field(1.0, gt=0, description="first retry delay (doubles each time)")
    backoff_cap_s: float = Field(30.0, gt=0, description="longest retry delay")
    max_retry_after_s: float = Field(
        120.0, gt=0, description="longest Retry-After the runner waits for; longer gives up"
    )
    effort: int = Field(3, ge=1, le=10, description="candidates asked for per request")
    credential: str = Field(
        "optirunner-ai-api-key",
        description="name of the systemd credential / keyring entry holding the API key",
    )
    budgets: AIBudgets = Field(default_factory=AIBudgets)
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict, description="USD per 1M tokens, by model name"
    )

    # Where the key may come from at run time; bound by the CLI layer, never read from a file.
    _environ: dict[str, str] = PrivateAttr(default_factory=dict)

    def bind_environ(self, environ: Mapping[str, str]) -> None:
        """Keep the few environment variables the key lookup needs (called by runner/commands)."""
        self._environ = key_environ(environ)

    @property
    def environ(self) -> Mapping[str, str]:
        """The variables bound by `bind_environ` (empty when none were)."""
        return dict(self._environ)

    def price(self, model: str) -> ModelPrice | None:
        """The price of `model`, or None when the table has no entry for it."""
        return self.prices.get(model)
