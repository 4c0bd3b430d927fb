"""`slack_app` destinations and `escalate` in rule files: checked with file and line."""

from __future__ import annotations

from pathlib import Path

import jsonschema_rs
import pytest
import yaml

from alerter.rules.load import load_rules
from alerter.rules.model import SLACK_APP_SCHEME, RulesInvalid
from alerter.rules.spec import rules_schema
from tests.conftest import write_rules

GOOD = """
destinations:
  ops-slack:
    slack_app: {channel: C0123456789, token: "${SLACK_BOT_TOKEN}"}
  pager: json://127.0.0.1:9/pager
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    escalate: {after: 15m, notify: [pager]}
    notify: [ops-slack]
"""


def errors_of(tmp_path: Path, text: str, env: dict[str, str]) -> list[str]:
    with pytest.raises(RulesInvalid) as caught:
        load_rules(write_rules(tmp_path, text), env)
    return [str(error) for error in caught.value.errors]


def test_a_slack_app_destination_and_an_escalation_load(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path, GOOD), {"SLACK_BOT_TOKEN": "xoxb-1-abc"})
    destination = rules.destinations["ops-slack"]
    assert destination.slack_app is not None
    assert destination.slack_app.token == "xoxb-1-abc"
    assert destination.urls == (SLACK_APP_SCHEME + "C0123456789",)
    assert "xoxb" not in repr(destination)
    escalate = rules.by_name["transfer-failed"].escalate
    assert escalate is not None and escalate.after == 900 and escalate.notify == ("pager",)


def test_a_bad_channel_token_or_unset_variable_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("C0123456789", '"#ops"')
    [error] = errors_of(tmp_path, text, {"SLACK_BOT_TOKEN": "xoxb-1-abc"})
    assert error.endswith(
        ":3: destination 'ops-slack': slack_app channel '#ops' is not a "
        "channel id (like C0123456789: Slack shows it in the channel's details)"
    )
    [error] = errors_of(tmp_path, GOOD, {"SLACK_BOT_TOKEN": "hunter2"})
    assert ":3: " in error and "not a Slack token" in error and "hunter2" not in error
    [error] = errors_of(tmp_path, GOOD, {})
    assert ":3: destination 'ops-slack': ${SLACK_BOT_TOKEN} is not set" in error


def test_url_and_slack_app_together_or_an_unknown_key_are_errors(tmp_path: Path) -> None:
    both = GOOD.replace("    slack_app:", "    url: json://x\n    slack_app:")
    errors = errors_of(tmp_path, both, {"SLACK_BOT_TOKEN": "xoxb-1"})
    assert any(":3: " in e and "either `url` or `slack_app`" in e for e in errors), errors
    extra = GOOD.replace("token:", "team: T1, token:")
    errors = errors_of(tmp_path, extra, {"SLACK_BOT_TOKEN": "xoxb-1"})
    assert any(":4: " in e and "unknown key 'team'" in e for e in errors), errors


def test_an_escalation_to_an_undefined_destination_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("notify: [pager]", "notify: [pagr]")
    [error] = errors_of(tmp_path, text, {"SLACK_BOT_TOKEN": "xoxb-1"})
    assert ":9: rule 'transfer-failed': destination 'pagr' is not defined" in error


def _readme_yaml_blocks() -> list[str]:
    text = (Path(__file__).parents[2] / "README.md").read_text()
    section = text.split("## Slack app", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```yaml\n")[1:]]


def test_the_readmes_slack_app_rules_and_manifest_are_what_they_say(tmp_path: Path) -> None:
    rules_text, manifest_text = _readme_yaml_blocks()
    env = {"SLACK_BOT_TOKEN": "xoxb-1-abc", "PAGER_URL": "json://127.0.0.1:9/pager"}
    rules = load_rules(write_rules(tmp_path, rules_text), env)
    assert rules.destinations["ops-slack"].slack_app is not None
    assert rules.by_name["transfer-failed"].escalate is not None
    manifest = yaml.safe_load(manifest_text)
    assert manifest["oauth_config"]["scopes"]["bot"] == ["chat:write"]
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].endswith("/slack/interactions")


def test_the_json_schema_knows_slack_apps_and_escalation() -> None:
    validator = jsonschema_rs.validator_for(rules_schema())
    text = GOOD.replace("{category: TRANSFER}", "{category: [TRANSFER]}")
    validator.validate(yaml.safe_load(text))
    wrong = yaml.safe_load(text.replace("token:", "team: T1, token:"))
    assert not validator.is_valid(wrong)
