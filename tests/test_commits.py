"""The project's history reads well: every commit since the rule was set has a subject of at
most 72 characters and, when it says more, a blank line before its body (the why)."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RULE_SET_AFTER = "06cdad2"  # the last commit whose subject ran on; those before it stay as they landed


def commits() -> list[tuple[str, str]]:
    """(hash, whole message) of each commit since the rule was set, or of the last 50 when the
    history does not reach back to it (a shallow clone)."""
    def log(*revisions: str) -> str:
        return subprocess.run(["git", "log", "--format=%h%x00%B%x01", *revisions], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
    if subprocess.run(["git", "rev-parse", "--git-dir"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("not a git checkout")
    try:
        found = log(f"{RULE_SET_AFTER}..HEAD")
    except subprocess.CalledProcessError:
        found = log("-n", "50")
    return [tuple(entry.strip("\n").split("\x00", 1)) for entry in found.split("\x01") if entry.strip()]


def test_every_subject_is_at_most_72_characters_with_a_blank_line_before_the_body():
    bad = []
    for commit, message in commits():
        lines = message.strip("\n").split("\n")
        if len(lines[0]) > 72:
            bad.append(f"{commit}: subject of {len(lines[0])} characters")
        if len(lines) > 1 and lines[1].strip():
            bad.append(f"{commit}: no blank line between subject and body")
    assert bad == []
