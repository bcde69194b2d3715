"""Shared helpers for the chart tests: render charts/reverb like `helm template`
with the Helm SDK bundled in helm-python-sdk, and parse the result."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "reverb"
VALUES_DIR = Path(__file__).resolve().parent / "values"
RELEASE = "spin"
NAMESPACE = "spinnaker"

# Kinds served by the Prometheus operator's CRDs; kubernetes-validate has no
# schema for them, so they get their own checks.
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}

# The metric names Reverb exposes (the contract in docs/operations.md).
METRICS = {
    "reverb_notifications_accepted_total": "counter",
    "reverb_notifications_delivered_total": "counter",
    "reverb_notifications_retried_total": "counter",
    "reverb_notifications_dead_lettered_total": "counter",
    "reverb_slack_api_calls_total": "counter",
    "reverb_slack_api_call_duration_seconds": "histogram",
    "reverb_slack_rate_limited_total": "counter",
    "reverb_response_url_expired_total": "counter",
    "reverb_delivery_store_errors_total": "counter",
    "reverb_delivery_lane_panics_total": "counter",
    "reverb_outbox_intake_commits_total": "counter",
    "reverb_outbox_pending_messages": "gauge",
    "reverb_outbox_oldest_pending_age_seconds": "gauge",
    "reverb_outbox_dead_letters": "gauge",
    "reverb_http_requests_total": "counter",
    "reverb_http_request_duration_seconds": "histogram",
    "reverb_events_received_total": "counter",
    "reverb_callbacks_total": "counter",
    "reverb_judgments_total": "counter",
    "reverb_echo_forward_total": "counter",
    "reverb_echo_forward_pending": "gauge",
    "reverb_echo_up": "gauge",
    "reverb_build_info": "gauge",
}


def metric_names_in(text: str) -> set[str]:
    """Every reverb_* series name in a PromQL text, histogram suffixes folded
    back onto the histogram's name."""
    names = set()
    for name in re.findall(r"\breverb_[a-z0-9_]+", text):
        for suffix in ("_bucket", "_sum", "_count"):
            base = name.removesuffix(suffix)
            if base != name and METRICS.get(base) == "histogram":
                name = base
                break
        names.add(name)
    return names


def values_files() -> list[str]:
    return sorted(p.name for p in VALUES_DIR.glob("*.yaml"))


def load_values(file_name: str) -> dict[str, Any]:
    return yaml.safe_load((VALUES_DIR / file_name).read_text()) or {}


def render(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would print them."""
    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values or {}, name=RELEASE, namespace=NAMESPACE)


def parse(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """All Kubernetes objects in a render, NOTES.txt left out."""
    objects = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append(doc)
    return objects


def manifests(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return parse(render(values))


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in matches]}"
    return matches[0]


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = find(objects, "Deployment")
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(objects).get("env", [])}


@pytest.fixture(params=values_files())
def values_file(request) -> str:
    return request.param
