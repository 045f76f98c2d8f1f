"""The README is the front door to the docs/ pages: every relative link between README.md,
docs/*.md and warehouse/README.md names a file that exists, and a `#fragment` names one of
that page's headings (as GitHub spells its anchors)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).parent.parent
PAGES = [REPO / "README.md", REPO / "warehouse/README.md", *sorted((REPO / "docs").glob("*.md"))]


def anchors(page: Path) -> set[str]:
    """GitHub's anchor for each heading: lower case, punctuation dropped, spaces as `-`."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings
    }


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` (outside code blocks) whose file or heading is missing."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    broken = []
    for link in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", link):
            continue
        path, _, fragment = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists() or (
            fragment and target.suffix == ".md" and fragment not in anchors(target)
        ):
            broken.append(link)
    return broken


def test_the_readme_links_every_docs_page() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in readme, page.name


def test_every_relative_link_between_the_docs_resolves() -> None:
    broken = {str(page.relative_to(REPO)): broken_links(page) for page in PAGES}
    assert {name: links for name, links in broken.items() if links} == {}
