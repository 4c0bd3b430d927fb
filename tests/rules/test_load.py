"""Rule loading: every error case has its own YAML fixture under cases/, whose
`# expect: LINE: TEXT` comments name the errors it must produce (all of them, no others)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alerter.cli import main
from alerter.models import Severity
from alerter.rules.load import load_rules
from alerter.rules.model import RulesInvalid

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))
SHIPPED = Path(__file__).parents[2] / "rules"
SHIPPED_ENV = {
    "SLACK_OPS_URL": "slack://T0AAAAAAA/B0AAAAAAA/abcdefghijklmnopqrstuvwx",
    "ONCALL_MAIL_URL": "mailtos://user:pass@smtp.example.com?to=oncall@example.com",
}


def expectations(path: Path) -> list[tuple[int, str]]:
    found = re.findall(r"^# expect: (\d+): (.+)$", path.read_text(), re.M)
    return [(int(line), text) for line, text in found]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_each_error_case_is_reported_with_file_and_line(case: Path) -> None:
    expected = expectations(case)
    assert expected, f"{case.name} has no expectation"
    with pytest.raises(RulesInvalid) as caught:
        load_rules(case, {})
    errors = caught.value.errors
    assert len(errors) == len(expected), [str(e) for e in errors]
    for (line, text), error in zip(expected, sorted(errors, key=lambda e: e.line), strict=True):
        assert error.file == str(case)
        assert error.line == line, str(error)
        assert text in error.message, str(error)


def test_all_files_of_a_folder_are_checked_at_once(tmp_path: Path) -> None:
    for case in CASES[:3]:
        (tmp_path / case.name).write_text(case.read_text())
    with pytest.raises(RulesInvalid) as caught:
        load_rules(tmp_path, {})
    assert {Path(e.file).name for e in caught.value.errors} == {c.name for c in CASES[:3]}


def test_shipped_rules_are_valid_given_their_variables() -> None:
    rules = load_rules(SHIPPED, SHIPPED_ENV)
    names = {rule.name for rule in rules.rules}
    assert {"transfer-failed", "tool-errors", "agent-errors", "any-critical"} <= names
    assert {"agent-failure-rate", "integration-timeouts"} <= names
    assert {"webhook-errors", "workflow-errors", "agent-silent"} <= names
    assert rules.by_name["agent-silent"].noise.no_calls == 1200
    assert rules.by_name["agent-failure-rate"].noise.send_resolved


def test_shipped_rules_name_their_missing_variables() -> None:
    with pytest.raises(RulesInvalid) as caught:
        load_rules(SHIPPED, {})
    messages = " ".join(e.message for e in caught.value.errors)
    assert "${SLACK_OPS_URL} is not set" in messages


def test_defaults_and_compiled_forms(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "destinations:\n  ops: [json://127.0.0.1/a, json://127.0.0.1/b]\n"
        "rules:\n  - name: r\n    notify: ops\n    match: {category: TRANSFER}\n"
    )
    rules = load_rules(path, {})
    [rule] = rules.rules
    assert rule.severity is Severity.WARNING
    assert rule.levels == {"ERROR", "CRITICAL"}
    assert rule.categories == {"TRANSFER"}
    assert rule.min_matches == 1
    assert rule.notify == ("ops",)
    assert rule.source == f"{path}:4"
    assert len(rules.destinations["ops"].urls) == 2
    assert len(rules.version) == 12


def test_destination_urls_never_appear_in_errors_or_repr(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "destinations:\n  ops: json://user:supersecret@127.0.0.1/x\n  bad: junk-supersecret\n"
        "rules:\n  - name: r\n    notify: [ops, bad]\n"
    )
    with pytest.raises(RulesInvalid) as caught:
        load_rules(path, {})
    assert "supersecret" not in str(caught.value)
    path.write_text("destinations:\n  ops: ${TOKEN_URL}\nrules:\n  - name: r\n    notify: [ops]\n")
    rules = load_rules(path, {"TOKEN_URL": "json://user:supersecret@127.0.0.1/x"})
    assert "supersecret" not in repr(rules.destinations)


def test_rules_check_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(CASES[0])]) == 1
    err = capsys.readouterr().err
    assert re.search(r"^.+\.yaml:\d+: .+$", err, re.M)
    case = next(c for c in CASES if c.stem == "several_errors")
    assert main(["rules", "check", str(case)]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def test_rules_check_command_on_valid_rules(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SHIPPED_ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["rules", "check", str(SHIPPED)]) == 0
    checked = capsys.readouterr()
    assert checked.out.startswith("ok: 11 rules")
    assert checked.err == ""  # no warning about the shipped rules


def test_rules_check_warns_about_groups_of_one_call_or_caller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.yaml").write_text(
        "destinations: {ops: 'json://127.0.0.1/hook'}\n"
        "rules:\n"
        "  - {name: per-agent, group_by: [agent_id, event], notify: [ops]}\n"
        "  - {name: per-caller, group_by: [contact.identifier], notify: [ops]}\n"
        "  - name: per-call\n"
        "    group_by: [call_id, customer_phone]\n"
        "    when: {no_calls: 1h}\n"
        "    notify: [ops]\n"
    )
    assert main(["rules", "check", str(tmp_path)]) == 0  # a warning, not an error
    warnings = capsys.readouterr().err.strip().splitlines()
    assert [w.split(": warning: ")[0].rsplit(":", 1)[-1] for w in warnings] == ["4", "5", "5"]
    assert all("names a single call or caller" in w for w in warnings)
    assert ["contact.identifier" in w for w in warnings] == [True, False, False]
    assert "'call_id'" in warnings[1] and "'customer_phone'" in warnings[2]


def test_rule_files_read_dotenv_under_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README step 2 puts the Slack URL in .env: rule files must see it, as settings do."""
    from alerter.rules.load import load_rules

    (tmp_path / ".env").write_text("HOOK_URL=json://127.0.0.1:9/from-dotenv\nOTHER=x\n")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "destinations: {d: '${HOOK_URL}'}\nrules:\n  - {name: r, notify: [d]}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOOK_URL", raising=False)
    assert load_rules(rules).destinations["d"].urls == ("json://127.0.0.1:9/from-dotenv",)
    monkeypatch.setenv("HOOK_URL", "json://127.0.0.1:9/from-environment")
    assert load_rules(rules).destinations["d"].urls == ("json://127.0.0.1:9/from-environment",)


