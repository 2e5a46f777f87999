"""The README and docs/: short front door, every link resolves, every page reachable.

The docs are plain Markdown read on the forge; this is their link check, so a moved heading
or a renamed page fails CI instead of a reader.
"""

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def prose(path: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """The anchor a forge gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path):
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    return [target for line in prose(path) for target in LINK.findall(line)]


def local_target(page: Path, target: str) -> tuple[Path, str]:
    file_part, _, anchor = target.partition("#")
    return (page if not file_part else (page.parent / file_part).resolve()), anchor


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:: not fetched
            continue
        path, anchor = local_target(page, target)
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_page_is_reachable_from_the_readme():
    reached, todo = {README}, [README]
    while todo:
        page = todo.pop()
        for target in links(page):
            if re.match(r"[a-z]+:", target):
                continue
            path, _ = local_target(page, target)
            if path.suffix == ".md" and path.exists() and path not in reached:
                reached.add(path)
                todo.append(path)
    unreached = [str(p.relative_to(ROOT)) for p in PAGES if p not in reached]
    assert not unreached, f"pages no link leads to: {unreached}"


def test_the_readme_is_read_in_ten_minutes():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250


def test_ci_runs_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    ci_command = [line for line in ci if line.strip() and not line.startswith("#")][-1]
    readme_commands = [shlex.split(line.split("#")[0]) for line in README.read_text().splitlines()
                       if line.startswith(".venv/bin/python -m pytest")]
    assert shlex.split(ci_command) in readme_commands


def test_the_anchor_rule_matches_the_forges():
    assert slug("How a report flows, and why nothing is lost") == "how-a-report-flows-and-why-nothing-is-lost"
    assert slug("The instant a report is for: `as_of`") == "the-instant-a-report-is-for-as_of"
    assert slug("The contract (OpenAPI)") == "the-contract-openapi"
