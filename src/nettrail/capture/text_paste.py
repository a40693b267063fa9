"""Repairs of tcpdump text pasted by people: mail quoting and quoted-printable, markdown, HTML.

``Paste.soft_break`` joins a line ending in a quoted-printable soft break (``=``) to the next,
even inside a number or a word; ``Paste.clean`` decodes ``=3D``, drops markdown (code fences
alone or glued to a packet, inline code marks, ``*bold*``), HTML tags (``<br>`` splits a line)
and entities, and e-mail quote marks (``> > ``). Each repair is noted by a ``Warner``: the
first few of each kind name their line, then a count.
"""

from __future__ import annotations

import html
import re

from nettrail.capture.base import CaptureStats

WARNINGS_PER_KIND = 5
"""Warnings of one kind named line by line; the rest are counted."""

_QP_CODE = re.compile(r"=([0-9A-F]{2})")
_FENCE = re.compile(r"^\s*(?:```|~~~)[\w-]*\s*$|^\s*(?:```|~~~)(?=\S)|```\s*$|^`(?=\S)|(?<=\S)`$")
_BOLD = re.compile(r"\*{1,2}([^*\s](?:[^*]*[^*\s])?)\*{1,2}")
_TAG = re.compile(
    r"</?(?:a|b|i|u|s|p|br|em|tt|td|tr|th|li|ul|ol|hr|h[1-6]|pre|code|span|div|font|table|tbody"
    r"|html|body|strong|small|sup|sub|kbd|samp|mark|blockquote)\b[^<>]*>", re.IGNORECASE)
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_ENTITY = re.compile(r"&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")
_QUOTE = re.compile(r"\s*(?:>\s?)+(?=\S)")
_SPACES = str.maketrans(dict.fromkeys("\xa0\u2007\u2009\u202f", " "))


class Warner:
    """Warnings of one file, at most WARNINGS_PER_KIND per kind, then a count."""

    def __init__(self, stats: CaptureStats) -> None:
        self.stats = stats
        self.counts: dict[str, int] = {}

    def warn(self, kind: str, line: int, message: str) -> None:
        """Note ``message`` about ``line`` (the first few of each kind are kept verbatim)."""
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        if n <= WARNINGS_PER_KIND:
            self.stats.warnings.append(f"{self.stats.path} line {line}: {message}")

    def close(self) -> None:
        """Add one line per kind whose warnings were cut short."""
        for kind, n in self.counts.items():
            if n > WARNINGS_PER_KIND:
                more = n - WARNINGS_PER_KIND
                self.stats.warnings.append(f"{self.stats.path}: {more} more lines with {kind}")


