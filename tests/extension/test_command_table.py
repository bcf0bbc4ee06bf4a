"""The azdev linter's high-severity rules, checked on the loaded command table (azdev itself
cannot run offline)."""
import argparse
import shlex

import pytest
import yaml
from knack.help_files import helps

from tests.extension.command_table import load_commands

COMMANDS = load_commands()


def _user_arguments(command):
    for dest, argument in command.arguments.items():
        settings = argument.type.settings
        inherited = settings.get("arg_type")
        if dest == "cmd" or (inherited is not None
                             and inherited.settings.get("help") == argparse.SUPPRESS):
            continue  # az injects `cmd` (the command context); users never see it
        yield dest, settings


def _examples(name):
    return yaml.safe_load(helps[name]).get("examples") or []


def test_the_group_and_every_command_have_help_with_examples():
    assert set(COMMANDS) >= {"aitk-infer init", "aitk-infer show-endpoint"}
    for name in ["aitk-infer", *COMMANDS]:
        assert name in helps, f"no help for '{name}'"
        entry = yaml.safe_load(helps[name])
        assert entry.get("short-summary"), f"'{name}' has no short-summary"
        assert _examples(name), f"'{name}' has no examples"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_argument_has_help_and_a_lint_clean_option_name(name):
    for dest, settings in _user_arguments(COMMANDS[name]):
        assert settings.get("help"), f"{name}: argument '{dest}' has no help"
        options = settings.get("options_list") or [f"--{dest.replace('_', '-')}"]
        longs = [o for o in options if o.startswith("--")]
        assert longs, f"{name}: argument '{dest}' is positional"
        for option in longs:
            assert "_" not in option, f"{name}: option {option} has an underscore"
            assert len(option) <= 22 or len(options) > 1, f"{name}: {option} is too long"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_examples_start_with_the_command_and_use_only_its_options(name):
    known = {"-o", "--output", "--query", "--subscription", "--debug", "--verbose",
             "--only-show-errors", "-h", "--help"}
    for _, settings in _user_arguments(COMMANDS[name]):
        known.update(settings.get("options_list") or [])
    for example in _examples(name):
        words = shlex.split(example["text"])
        assert " ".join(words[:len(name.split()) + 1]) == f"az {name}", example["text"]
        flags = {w.split("=")[0] for w in words if w.startswith("-")}
        assert flags <= known, f"{name}: example uses unknown {sorted(flags - known)}"
