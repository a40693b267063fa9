"""What runs on a remote host: fixed POSIX sh scripts, user values passed only as quoted arguments.

Every remote command is ``exec /bin/sh -c SCRIPT nettrail-collect ARG...`` with each part
quoted by :func:`shlex.quote`: a filter, a deadline or anything else a user gives reaches the
script as one positional parameter and is never parsed by a shell. The remote login shell
must be POSIX-like (sh, bash, dash, zsh, ksh).

The capture script watches for the end on its own (the remote watchdog): a line or end of
file on stdin (the collector stopping, or the SSH connection dropping) or the hard deadline
stops tcpdump with SIGINT, so it flushes; nothing is left running and nothing is written to
disk. The deadline is a shell loop, not ``timeout``: coreutils 9.1's ``timeout`` exits 130 and
leaves its command running when SIGINT reaches it before its fork has returned (seen under
load when the collector stops right after tcpdump said "listening on").
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

MARK = "nettrail-collect"
"""The prefix of every line the remote scripts print about themselves."""
READY = b"listening on"
"""What tcpdump prints on stderr once it captures."""
SNAPLEN = 262144

NEEDS = r"""
for tool in $needs timeout; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "nettrail-collect: $tool not found on PATH ($PATH)" >&2; exit 127
  fi
done
sudo=
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "nettrail-collect: not root and no sudo" >&2; exit 126
  fi
  sudo="sudo -n"
fi
"""
"""Check the tools a script needs (``$needs``, and ``timeout``); ``$sudo`` when not root."""

CAPTURE = r"""
deadline=$1 filter=$2 snaplen=$3
case $deadline$snaplen in *[!0-9]*|'') echo "nettrail-collect: bad arguments" >&2; exit 2;; esac
needs=tcpdump
""" + NEEDS + r"""
own=
set -f
set -- $SSH_CONNECTION
set +f
if [ $# -eq 4 ]; then
  ca=${1%%%*} sa=${3%%%*}
  case $ca$2$sa$4 in
    *[!0-9A-Fa-f.:]*) echo "nettrail-collect: own SSH not excluded (SSH_CONNECTION?)" >&2;;
    *) own="not (host $ca and host $sa and tcp port $2 and tcp port $4)";;
  esac
fi
if [ -n "$filter" ] && [ -n "$own" ]; then expr="($filter) and $own"
elif [ -n "$filter" ]; then expr=$filter
else expr=$own; fi
exec 3<&0
$sudo tcpdump -i any -n -U --immediate-mode -s "$snaplen" -B 8192 -w - ${expr:+"$expr"} <&- &
tp=$!
( read -r _ <&3; kill -INT $tp ) </dev/null >/dev/null 2>&1 &
rd=$!
exec 3<&-
( n=0
  while [ "$n" -lt "$deadline" ]; do
    sleep 1; n=$((n + 1)); kill -0 $tp 2>/dev/null || exit 0
  done
  kill -INT $tp; sleep 5; kill -KILL $tp ) </dev/null >/dev/null 2>&1 &
wd=$!
wait $tp
rc=$?
kill $rd 2>/dev/null
wait $rd $wd 2>/dev/null
exit $rc
"""

PROBE = r"""
if command -v bash >/dev/null 2>&1 && [ -n "$(bash -c 'echo ${EPOCHREALTIME:-}')" ]; then
  exec bash -c 'while read -r _; do printf "%s\n" "$EPOCHREALTIME"; done'
fi
while read -r _; do date +%s.%N; done
"""

INFO = r"""
echo "hostname $(uname -n)"
echo "kernel $(uname -r)"
for f in /sys/class/net/*/ifindex; do
  [ -r "$f" ] || continue
  d=${f%/ifindex}
  echo "ifindex $(cat "$f") ${d##*/}"
done
if command -v python3 >/dev/null 2>&1; then
  python3 - <<'EOF' 2>/dev/null
import ctypes, ctypes.util
class Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("pad", ctypes.c_byte * 200)]
t = Timex()
state = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).adjtimex(ctypes.byref(t))
print("adjtimex", state, t.status, t.maxerror, t.esterror)
EOF
fi
if command -v chronyc >/dev/null 2>&1; then
  chronyc -n -c tracking 2>/dev/null | sed 's/^/chrony /'
fi
echo "tcpdump $(command -v tcpdump || echo none)"
echo "python3 $(command -v python3 || echo none)"
echo "boot_id $(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
echo "netns $(readlink /proc/self/ns/net 2>/dev/null)"
echo "ssh ${SSH_CONNECTION:-}"
"""


BOOT = (
    "import os,sys\n"
    "if sys.version_info<(3,11):\n"
    " sys.stderr.write(\"nettrail-agent: python3 %d.%d is too old (3.11 needed)\\n\""
    "%sys.version_info[:2]);sys.exit(127)\n"
    "left=int(sys.argv[1]);fd=os.memfd_create(\"nettrail.pyz\")\n"
    "while left:\n"
    " b=os.read(0,min(left,1<<20))\n"
    " if not b:sys.exit(\"nettrail-agent: the archive was cut short\")\n"
    " os.write(fd,b);left-=len(b)\n"
    "sys.path.insert(0,\"/proc/self/fd/%d\"%fd)\n"
    "from nettrail.collect.agent import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)
"""Run on the host by ``python3 -I -c``: read the archive (its size is the first argument)
from stdin into a memory file, import nettrail from it and run the agent; the rest of stdin
is the agent's stop signal. Written without single quotes: it sits in the script below."""

AGENT = r"""
size=$1 deadline=$2
shift 2
case $size$deadline in *[!0-9]*|'') echo "nettrail-collect: bad arguments" >&2; exit 2;; esac
needs=python3
""" + NEEDS + r"""
exec timeout -s INT -k 5 "$deadline" $sudo python3 -I -c '""" + BOOT + r"""' "$size" \
  "${SSH_CONNECTION:-}" "$@"
"""
"""Run nettrail's agent (``agent.py``) from the archive sent on stdin, as root, bounded by the
deadline; it stops at the end of its stdin (collect stopping, the connection dropping)."""


WAIT = "exec /bin/sh -c 'while read -r _; do :; done'"
"""The master connection's own session: it lasts until the collector's end (stdin EOF)."""


def command(script: str, args: Sequence[str] = ()) -> str:
    """The remote command line running ``script`` with ``args``, every part quoted."""
    parts = ["exec", "/bin/sh", "-c", script, MARK, *args]
    return " ".join(shlex.quote(p) for p in parts)


def capture_command(filter_expr: str, deadline_s: int, snaplen: int = SNAPLEN) -> str:
    """Capture every interface as a pcap stream on stdout until stdin ends or the deadline."""
    return command(CAPTURE, (str(int(deadline_s)), filter_expr, str(int(snaplen))))


def probe_command() -> str:
    """Answer each line read with the host's wall clock (seconds, at least µs digits)."""
    return command(PROBE)


def info_command() -> str:
    """Print the host's name, kernel, interfaces and clock discipline, one fact a line."""
    return command(INFO)


def agent_command(size: int, deadline_s: int, args: Sequence[str]) -> str:
    """Run the agent with ``args`` from an archive of ``size`` bytes sent first on stdin."""
    return command(AGENT, (str(int(size)), str(int(deadline_s)), *args))