class Paste:
    """The pasting repairs of one file, with what they have learnt of it so far."""

    def __init__(self, warner: Warner) -> None:
        self.warner = warner
        self.carry: str | None = None
        self.qp = False

    def soft_break(self, line: str, lineno: int) -> str | None:
        """A quoted-printable soft line break (``=`` at the end of a line) undone: the line
        joined to the next (None while the line is held for it)."""
        line = line.rstrip("\r\n")
        if self.carry is not None:
            q = _QUOTE.match(line)
            if q is not None and line.lstrip().startswith(">"):
                line = line[q.end() :]
            line, self.carry = self.carry + line, None
        if line.endswith("=") and not line.endswith("=="):
            self.carry = line[:-1]
            if not self.qp:
                self.qp = True
                self.warner.warn("quoted-printable", lineno,
                                 "quoted-printable soft line breaks joined")
            return None
        return line + "\n"

    def spaces(self, line: str, lineno: int) -> str:
        """``line`` with the spaces a chat, a mail or a web page pasted in place of tcpdump's
        (non-breaking, narrow, figure, thin), and the tabs an editor put in a line's runs of
        spaces, as plain spaces (a tab that starts a line is tcpdump's own: kept)."""
        if not line.isascii():
            plain = line.translate(_SPACES)
            if plain != line:
                self.warner.warn("non-breaking spaces", lineno, "non-breaking or other Unicode "
                                 "spaces (as chats and web pages paste them) read as spaces")
            line = plain
        if "\t" in line and (text := line.lstrip()) and "\t" in text:
            line = line[: len(line) - len(text)] + text.replace("\t", " ")
            self.warner.warn("tabs", lineno, "tabs inside the line read as spaces")
        return line

    def clean(self, line: str, lineno: int) -> list[str]:
        """``line`` repaired: quoted-printable codes, markdown, HTML (which may split it in
        several lines), quote marks."""
        if "=" in line and (self.qp or "=3D" in line) and _QP_CODE.search(line):
            self.qp = True
            line = _QP_CODE.sub(lambda m: chr(int(m.group(1), 16)), line)
        if "`" in line or "*" in line:
            line = self.markdown(line, lineno)
        parts = [line]
        if "<" in line and _TAG.search(line):
            parts = [_TAG.sub("", p) for p in _BR.split(line)]
            self.warner.warn("HTML markup", lineno, "HTML markup removed")
        if "&" in line and _ENTITY.search(line):
            parts = [html.unescape(p).replace("\xa0", " ") for p in parts]
            self.warner.warn("HTML entities", lineno, "HTML entities decoded")
        out = []
        for p in parts:
            if p[:1] == ">" and not p.strip("> \t"):
                out.append("")  # a quoted empty line
                continue
            q = _QUOTE.match(p)
            if q is not None and not p.lstrip().startswith(">"):
                q = None
            if q is not None:
                p = p[q.end() :]
                self.warner.warn("quote marks", lineno, "leading '>' quote marks removed")
            out.append(p)
        return out

    def markdown(self, line: str, lineno: int) -> str:
        """``line`` without markdown (``unmarked``), with a warning when it had some."""
        text = unmarked(line)
        if text != line:
            self.warner.warn("markdown", lineno, "markdown marks removed")
        return text

    def keeps(self, line: str) -> bool:
        """Whether ``clean`` gives ``line`` back as it is (no repair, no warning), as the file
        stands now: nothing to decode, no markdown, HTML or quote mark."""
        if "=" in line and (self.qp or "=3D" in line) and _QP_CODE.search(line):
            return False
        if ("`" in line or "*" in line) and unmarked(line) != line:
            return False
        if ("<" in line and _TAG.search(line)) or ("&" in line and _ENTITY.search(line)):
            return False
        return line[:1] != ">" and _QUOTE.match(line) is None


def unmarked(line: str) -> str:
    """``line`` without markdown: code fences (alone or glued to a packet), inline code marks,
    ``*bold*`` and ``**bold**``."""
    text = _FENCE.sub("", line)
    if "*" in text and text.count("*") >= 2:
        text = _BOLD.sub(r"\1", text)
    return text


_TSHARK_LINE = re.compile(
    r"\s*(?:\d+\s+)?\d[\d:.-]*(?: \d[\d:.]*)?\s+\S+\s+(?:\u2192|->)\s+(?:\S+\s+)?"
    r"[A-Za-z]\S*\s+\d+\s")
_TSHARK_HEADER = re.compile(r"\s*No\.\s+Time\s+Source\s+Destination\s+Protocol\s+Length\s+Info")


def other_tool(line: str) -> str | None:
    """What ``line`` is when another tool printed it: a packet's summary line as tshark
    prints it (``3 0.000879 203.0.113.11 → 198.51.100.4 TCP 80 55052 → 22 [SYN] Seq=0``),
    or the column header of Wireshark's text export; None for any other line."""
    if ("\u2192" in line or "->" in line) and _TSHARK_LINE.match(line):
        return "tshark's summary line, not tcpdump's"
    if line.lstrip()[:3] == "No." and _TSHARK_HEADER.match(line):
        return "the column header of tshark or Wireshark, not tcpdump's"
    return None
