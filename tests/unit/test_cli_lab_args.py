"""``nettrail lab`` and ``demo`` messages that build nothing: unknown names, help, plurals."""

from __future__ import annotations

from pathlib import Path

import pytest

from nettrail.cli.main import main
from nettrail.lab import scenario


def test_unknown_scenario_is_named_without_internal_paths(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["lab", "up", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err == ("nettrail: error: no scenario named 'nosuch' (known: "
                   f"{', '.join(scenario.available())})\n")


def test_broken_copy_of_a_scenario_names_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "pc.toml"
    text = scenario.scenario_path("port-closed").read_text(encoding="utf-8")
    copy.write_text(text.replace("summary =", "sumary ="))
    assert main(["lab", "up", str(copy)]) == 2
    assert capsys.readouterr().err == (f"nettrail: error: {copy}: sumary: unknown key "
                                       "(did you mean 'summary'?)\n")


def test_down_of_a_lab_that_is_not_up_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "down", "zz-never-built"]) == 0
    assert capsys.readouterr().out == "zz-never-built is not up: nothing to remove\n"


@pytest.mark.parametrize(("argv", "wanted"), [
    (["lab", "--help"], "examples:\n  nettrail lab list\n"),
    (["lab", "run", "--help"], "--output DIR"),
    (["demo", "--help"], "--output DIR"),
    (["--help"], "examples:\n  nettrail analyze host1=client.pcap"),
])
def test_help_has_examples_and_plain_metavars(
    argv: list[str], wanted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert wanted in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    ([], "a command is required: analyze, trace, collect, lab, snapshot or demo "
         "(nettrail --help tells more)"),
    (["lab"], "lab needs a verb: list, up, run, down, status, ssh-config or traffic "
              "(nettrail lab --help tells more)"),
])
def test_missing_command_or_verb_lists_the_choices(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err == f"nettrail: error: {message}\n"
