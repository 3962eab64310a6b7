"""The methods document: every definition, setting, rule and threshold, for people to read.

``docs/methods.md`` is written for clinic directors, researchers and therapists and cites the
clinical or statistical source of every threshold. This module makes the same text
available to the HTML report, so that the report's methods and the document never disagree:

- :func:`methods_text` is the whole document;
- :func:`methods_sections` splits it into its numbered sections (``## 4. Outcome
  definitions``) and subsections (``### 4.6 Response``);
- :func:`methods_html` renders chosen sections to HTML with markdown-it-py (CommonMark with
  tables; raw HTML in the text is escaped, never passed through). Every heading gets an
  ``id`` such as ``methods-4-6``, so a report can link to "methods §4.6"; references between
  the sections rendered together are links.

The file is found in an installed wheel (``katoutcomes/docs/methods.md``, mapped there by
the ``force-include`` table of ``pyproject.toml``) or, in a source checkout, in the
repository's ``docs/`` folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = [
    "METHODS_FILE",
    "MethodsSection",
    "methods_html",
    "methods_path",
    "methods_sections",
    "methods_text",
]

#: Where the document lives, relative to the repository root and to the package.
METHODS_FILE: Final = Path("docs") / "methods.md"

#: ``## 4. Title`` (a section) or ``### 4.6 Title`` (a subsection).
_HEADING: Final = re.compile(r"^(?P<hashes>#{2,3}) (?P<number>\d+(?:\.\d+)?)\.? (?P<title>.+?)\s*$")


@dataclass(frozen=True, slots=True)
class MethodsSection:
    """One numbered section or subsection of the methods document.

    Attributes
    ----------
    number : ``"4"`` for a section, ``"4.6"`` for a subsection.
    title : the heading without its number (``"Response"``).
    text : the markdown under the heading, without the heading itself; a section's text
        includes its subsections.
    level : 2 for a section, 3 for a subsection (the markdown heading level).
    """

    number: str
    title: str
    text: str
    level: int

    @property
    def heading(self) -> str:
        """The heading as written in the document (``"4.6 Response"``, ``"4. Outcome …"``)."""
        return f"{self.number}. {self.title}" if self.level == 2 else f"{self.number} {self.title}"

    @property
    def anchor(self) -> str:
        """The HTML ``id`` of the heading (``"methods-4-6"``)."""
        return "methods-" + self.number.replace(".", "-")


def methods_path(package_root: Traversable | None = None) -> Path:
    """Path of ``methods.md``: packaged in the wheel, else the source checkout's ``docs/``.

    Parameters
    ----------
    package_root : Traversable, optional
        The installed package folder (``importlib.resources.files("katoutcomes")`` when
        omitted).

    Raises
    ------
    FileNotFoundError
        When neither copy exists (a broken installation), naming both places looked in.
    """
    root = resources.files("katoutcomes") if package_root is None else package_root
    packaged = root / "docs" / "methods.md"
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / METHODS_FILE
    if checkout.is_file():
        return checkout
    raise FileNotFoundError(
        f"The methods document is missing: looked for {packaged} (installed package) and "
        f"{checkout} (source checkout). Reinstall katoutcomes."
    )


@cache
def methods_text() -> str:
    """The whole methods document (markdown)."""
    return methods_path().read_text(encoding="utf-8")


def _split(text: str) -> list[MethodsSection]:
    """Numbered sections and subsections of ``text``, in document order.

    Headings inside fenced code blocks are not headings. A section runs to the next heading
    of its level or above; a subsection to the next heading of any numbered level.
    """
    lines = text.splitlines()
    heads: list[tuple[int, int, str, str]] = []  # line, level, number, title
    fenced = False
    for i, line in enumerate(lines):
        if line.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            heads.append((i, len(match["hashes"]), match["number"], match["title"]))
    sections = []
    for position, (start, level, number, title) in enumerate(heads):
        end = len(lines)
        for later, later_level, _, _ in heads[position + 1 :]:
            if later_level <= level:
                end = later
                break
        body = "\n".join(lines[start + 1 : end]).strip("\n")
        sections.append(MethodsSection(number, title, body + "\n", level))
    return sections


def methods_sections() -> list[MethodsSection]:
    """Every numbered section (``"4"``) and subsection (``"4.6"``), in document order.

    Examples
    --------
    >>> sections = {s.number: s for s in methods_sections()}
    >>> sections["4.6"].title
    'Response'
    >>> sections["4"].level, sections["4.6"].level
    (2, 3)
    """
    return _split(methods_text())


def _renderer() -> MarkdownIt:
    from markdown_it import MarkdownIt  # loaded on first use: most commands never render

    # CommonMark with GitHub-style tables; raw HTML in the text is escaped, not passed on.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _is_within(number: str, parent: str) -> bool:
    return number.startswith(parent + ".")


def methods_html(numbers: Sequence[str] | None = None) -> str:
    """Chosen sections of the methods document as an HTML fragment.

    Parameters
    ----------
    numbers : sequence of str, optional
        Section or subsection numbers (``["4", "6.2"]``), rendered in the order given. A
        subsection of a section also chosen is not repeated. Every section when omitted.

    Returns
    -------
    str
        HTML: each section's heading (``<h2>`` for a section, ``<h3>`` for a subsection,
        with ``id="methods-4-6"``) followed by its text. Markdown tables become ``<table>``;
        any HTML written in the document is escaped. A reference such as "§4.6" to a
        section shown in the same fragment links to its heading.

    Raises
    ------
    ValueError
        For a number that is not a section of the document (the message lists them).

    Examples
    --------
    >>> html = methods_html(["4.7"])
    >>> html.splitlines()[0]
    '<h3 id="methods-4-7">4.7 Remission</h3>'
    """
    sections = methods_sections()
    by_number = {s.number: s for s in sections}
    if numbers is None:
        chosen = [s for s in sections if s.level == 2]
    else:
        unknown = [n for n in numbers if n not in by_number]
        if unknown:
            raise ValueError(
                f"Unknown methods section(s) {', '.join(map(repr, unknown))}; the document has "
                f"{', '.join(by_number)}."
            )
        wanted = list(dict.fromkeys(numbers))
        chosen = [by_number[n] for n in wanted if not any(_is_within(n, other) for other in wanted)]
    md = _renderer()
    parts = []
    for section in chosen:
        markdown = "#" * section.level + " " + section.heading + "\n\n" + section.text
        tokens = md.parse(markdown)
        for position, token in enumerate(tokens):
            if token.type == "heading_open":
                inline = tokens[position + 1].content
                match = re.match(r"(\d+(?:\.\d+)?)\.? ", inline)
                if match:
                    token.attrSet("id", "methods-" + match[1].replace(".", "-"))
        parts.append(md.renderer.render(tokens, md.options, {}))
    out = "".join(parts)
    # A reference to a section shown in the same fragment becomes a link to its heading.
    shown = set(re.findall(r'<h[23] id="(methods-[0-9-]+)"', out))

    def link(match: re.Match[str]) -> str:
        anchor = "methods-" + match[1].replace(".", "-")
        return f'<a href="#{anchor}">{match[0]}</a>' if anchor in shown else match[0]

    return re.sub(r"§(\d+(?:\.\d+)?)", link, out)
