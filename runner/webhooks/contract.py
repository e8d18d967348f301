"""The HTTP API's contract as the OpenAPI document states it: answer models, webhook requests.

The routes build their answers as plain JSON; these models only document them (and the
schemathesis test holds the routes to them). The webhook routes read the raw body, because
signatures are computed over the exact bytes, so their request is described here by hand.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, create_model

from runner.store.models import Job

# A reason in an answer quotes what the sender wrote: at most this many characters.
REASON_CHARS = 300


def short(text: str, limit: int = REASON_CHARS) -> str:
    """A reason fit for an answer and a log line: cut to `limit` characters, with "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Queued(_Answer):
    """202 for a new job, 200 for a delivery that maps to a job already queued."""

    status: Literal["queued", "duplicate"]
    job_id: str


class IgnoredDelivery(_Answer):
    """200 for an authentic delivery that asks for no job (`no job: ...` when its spec is bad)."""

    status: Literal["ignored"]
    reason: str


class Rejection(_Answer):
    """4xx (`rejected`) or 503 (`error`: the job store is unavailable, the sender retries)."""

    status: Literal["rejected", "error"]
    reason: str


class Health(_Answer):
    status: Literal["ok"]


class ReadinessChecks(_Answer):
    database: bool
    migrations: bool
    workers: bool


class Readiness(_Answer):
    """200 when every check passes, else 503 with the same body."""

    ready: bool
    checks: ReadinessChecks


def _job_record() -> type[_Answer]:
    """The store's `Job` fields, as the routes answer them (`Job.to_dict()`)."""
    types = get_type_hints(Job)
    required: dict[str, Any] = {field.name: (types[field.name], ...) for field in fields(Job)}
    return create_model(
        "JobRecord",
        __base__=_Answer,
        __doc__="One job as `GET /api/jobs/{id}` and `jobs show` give it.",
        __module__=__name__,
        **required,
    )


JobRecord = _job_record()


class JobList(_Answer):
    jobs: list[JobRecord]  # type: ignore[valid-type]  # a model built from `Job`


class ApiError(_Answer):
    error: str


def _rejections(*statuses: int) -> dict[int | str, dict[str, Any]]:
    reasons = {
        400: "The body is not UTF-8 JSON holding one object",
        401: "Missing or wrong token or signature, or the forge is not configured",
        413: "The body exceeds service.max_body_bytes",
        415: "The content type is not application/json",
        503: "The job store is unavailable; the forge delivers again later",
    }
    return {status: {"model": Rejection, "description": reasons[status]} for status in statuses}


class JobAction(_Answer):
    """What `POST /api/jobs/{id}/cancel|replay` did: the job's state now."""

    job_id: str
    state: str


class Session(_Answer):
    """`POST /api/session`: the cookie is set; this is when it expires."""

    name: str
    role: str
    expires_at: float


# Stated with their media type: a route answering text (`/metrics`) refuses in JSON.
_ERROR_JSON = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
            "additionalProperties": False,
        }
    }
}
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No, a malformed, a revoked or a wrong token", "content": _ERROR_JSON},
    403: {"description": "The token's role may not do this", "content": _ERROR_JSON},
}


def api_responses(
    model: type[BaseModel], *errors: tuple[int, str]
) -> dict[int | str, dict[str, Any]]:
    """The answers of a job API route: `model`, the errors it may give, 401/403 and 503."""
    return {
        200: {"model": model},
        **AUTH_ERRORS,
        **{status: {"model": ApiError, "description": text} for status, text in errors},
        503: {"model": ApiError, "description": "The job store is unavailable"},
    }


WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Queued | IgnoredDelivery, "description": "Ignored, or a repeated delivery"},
    202: {"model": Queued, "description": "A job was queued"},
    **_rejections(400, 401, 413, 415, 503),
}


def _header(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _body(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": properties},
            }
        },
    }


_OBJECT: dict[str, Any] = {"type": "object"}

GITLAB_REQUEST: dict[str, Any] = {
    "parameters": [
        _header("X-Gitlab-Token", "The hook's secret token (required when gitlab.token is set)"),
        _header("X-Gitlab-Event", "e.g. `Issue Hook`, `Note Hook`, `Confidential Issue Hook`"),
        _header("X-Gitlab-Instance", "Base URL of the sending GitLab instance"),
        _header("Idempotency-Key", "Delivery id; deduplicates label events"),
        _header("webhook-id", "Standard Webhooks message id (when gitlab.signing_key is set)"),
        _header(
            "webhook-timestamp",
            "Standard Webhooks send time, Unix seconds",
            {"type": "integer"},
        ),
        _header("webhook-signature", "Space-separated `v1,<base64 HMAC-SHA256>` signatures"),
    ],
    "requestBody": _body(
        "A GitLab webhook event, read as raw bytes (the signature covers them exactly). "
        "Issue events with the trigger label and `/optimize` comments on issues queue a job; "
        "any other JSON object is answered 200 `ignored`.",
        {
            "object_kind": {"type": "string"},
            "user": _OBJECT,
            "project": _OBJECT,
            "object_attributes": _OBJECT,
            "issue": _OBJECT,
            "changes": _OBJECT,
            "labels": {"type": "array", "items": _OBJECT},
        },
    ),
}

JIRA_REQUEST: dict[str, Any] = {
    "parameters": [
        _header("X-Hub-Signature", "`sha256=<hex HMAC-SHA256 of the raw body>` (jira.secret)"),
        _header("X-Atlassian-Webhook-Identifier", "Delivery id; deduplicates label events"),
    ],
    "requestBody": _body(
        "A Jira webhook event, read as raw bytes (the signature covers them exactly). "
        "Issue events adding the trigger label and `/optimize` comments in a mapped project "
        "queue a job; any other JSON object is answered 200 `ignored`.",
        {
            "webhookEvent": {"type": "string"},
            "user": _OBJECT,
            "issue": _OBJECT,
            "comment": _OBJECT,
            "changelog": _OBJECT,
        },
    ),
}
