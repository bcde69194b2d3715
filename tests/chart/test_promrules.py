"""The chart's PrometheusRule checked by promtool: syntax (`promtool check
rules`) and behaviour (`promtool test rules` with synthetic series). Skipped
when promtool is not installed; .ci/run installs Debian's prometheus package."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import NAMESPACE, find, load_values, manifests

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)")

NS = f'namespace="{NAMESPACE}"'
COMMON = {"namespace": NAMESPACE, "team": "platform"}


def rule_groups() -> list[dict[str, Any]]:
    rule = find(manifests(load_values("monitoring.yaml")), "PrometheusRule")
    return rule["spec"]["groups"]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True)


def test_rules_pass_promtool_check(tmp_path: Path):
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups()}))
    run = promtool("check", "rules", str(rules))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_promtool_check_rejects_a_broken_expression(tmp_path: Path):
    # Guards the test above against a promtool that accepts anything.
    groups = rule_groups()
    groups[0]["rules"][0]["expr"] = "sum by (namespace (reverb_build_info)"
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    assert promtool("check", "rules", str(rules)).returncode != 0


def alert(name: str, eval_time: str, *labels: dict[str, str]) -> dict[str, Any]:
    return {
        "eval_time": eval_time,
        "alertname": name,
        "exp_alerts": [{"exp_labels": {**COMMON, **extra}} for extra in labels],
    }


def case(series: dict[str, str], *checks: dict[str, Any]) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": list(checks),
    }


CASES = {
    "outbox stuck fires after 600 s plus 2 m": case(
        {f"reverb_outbox_oldest_pending_age_seconds{{{NS}}}": "0+60x20"},
        alert("ReverbOutboxStuck", "10m"),  # 600: not above the threshold
        alert("ReverbOutboxStuck", "12m"),  # above it, still pending
        alert("ReverbOutboxStuck", "13m", {"severity": "critical"}),
    ),
    "dead letters fire per kind": case(
        {
            f'reverb_notifications_dead_lettered_total{{{NS},kind="manualJudgment"}}': "0 0 0 1 1 1",
            f'reverb_notifications_dead_lettered_total{{{NS},kind="pipeline"}}': "0 0 0 0 0 0",
        },
        alert("ReverbDeadLetters", "2m"),
        alert("ReverbDeadLetters", "5m", {"severity": "warning", "kind": "manualJudgment"}),
    ),
    "slack permanent errors fire, other outcomes do not": case(
        {
            f'reverb_slack_api_calls_total{{{NS},method="chat.postMessage",outcome="permanent_error"}}': "0 0 0 2 2",
            f'reverb_slack_api_calls_total{{{NS},method="users.info",outcome="ok"}}': "0+100x4",
            f'reverb_slack_api_calls_total{{{NS},method="chat.update",outcome="retryable_error"}}': "0+5x4",
        },
        alert("ReverbSlackPermanentErrors", "2m"),
        alert("ReverbSlackPermanentErrors", "4m", {"severity": "warning", "method": "chat.postMessage"}),
    ),
    "callback verification failures above 5 in 5 m fire": case(
        {
            f'reverb_callbacks_total{{{NS},outcome="bad_signature"}}': "0+3x20",
            f'reverb_callbacks_total{{{NS},outcome="stale_timestamp"}}': "0+1x20",
            f'reverb_callbacks_total{{{NS},outcome="accepted"}}': "0+50x20",
        },
        alert("ReverbCallbackVerificationFailures", "10m", {"severity": "warning"}),
    ),
    "five callback failures in 5 m stay quiet; malformed ones do not count": case(
        {
            f'reverb_callbacks_total{{{NS},outcome="stale_timestamp"}}': "0+1x20",
            f'reverb_callbacks_total{{{NS},outcome="malformed"}}': "0+10x20",
        },
        alert("ReverbCallbackVerificationFailures", "20m"),
    ),
    "orca errors on judgments fire": case(
        {
            f'reverb_judgments_total{{{NS},decision="continue",outcome="orca_error"}}': "0 0 1 1",
            f'reverb_judgments_total{{{NS},decision="stop",outcome="recorded"}}': "0 1 2 3",
        },
        alert("ReverbJudgmentErrors", "3m", {"severity": "warning", "decision": "continue"}),
    ),
    "fiat errors on judgments fire too": case(
        {f'reverb_judgments_total{{{NS},decision="stop",outcome="fiat_error"}}': "0 0 1 1"},
        alert("ReverbJudgmentErrors", "3m", {"severity": "warning", "decision": "stop"}),
    ),
    "a forged click fires": case(
        {
            f'reverb_judgments_total{{{NS},decision="continue",outcome="forged"}}': "0 0 1 1",
            f'reverb_judgments_total{{{NS},decision="continue",outcome="recorded"}}': "0 1 2 3",
        },
        alert("ReverbForgedClicks", "3m", {"severity": "warning"}),
    ),
    "recorded judgments alone stay quiet": case(
        {f'reverb_judgments_total{{{NS},decision="continue",outcome="recorded"}}': "0 1 2 3"},
        alert("ReverbForgedClicks", "3m"),
    ),
    "down fires when this namespace has no build info": case(
        {'reverb_build_info{namespace="other",version="0.1.0"}': "1+0x10"},
        alert("ReverbDown", "4m"),
        alert("ReverbDown", "6m", {"severity": "critical"}),
    ),
    "down stays quiet while build info is scraped": case(
        {f'reverb_build_info{{{NS},version="0.1.0"}}': "1+0x10"},
        alert("ReverbDown", "8m"),
    ),
    "5xx above 5 % for 10 m fire": case(
        {
            f'reverb_http_requests_total{{{NS},method="POST",route="/",status="500"}}': "0+10x30",
            f'reverb_http_requests_total{{{NS},method="POST",route="/",status="200"}}': "0+90x30",
        },
        alert("ReverbHttpErrors", "10m"),
        alert("ReverbHttpErrors", "20m", {"severity": "warning"}),
    ),
    "echo forward backlog fires after 10 m": case(
        {f"reverb_echo_forward_pending{{{NS}}}": "150+0x30"},
        alert("ReverbEchoForwardBacklog", "5m"),
        alert("ReverbEchoForwardBacklog", "15m", {"severity": "warning"}),
    ),
    "sustained rate limiting fires": case(
        {f'reverb_slack_rate_limited_total{{{NS},method="chat.postMessage"}}': "0+1x40"},
        alert("ReverbSlackRateLimited", "30m", {"severity": "info", "method": "chat.postMessage"}),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_alerts_fire_when_they_should(name: str, tmp_path: Path):
    groups = rule_groups()
    # Annotations are templated text; `check rules` covers them. Leaving them
    # out here lets the cases assert on labels only.
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": groups}))
    unit = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [CASES[name]]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(unit, sort_keys=False))
    run = promtool("test", "rules", str(tmp_path / "test.yml"))
    assert run.returncode == 0, run.stdout + run.stderr
