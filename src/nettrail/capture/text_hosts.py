"""Texts of several hosts' lines: what pdsh, clush or pssh -P print when tcpdump runs on many
hosts at once, each line after its host's name (``netnode: 17:29:35.964388 IP …``), or
``kubectl logs --prefix`` of tcpdump in pods, after the pod's and its container's
(``[pod/web-7d4b/tcpdump] 17:29:35.964388 IP …``: the pod is the host), and texts of
blocks, a head naming each host before its lines: dshbak's (a host's name between two lines
of dashes), ansible's ad-hoc commands' (``netnode | CHANGED | rc=0 >>``) and pssh -i's
(``[1] 17:29:41 [SUCCESS] netnode``).

Each host's lines are a capture point of their own. ``text_hosts(path)`` names the hosts of
such a text, in the order they first speak (none: the text of one capture);
``HostLines.select`` picks one host's lines out of a block of whole lines, each with its place
in the block, so that the reader reads them as one capture and names the file's own lines.
What pdsh says of a host (``pdsh@admin: compute: ssh exited with exit code 255``) is that
host's (``HostLines.said``: a warning). Other lines of no host (a shell prompt pasted with the
text) go to the first host: they are read, and counted, once. tcpdump's own words after its
packets are its host's: pssh -i puts ``Stderr: `` before them, and ansible glues them to the
last packet line (it joins what the command printed and what it said without a line end
between: ``… length 0reading from file …``); both are taken off.
"""

from __future__ import annotations

import re
from itertools import compress
from operator import methodcaller
from typing import BinaryIO, NamedTuple

SNIFF = 1 << 16
"""Bytes looked at to tell a text of several hosts from the text of one capture."""
_READ = 1 << 20
_NAME = rb"[A-Za-z0-9][A-Za-z0-9_.-]*"
_SPOKEN = (rb"(?: *\d+  +)?(?:caplen \d+ len \d+ )? ?(?:\d{1,2}:\d\d:\d\d|\d{4}-\d\d-\d\d "
           rb"|\d+\.\d+ |IP6? |ARP, |tcpdump: |listening on |reading from )")
"""How a host's tcpdump line starts: a time (of day, ``-tttt``, ``-tt``, ``-ttt``; after
``-#``'s number, ``--lengths``' caplen), a network layer (``-t``) or tcpdump's own words; a
line of a host's name and anything else (``Host: example.com`` in ``-A`` bytes) names no
host."""
_QUOTED = rb"(?:>[> ]*)?"
"""E-mail quote marks before a line (``> netnode: …``): the reader takes them off."""
_PREFIXED = re.compile(rb"\n" + _QUOTED + rb"(" + _NAME + rb"): (?=" + _SPOKEN + rb")")
"""A line of a host (after a line end: ``\\n`` is put before a text's first line; the engine
looks for a line end as quick as a byte search, where ``(?m)^`` is tried at every byte)."""
_POD = re.compile(rb"\n" + _QUOTED + rb"\[pod/(" + _NAME + rb")/[^\]\s/]+\] (?=" + _SPOKEN
                  + rb")")
"""A line of a pod's container as ``kubectl logs --prefix`` prints it (``[pod/web-7d4b/tcpdump]
17:29:35.964388 IP …``): the pod is the host."""
_PREFIXES = (_PREFIXED, _POD)
_STAMPED = re.compile(rb"\n" + _QUOTED + _SPOKEN)
_BLOCK_HEAD = re.compile(
    rb"(?m)\n-{4,}\r?\n(" + _NAME + rb"(?:," + _NAME + rb")*)\r?\n-{4,}\r?$")
"""dshbak's head of a host's lines (``dshbak -c`` names several hosts of the same output)."""
_ANSIBLE_HEAD = re.compile(
    rb"(?m)\n(" + _NAME + rb") \| (?:(?:CHANGED|SUCCESS|FAILED) \| rc=-?\d+ >>"
    rb"|(?:UNREACHABLE|FAILED)! => \{)\r?$")
"""ansible's head of a host's output (its ``minimal`` callback, the ad-hoc default: the
command's output after it; a failure to connect or to run it: JSON after it)."""
_PSSH_HEAD = re.compile(
    rb"(?m)\n\[\d+\] \d\d:\d\d:\d\d \[(?:SUCCESS|FAILURE)\] (?:[^@\s]+@)?(" + _NAME
    + rb"(?::\d+)?)(?: [^\r\n]*)?\r?$")
"""pssh -i's head of a host's output (``[2] 17:29:41 [FAILURE] compute Exited with error code
124``: the number of the host in the order they ended, the time it ended; the user it logged
in as left out of the name, a port kept)."""
_STDERR = b"Stderr: "
"""What pssh -i prints before a host's command's standard error."""
_GLUED = re.compile(rb"(?<=.)(?=tcpdump: |reading from file |dropped privs to "
                    rb"|non-zero return code\r?$)")