def test_a_kubernetes_configmap_mount_loads_each_file_once(tmp_path: Path) -> None:
    from alerter.rules.load import load_rules, rule_files

    mount = tmp_path / "rules"
    stamp = mount / "..2026_11_29_10_00_00.123456789"
    stamp.mkdir(parents=True)
    (stamp / "r.yaml").write_text(
        "destinations: {d: 'json://127.0.0.1:9/x'}\nrules:\n  - {name: r, notify: [d]}\n"
    )
    (mount / "..data").symlink_to(stamp.name)
    (mount / "r.yaml").symlink_to("..data/r.yaml")
    assert rule_files(mount) == [mount / "r.yaml"]
    assert [rule.name for rule in load_rules(mount, {}).rules] == ["r"]


def test_hidden_folders_are_not_walked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A virtualenv or .git under the rules folder holds thousands of files: checking the
    folder for changes every two seconds must not walk them."""
    import os

    from alerter.rules.load import rule_files

    text = "destinations: {d: 'json://127.0.0.1:9/x'}\nrules:\n  - {name: r, notify: [d]}\n"
    for folder in ("team/a", ".venv/lib", "team/.git/objects"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "r.yaml").write_text(text)
    (tmp_path / ".hidden.yaml").write_text(text)
    walked: list[str] = []
    walk = os.walk

    def recording_walk(top: Path, **options: bool) -> object:
        for folder, folders, names in walk(top, **options):
            walked.append(folder)
            yield folder, folders, names

    monkeypatch.setattr(os, "walk", recording_walk)
    assert rule_files(tmp_path) == [tmp_path / "team/a/r.yaml"]
    assert walked and not [folder for folder in walked if "/." in folder[len(str(tmp_path)) :]]


def test_a_holder_given_its_rules_looks_at_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests and one-off commands hand a loaded set to a holder: it must not walk the working
    directory (which may be a whole checkout, or /) for files to watch."""
    import alerter.rules.reload as reload

    (tmp_path / "r.yaml").write_text(
        "destinations: {d: 'json://127.0.0.1:9/x'}\nrules:\n  - {name: r, notify: [d]}\n"
    )
    rules = load_rules(tmp_path)

    def no_walking(path: Path) -> list[Path]:
        raise AssertionError(f"walked {path}")

    monkeypatch.setattr(reload, "rule_files", no_walking)
    holder = reload.RulesHolder.of(rules)
    assert holder.current is rules and holder._fingerprint() == ()
    with pytest.raises(RuntimeError, match="no files to load"):
        holder.reload()
