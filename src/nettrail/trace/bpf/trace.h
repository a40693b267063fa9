/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one definition of every struct that crosses between trace.bpf.c and Python
 * (nettrail/trace/layout.py mirrors it; tests/unit/test_trace_layout.py checks the mirror
 * against this object's BTF). Fixed-width types, explicit padding, no bitfields.
 */
#ifndef NETTRAIL_TRACE_H
#define NETTRAIL_TRACE_H

#define NT_PKT_BYTES 128   /* packet bytes captured from the link (or network) header */
#define NT_IFNAMSIZ 16
#define NT_MAX_RULES 32    /* filter program length */
#define NT_MAX_GLOBS 8     /* device name globs */
#define NT_MAX_NETNS 8     /* netns inodes */
#define NT_STACK_DEPTH 32  /* kernel return addresses kept per event (--stack) */

/* event kinds */
#define NT_KIND_XMIT 1
#define NT_KIND_RECV 2
#define NT_KIND_DROP 3
#define NT_KIND_RESET 4
#define NT_KIND_SYNACK_RETRANS 5

/* event flags */
#define NT_EV_PKT 0x01      /* data[] holds packet bytes */
#define NT_EV_CT 0x02       /* ct_orig/ct_reply/ct_status valid */
#define NT_EV_SK 0x04       /* a socket was involved (reset: made by a socket) */
#define NT_EV_TRACKED 0x08  /* emitted because the skb was followed, not because it matched */
#define NT_EV_STACK 0x10    /* stack_len bytes of return addresses follow the event */
#define NT_EV_SOCK 0x20     /* sock tuple valid */
#define NT_EV_DEV 0x40      /* ifindex/ifname valid */
#define NT_EV_CONN 0x80     /* emitted because its addresses belong to a followed connection */

/* device flags (nt_event.dev_flags) */
#define NT_DEV_PACKET_SOCKET 0x01  /* a packet socket is bound to the device (e.g. Open vSwitch's
				      userspace datapath reads its frames there) */

/* link type of data[] */
#define NT_LINK_NONE 0
#define NT_LINK_ETH 1
#define NT_LINK_RAW 2     /* data[] starts at the IP header */

/* config flags */
#define NT_CFG_FILTER 0x01  /* rules[] is a filter program */
#define NT_CFG_FOLLOW 0x02  /* follow matched skbs until freed */
#define NT_CFG_STACK 0x04   /* record kernel stacks */
#define NT_CFG_CT 0x08      /* read conntrack entries */
#define NT_CFG_CONNS 0x10   /* follow connections: once a followed packet's conntrack entry is
			       known, packets with either direction's tuples before or after
			       translation are followed too */

/* filter program: postfix, evaluated on a bit stack */
#define NT_OP_TEST 1
#define NT_OP_AND 2
#define NT_OP_OR 3
#define NT_OP_NOT 4
#define NT_OP_TRUE 5

/* what NT_OP_TEST looks at */
#define NT_FLD_SRC_ADDR 1   /* (addr & mask) == rule.addr, family must match */
#define NT_FLD_DST_ADDR 2
#define NT_FLD_ANY_ADDR 3
#define NT_FLD_SRC_PORT 4   /* lo <= port <= hi, TCP or UDP */
#define NT_FLD_DST_PORT 5
#define NT_FLD_ANY_PORT 6
#define NT_FLD_PROTO 7      /* IP protocol == lo */
#define NT_FLD_FAMILY 8     /* 4 or 6 == lo */
#define NT_FLD_TCPFLAGS_ANY 9  /* TCP and (flags & lo) != 0 */
#define NT_FLD_TCPFLAGS_EQ 10  /* TCP and (flags & lo) == hi */
#define NT_FLD_ETH_SRC 11   /* source MAC == the first 6 bytes of addr */
#define NT_FLD_ETH_DST 12
#define NT_FLD_ETH_ANY 13
#define NT_FLD_VLAN 14      /* VLAN-tagged; with VLAN ID lo - 1 when lo != 0 */
#define NT_FLD_LEN_LE 15    /* packet length (from the link header) <= lo | hi << 16 */
#define NT_FLD_LEN_GE 16    /* packet length >= lo | hi << 16 */

/* stats map slots (per-CPU array) */
#define NT_STAT_LOST 0
#define NT_STAT_EMITTED 1
#define NT_STAT_TRACKED 2
#define NT_STAT_CONNS 3     /* connection tuples learned */
#define NT_STAT_STACK_LOST 4  /* events whose kernel stack bpf_get_stack could not record */
#define NT_STAT_SLOTS 5

struct nt_tuple {
	__u8 src[16];    /* IPv4 in the first 4 bytes */
	__u8 dst[16];
	__u16 sport;     /* host order */
	__u16 dport;
	__u8 proto;
	__u8 family;     /* 4, 6 or 0 */
	__u16 pad;
};

struct nt_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u64 skb;        /* skb address, 0 when none */
	__u64 first_ns;   /* when a followed skb first matched, else 0 */
	__u32 netns;      /* netns inode */
	__u32 ifindex;
	__u32 reason;     /* drop reason (skb_drop_reason) or reset reason (sk_rst_reason) */
	__u32 ct_status;  /* nf_conn.status bits */
	__s32 stack_len;  /* with NT_CFG_STACK: bytes of stack[] recorded, else bpf_get_stack's
			     negative errno; 0 without */
	__u32 pkt_len;    /* bytes from data[0] to the end of the packet */
	__u16 cpu;
	__u8 kind;        /* NT_KIND_* */
	__u8 flags;       /* NT_EV_* */
	__u16 cap_len;    /* bytes valid in data[] */
	__u8 link;        /* NT_LINK_* */
	__u8 ct_info;     /* enum ip_conntrack_info */
	__u32 sk_state;   /* socket state when NT_EV_SK */
	__u32 dev_flags;  /* NT_DEV_* */
	char ifname[NT_IFNAMSIZ];
	struct nt_tuple ct_orig;
	struct nt_tuple ct_reply;
	struct nt_tuple sock;   /* local -> remote for socket-made events */
	__u8 data[NT_PKT_BYTES];
};

/*
 * The ring record of a trace with NT_CFG_STACK: the event, then its kernel stack, innermost
 * return address first, zeros past stack_len. Copied into the record itself (no stack map) so
 * a stack is never shared, overwritten or looked up later; a trace without stacks reserves
 * only struct nt_event.
 */
struct nt_stack_event {
	struct nt_event ev;
	__u64 stack[NT_STACK_DEPTH];
};

struct nt_rule {
	__u8 op;
	__u8 field;
	__u8 family;
	__u8 pad;
	__u16 lo;
	__u16 hi;
	__u32 addr[4];    /* network byte order, IPv4 in addr[0] */
	__u32 mask[4];
};

struct nt_glob {
	char text[NT_IFNAMSIZ];
	__u8 len;         /* bytes of text to compare */
	__u8 prefix;      /* 1: text is a prefix (glob ended in '*'), 0: exact name */
	__u8 pad[2];
};

struct nt_config {
	__u32 flags;          /* NT_CFG_* */
	__u32 n_rules;
	__u32 n_globs;
	__u32 n_netns;
	__u32 wakeup_bytes;   /* wake the reader once this much data is pending */
	__u32 follow_ttl_ms;  /* forget a followed skb unseen for this long */
	__u32 netns[NT_MAX_NETNS];
	struct nt_glob globs[NT_MAX_GLOBS];
	struct nt_rule rules[NT_MAX_RULES];
};

#endif