"""Where ansible glued what tcpdump (and then ansible itself) said to the line before it: the
first of them starts a line of its own."""
_NON_ZERO = b"non-zero return code"
"""What ansible says after a command's output when it ended with another code than 0."""
HEAD_WITHIN = 3
"""dshbak's first head stands within a text's first lines (a shell prompt and the command may
come before it)."""
_HEADS = ((_BLOCK_HEAD, HEAD_WITHIN), (_ANSIBLE_HEAD, 20), (_PSSH_HEAD, 20))
"""Each form of heads, with the lines its first head stands within: ansible's and pssh's are
told apart from any packet line, and ansible's warnings may come first (one of a Python
interpreter it found takes five lines)."""
_PDSH = re.compile(rb"pdsh@[^:\s]*: (" + _NAME + rb"): (.*)")
"""pdsh's own words about a host (its command's exit code, a connection refused)."""
_NOT_HOSTS = frozenset({b"tcpdump", b"Warning", b"listening", b"reading", b"Stderr"})


def _unquoted(lines: list[bytes]) -> list[bytes]:
    """``lines`` without their e-mail quote marks, in place; the marks of each."""
    quotes = [b""] * len(lines)
    for k, line in enumerate(lines):
        if line[:1] == b">":
            rest = line.lstrip(b"> ")
            quotes[k], lines[k] = line[: len(line) - len(rest)], rest
    return quotes


class TextHosts(NamedTuple):
    """The hosts of a text of several hosts' lines, in the order they first speak; in a form
    of blocks also where each head stands: (its first line's index, its last's, the host or
    hosts it names)."""

    hosts: list[str]
    heads: list[tuple[int, int, bytes]] | None
    form: re.Pattern[bytes] = _PREFIXED
    """The pattern naming the hosts: of each line (pdsh's, kubectl's) or of each block's head
    (dshbak's, ansible's, pssh's)."""


def text_hosts(path: str) -> TextHosts | None:
    """The hosts of a text of several hosts' lines; None for the text of one capture (or a
    file that cannot be read: its reader says why)."""
    try:
        with open(path, "rb") as f:
            return hosts_in(f)
    except OSError:
        return None


def hosts_in(f: BinaryIO, head: bytes = b"") -> TextHosts | None:
    """``text_hosts`` of the text open as ``f``, of which ``head`` is read already."""
    head += f.read(max(SNIFF - len(head), 0))
    form = _form(head[: head.rfind(b"\n") + 1] if len(head) >= SNIFF else head)
    if form is None:
        return None
    f.seek(0)
    hosts: dict[bytes, None] = {}
    heads: list[tuple[int, int, bytes]] = []
    rest, lines = b"", 0
    while data := f.read(_READ):
        block = rest + data
        cut = block.rfind(b"\n") + 1
        rest = block[cut:]
        lines = _names(form, block[:cut], lines, hosts, heads)
    _names(form, rest + b"\n", lines, hosts, heads)
    return TextHosts([h.decode() for h in hosts], None if form in _PREFIXES else heads, form)


def _form(head: bytes) -> re.Pattern[bytes] | None:
    """The pattern naming the hosts of a text that starts with ``head``: its lines' names
    (pdsh's, kubectl's) or the heads of its blocks (the first within the first lines
    ``_HEADS`` names); None: the text of one capture (more lines start with a time than with
    a host's name and a time)."""
    data = b"\n" + head
    stamped = len(_STAMPED.findall(data))
    for form in _PREFIXES:
        named = sum(1 for name in form.findall(data) if name not in _NOT_HOSTS)
        if named and named >= stamped:
            return form
    text = b"\n" + head.lstrip(b"\r\n")
    at = 0
    for line in range(max(within for _, within in _HEADS)):  # after the command line, or not
        for form, within in _HEADS:
            if line < within and form.match(text, at):
                return form
        at = text.find(b"\n", at + 1)
        if at < 0:
            break
    return None


def _names(form: re.Pattern[bytes], block: bytes, lines: int, hosts: dict[bytes, None],
           heads: list[tuple[int, int, bytes]]) -> int:
    """The hosts named in ``block`` of whole lines (after ``lines`` lines) into ``hosts``, and
    in a form of blocks its heads into ``heads``; the lines read after it."""
    data = b"\n" + block
    if form in _PREFIXES:
        for name in form.findall(data):
            if name not in _NOT_HOSTS:
                hosts[name] = None
        return lines + block.count(b"\n")
    at, line = 1, lines
    for m in form.finditer(data):  # its first line starts after the line end it matches
        line += data.count(b"\n", at, m.start() + 1)
        at = m.start() + 1
        heads.append((line, line + m.group().count(b"\n") - 1, m.group(1)))
        hosts.update(dict.fromkeys(m.group(1).split(b",")))
    return line + data.count(b"\n", at)


