"""`optirunner bundle create --show-prompt`: the exact request bodies, before any is sent."""

from __future__ import annotations

import json
from pathlib import Path

from runner.agent.context import BundleView
from runner.agent.providers.llm import request_payload
from runner.agent.request import AgentSpec, propose_request
from runner.agent.settings import AISettings
from runner.bundle.bundle import read_bundle
from runner.errors import ConfigError
from runner.spec import Target


def show_prompt(bundle: Path, provider: str, ai: AISettings, min_effect: float) -> str:
    """A JSON array: the body of each target's first (propose) request, exactly as sent.

    Built from the written bundle (`bundle` folder or zip), as the agent loop builds it
    (the target's view of the bundle, classes as outlines), so what is shown is what the
    model would receive; no key is needed and nothing is sent.
    """
    if not ai.model:
        raise ConfigError("set ai.model to show the request (it is part of the body)")
    view = BundleView.from_files(read_bundle(bundle))
    targets = tuple(Target.parse(t) for t in view.targets)
    spec = AgentSpec(targets, min_effect)
    bodies = [
        request_payload(
            provider, ai, propose_request(view.for_target(target), spec, target, ai.effort)
        )
        for target in targets
    ]
    return json.dumps(bodies, indent=2, ensure_ascii=False) + "\n"
