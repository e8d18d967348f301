"""The runner's markdown (as `texts` writes it) to Jira: ADF (Cloud) or wiki markup (DC).

Only what `texts` produces is understood: headings, paragraphs, `-` lists, fenced code,
pipe tables, inline code, bold and links. HTML (`<details>`) is dropped, images too (they
live on GitLab); the hidden job marker becomes a small visible line, since neither ADF nor
wiki markup has comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_MARKER = re.compile(r"^<!-- (optirunner:job=\S+) -->$")
_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\(([^)\s]+)\)")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")


@dataclass
class Block:
    """One block of the document."""

    kind: str  # heading | para | bullets | code | table | marker
    text: str = ""
    level: int = 0
    items: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def parse(markdown: str) -> list[Block]:
    """Split the markdown into blocks."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = _IMAGE.sub("", lines[i]).rstrip()
        i += 1
        if line.startswith("```"):
            end = i
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            blocks.append(Block("code", "\n".join(lines[i:end]), items=[line[3:].strip()]))
            i = end + 1
        elif m := _MARKER.match(line):
            blocks.append(Block("marker", m.group(1)))
        elif not line.strip() or line.lstrip().startswith("<"):
            continue
        elif m := re.match(r"^(#{1,6}) (.*)", line):
            blocks.append(Block("heading", m.group(2), level=len(m.group(1))))
        elif line.startswith("|"):
            _table_row(blocks, line)
        elif line.startswith("- "):
            _bullet(blocks, line[2:])
        elif line.startswith("  ") and blocks and blocks[-1].kind == "bullets":
            blocks[-1].items[-1] += " " + line.strip()
        else:
            blocks.append(Block("para", line))
    return [b for b in blocks if b.kind != "para" or b.text.strip()]


def _table_row(blocks: list[Block], line: str) -> None:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
        return
    if blocks and blocks[-1].kind == "table":
        blocks[-1].rows.append(cells)
    else:
        blocks.append(Block("table", rows=[cells]))


def _bullet(blocks: list[Block], text: str) -> None:
    if blocks and blocks[-1].kind == "bullets":
        blocks[-1].items.append(text)
    else:
        blocks.append(Block("bullets", items=[text]))


def _adf_inline(text: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    pos = 0
    for m in _INLINE.finditer(text):
        if m.start() > pos:
            nodes.append({"type": "text", "text": text[pos : m.start()]})
        if m.group(1) is not None:
            nodes.append({"type": "text", "text": m.group(1), "marks": [{"type": "code"}]})
        elif m.group(2) is not None:
            nodes.append({"type": "text", "text": m.group(2), "marks": [{"type": "strong"}]})
        else:
            link = {"type": "link", "attrs": {"href": m.group(4)}}
            nodes.append({"type": "text", "text": m.group(3), "marks": [link]})
        pos = m.end()
    if pos < len(text):
        nodes.append({"type": "text", "text": text[pos:]})
    return [n for n in nodes if n["text"]]


def _adf_para(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": _adf_inline(text)}


def _adf_block(block: Block) -> dict[str, Any]:
    if block.kind == "heading":
        return {
            "type": "heading",
            "attrs": {"level": block.level},
            "content": _adf_inline(block.text),
        }
    if block.kind == "bullets":
        items = [{"type": "listItem", "content": [_adf_para(t)]} for t in block.items]
        return {"type": "bulletList", "content": items}
    if block.kind == "code":
        attrs = {"language": block.items[0]} if block.items and block.items[0] else {}
        text = [{"type": "text", "text": block.text}] if block.text else []
        return {"type": "codeBlock", "attrs": attrs, "content": text}
    if block.kind == "table":
        rows = []
        for n, row in enumerate(block.rows):
            cell = "tableHeader" if n == 0 else "tableCell"
            rows.append(
                {
                    "type": "tableRow",
                    "content": [{"type": cell, "content": [_adf_para(c)]} for c in row],
                }
            )
        return {"type": "table", "content": rows}
    if block.kind == "marker":
        mark = [{"type": "em"}]
        return {
            "type": "paragraph",
            "content": [{"type": "text", "text": block.text, "marks": mark}],
        }
    return _adf_para(block.text)


def to_adf(markdown: str) -> dict[str, Any]:
    """An Atlassian Document Format document (Jira Cloud, REST v3)."""
    return {"type": "doc", "version": 1, "content": [_adf_block(b) for b in parse(markdown)]}


def _wiki_inline(text: str) -> str:
    def swap(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return "{{" + m.group(1) + "}}"
        if m.group(2) is not None:
            return f"*{m.group(2)}*"
        return f"[{m.group(3)}|{m.group(4)}]"

    return _INLINE.sub(swap, text)


def _wiki_block(block: Block) -> str:
    if block.kind == "heading":
        return f"h{block.level}. {_wiki_inline(block.text)}"
    if block.kind == "bullets":
        return "\n".join(f"* {_wiki_inline(t)}" for t in block.items)
    if block.kind == "code":
        return "{code}\n" + block.text + "\n{code}"
    if block.kind == "table":
        head, *rows = block.rows
        lines = ["||" + "||".join(_wiki_inline(c) for c in head) + "||"]
        lines += ["|" + "|".join(_wiki_inline(c) or " " for c in r) + "|" for r in rows]
        return "\n".join(lines)
    if block.kind == "marker":
        return "{color:#999999}~" + block.text + "~{color}"
    return _wiki_inline(block.text)


def to_wiki(markdown: str) -> str:
    """Jira wiki markup (Data Center and Server, REST v2)."""
    return "\n\n".join(_wiki_block(b) for b in parse(markdown))