class HostLines:
    """The lines of one host of a text of several hosts' lines (``text_hosts``), read a block
    of whole lines at a time; ``bare``: also the lines of no host."""

    def __init__(self, host: str, found: TextHosts, *, bare: bool) -> None:
        self.host = host
        self.form = found.form
        self.prefix = self._prefix(host.encode())
        self.hosts = frozenset(h.encode() for h in found.hosts)
        self.others = tuple(map(self._prefix, self.hosts - {host.encode()}))
        """How the other hosts' lines start."""
        self.heads = found.heads
        self.bare = bare
        self.said: list[tuple[int, str]] = []
        """What pdsh or ansible said of this host in the block last selected (``pdsh@admin:
        vm: ssh exited with exit code 255``; ansible's ``non-zero return code``): each line's
        index in it and the words, after the tool's name (``pdsh: ssh exited …``)."""

    def __repr__(self) -> str:
        return f"HostLines({self.host!r})"

    def _prefix(self, host: bytes) -> bytes:
        """How a host's lines start (a pod's: then its container's name and ``] ``)."""
        return b"[pod/" + host + b"/" if self.form is _POD else host + b": "

    def select(self, block: bytes, first: int) -> tuple[bytes, list[int]]:
        """This host's lines of ``block`` (whole lines, each ending in ``\\n``, after line
        ``first`` of the file) without their host's name, and where each stands in it (its
        index among the block's lines)."""
        lines = block.split(b"\n")
        lines.pop()
        self.said = []
        if self.heads is not None:
            out, at = self._block_lines(lines, first)
            return (b"\n".join(out) + b"\n" if out else b""), at
        quotes = _unquoted(lines) if block[:1] == b">" or b"\n>" in block else None
        prefix, cut = self.prefix, len(self.prefix)
        if self.bare:  # its own lines and those of no host
            others = self.others
            mine = [not line.startswith(others) for line in lines]
        else:
            mine = list(map(methodcaller("startswith", prefix), lines))
        if b"pdsh@" in block:
            self._pdsh(lines, mine)
        if self.form is _POD:  # up to the end of the container's name
            out = [_after_container(line) if line[:cut] == prefix else line
                   for line in compress(lines, mine)]
        else:
            out = [line[cut:] if line[:cut] == prefix else line
                   for line in compress(lines, mine)]
        if quotes is not None:  # the quote marks back, for the reader to take off and say so
            out = list(map(bytes.__add__, compress(quotes, mine), out))
        at = list(compress(range(len(lines)), mine))
        return (b"\n".join(out) + b"\n" if out else b""), at

    def _block_lines(self, lines: list[bytes], first: int) -> tuple[list[bytes], list[int]]:
        """A form of blocks: this host's lines among ``lines`` (after line ``first``), and
        where each stands among them; pssh's ``Stderr: `` taken off, what ansible glued put
        on a line of its own, and ansible's words about the host into ``said``."""
        at = self._in_blocks(first, len(lines))
        out = list(map(lines.__getitem__, at))
        if self.form is _PSSH_HEAD:
            return [line[len(_STDERR):] if line[:8] == _STDERR else line for line in out], at
        if self.form is not _ANSIBLE_HEAD:
            return out, at
        out, at = _unglued(out, at)
        keep = [line.rstrip(b"\r") != _NON_ZERO for line in out]
        self.said = [(k, "ansible: " + _NON_ZERO.decode())
                     for k, kept in zip(at, keep, strict=True) if not kept]
        if self.said:
            out, at = list(compress(out, keep)), list(compress(at, keep))
        return out, at

    def _pdsh(self, lines: list[bytes], mine: list[bool]) -> None:
        """pdsh's own lines of a host (``pdsh@admin: vm: ...``) are no host's lines: those of
        this host go to ``said``."""
        host = self.host.encode()
        for k, line in enumerate(lines):
            if line[:5] == b"pdsh@" and (m := _PDSH.match(line)) and m.group(1) in self.hosts:
                mine[k] = False
                if m.group(1) == host:
                    self.said.append(
                        (k, "pdsh: " + m.group(2).decode(errors="replace").rstrip("\r")))

    def _in_blocks(self, first: int, count: int) -> list[int]:
        """dshbak's form: the indexes of this host's lines among the ``count`` lines after
        line ``first``: those after a head that names it, and before the first head (the
        lines of no host) when ``bare``."""
        assert self.heads is not None
        mine = self.host.encode()
        at: list[int] = []
        start = 0  # the first line of the stretch the host before speaks in
        owner = None
        for begin, end, names in [*self.heads, (1 << 62, 1 << 62, b"")]:
            if (self.bare if owner is None else mine in owner.split(b",")):
                lo, hi = max(start, first), min(begin, first + count)
                at.extend(range(lo - first, hi - first))
            if begin >= first + count:
                break
            start, owner = end + 1, names
        return at


def _after_container(line: bytes) -> bytes:
    """A pod's line without ``[pod/NAME/CONTAINER] `` (as it is, without that end)."""
    end = line.find(b"] ")
    return line if end < 0 else line[end + 2:]


def _unglued(lines: list[bytes], at: list[int]) -> tuple[list[bytes], list[int]]:
    """``lines`` (each standing at its ``at`` in the block) with what ansible glued to a line
    on a line of its own (both standing where the line stands)."""
    if not any(map(_GLUED.search, lines)):
        return lines, at
    out: list[bytes] = []
    where: list[int] = []
    for line, k in zip(lines, at, strict=True):
        parts = _GLUED.split(line, maxsplit=1)
        out.extend(parts)
        where.extend([k] * len(parts))
    return out, where
