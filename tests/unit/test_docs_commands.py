"""The commands the README and docs/ show exist: every ``pairs-research`` and ``pairs-daemon``
line names real subcommands, options and choices, and every ``make`` target is in the
Makefile."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from daemon.commands.cli import build_parser as daemon_parser
from research.cli import build_parser as research_parser
from tests.docs_markdown import REPO, code_blocks, code_spans, pages

PARSERS = {"pairs-research": research_parser, "pairs-daemon": daemon_parser}
_OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
_CHOICES = re.compile(r"(--[a-z][\w-]*)[ =]([\w.-]+(?:\|[\w.-]+)+)(?=[\s\]]|$)")


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


def command_lines(text: str) -> list[str]:
    """Shell lines of the code blocks, continuations joined (a trailing backslash, or a next
    line that starts with ``[``), comments dropped."""
    out: list[str] = []
    for block in code_blocks(text):
        joined: list[str] = []
        for raw in block.lines:
            line = raw.split(" # ")[0].rstrip()
            if joined and (joined[-1].endswith("\\") or line.lstrip().startswith("[")):
                joined[-1] = joined[-1].rstrip("\\").rstrip() + " " + line.strip()
            else:
                joined.append(line.strip().removeprefix("$ "))
        out += joined
    return out


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def check(line: str) -> list[str]:
    words = line.split()
    parser = PARSERS[words[0]]()
    path = [parser]
    for word in words[1:]:
        subs = _subparsers(path[-1])
        if word in subs:
            path.append(subs[word])
    if _subparsers(path[-1]):
        return [f"{line!r}: no subcommand"]
    actions = {opt: a for p in path for a in p._actions for opt in a.option_strings}
    problems = [f"{line!r}: no option {o}" for o in _OPTION.findall(line) if o not in actions]
    for option, values in _CHOICES.findall(line):
        choices = getattr(actions.get(option), "choices", None)
        if choices:
            problems += [
                f"{line!r}: {option} has no choice {v}"
                for v in values.split("|")
                if v not in choices
            ]
    return problems


@pytest.mark.parametrize("page", pages(), ids=_name)
def test_every_command_shown_parses(page: Path) -> None:
    lines = [line for line in command_lines(page.read_text(encoding="utf-8")) if line.split()[:1]]
    problems = [p for line in lines if line.split()[0] in PARSERS for p in check(line)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", pages(), ids=_name)
def test_every_make_target_shown_exists(page: Path) -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.MULTILINE))
    text = page.read_text(encoding="utf-8")
    shown = [s for s in code_spans(text) if s.startswith("make ")]
    shown += [line for line in command_lines(text) if line.startswith("make ")]
    missing = [
        s for s in shown for t in s.split()[1:] if not t.startswith("-") and t not in targets
    ]
    assert not missing, missing


def test_a_wrong_option_or_choice_is_caught() -> None:
    assert check("pairs-research screen --base-dir w --engine fast|statsmodels") == []
    assert check("pairs-research screen --nope") != []
    assert check("pairs-research screen --engine fast|slow") != []
    assert check("pairs-daemon --settings x.toml once --session D --wait") == []
