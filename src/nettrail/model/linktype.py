"""pcap link types: the LINKTYPE_* values stored in capture files (12 and 14 are DLT_RAW on
some systems), shared by the readers, the live tracer's records and the pcapng writer."""

from __future__ import annotations

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
RAW_LINKTYPES = frozenset({12, 14, LINKTYPE_RAW})
