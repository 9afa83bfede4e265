"""``waymark --help`` and every subcommand's: plain text (no reST markup), every
command described and every option explained."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from waymark.cli import build_parser, main

MARKUP = re.compile(r"``|:\w+:`|\.\. \w+::")


def parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
            ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


ALL = list(parsers(build_parser()))


def test_every_command_is_reached():
    names = {" ".join(path) for path, _ in ALL}
    assert names >= {"run", "migrate", "token", "simulate sms", "simulate call", "demo", "dispatch",
                     "audit verify"}


@pytest.mark.parametrize(("path", "parser"), ALL, ids=[" ".join(p) or "waymark" for p, _ in ALL])
def test_help_is_plain_text_and_explains_every_option(path, parser, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert not MARKUP.search(text), text
    assert parser.description, f"waymark {' '.join(path)} has no description"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            assert all(choice.help for choice in action._choices_actions)
        elif action.option_strings:
            assert action.help, f"{action.option_strings} of waymark {' '.join(path)}"
