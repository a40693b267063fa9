// SPDX-License-Identifier: GPL-2.0
/*
 * nettrail live tracer: tp_btf programs on the transmit, receive, drop, reset and SYN-ACK
 * retransmit tracepoints of every network namespace. Structs shared with Python live in
 * trace.h; the configuration is a read-only global written by Python before load, so the
 * verifier prunes what is off.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "trace.h"

char LICENSE[] SEC("license") = "GPL";

volatile const struct nt_config CFG = {};

/* keep struct nt_event and struct nt_stack_event in the object's BTF for the layout test */
const struct nt_event *unused_nt_event __attribute__((unused));
const struct nt_stack_event *unused_nt_stack_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_STAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct track_val {
	__u64 first_ns;
	__u64 last_ns;
	__u64 ident;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct track_val);
} tracked_skbs SEC(".maps");

/* one direction of a followed connection, before or after translation (never leaves the kernel) */
struct conn_key {
	__u32 src[4];
	__u32 dst[4];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct conn_key);
	__type(value, __u64);   /* when the tuple was learned */
} tracked_conns SEC(".maps");

/* headers parsed for filtering and identity; never leaves the kernel */
struct hdr {
	__u32 src[4];
	__u32 dst[4];
	__u32 seq;       /* TCP seq, UDP length, ICMP type/code/sequence */
	__u16 sport;
	__u16 dport;
	__u16 ip_id;
	__u8 family;
	__u8 proto;
	__u8 tcp_flags;
	__u8 has_eth;
	__u16 vlan;      /* VLAN ID + 1 when tagged, else 0 */
	__u8 smac[6];
	__u8 dmac[6];
	__u32 len;       /* packet length from the link (or IP) header */
};

struct loc {
	const __u8 *base;
	__u64 avail;
	__u32 len;
	__u8 link;
};

#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD
#define VXLAN_PORT 4789
#define AF_INET_ 2
#define AF_INET6_ 10

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &slot);

	if (v)
		*v += 1;
}

static __always_inline __u64 ident_of(const struct hdr *h)
{
	if (!h->family)
		return 0;
	return ((__u64)h->seq << 32) | ((__u64)h->ip_id << 8) | h->proto;
}

/* L4 header at p: ports, flags, identity; returns the VXLAN inner frame or NULL */
static __always_inline const __u8 *parse_l4(const __u8 *p, struct hdr *h)
{
	__u8 b[20];

	if (h->proto == IPPROTO_TCP) {
		if (bpf_probe_read_kernel(b, 20, p))
			return NULL;
		h->sport = (b[0] << 8) | b[1];
		h->dport = (b[2] << 8) | b[3];
		h->seq = ((__u32)b[4] << 24) | ((__u32)b[5] << 16) | ((__u32)b[6] << 8) | b[7];
		h->tcp_flags = b[13];
	} else if (h->proto == IPPROTO_UDP) {
		if (bpf_probe_read_kernel(b, 8, p))
			return NULL;
		h->sport = (b[0] << 8) | b[1];
		h->dport = (b[2] << 8) | b[3];
		h->seq = (b[4] << 8) | b[5];
		if (h->dport == VXLAN_PORT)
			return p + 16;
	} else if (h->proto == IPPROTO_ICMP || h->proto == 58) {
		if (bpf_probe_read_kernel(b, 8, p))
			return NULL;
		h->seq = ((__u32)b[0] << 24) | ((__u32)b[1] << 16) | (b[6] << 8) | b[7];
	}
	return NULL;
}

/* an IP packet at p of ethertype etype; returns the VXLAN inner frame or NULL */
static __noinline const __u8 *parse_l3(const __u8 *p, __u16 etype, struct hdr *h)
{
	__u8 b[40];

	if (etype == ETH_P_IP_) {
		if (bpf_probe_read_kernel(b, 20, p))
			return NULL;
		if ((b[0] >> 4) != 4)
			return NULL;
		h->family = 4;
		h->proto = b[9];
		h->ip_id = (b[4] << 8) | b[5];
		__builtin_memcpy(&h->src[0], &b[12], 4);
		__builtin_memcpy(&h->dst[0], &b[16], 4);
		if (((b[6] & 0x1f) << 8 | b[7]) != 0)
			return NULL;  /* not the first fragment: no L4 header */
		return parse_l4(p + (b[0] & 0x0f) * 4, h);
	}
	if (etype == ETH_P_IPV6_) {
		if (bpf_probe_read_kernel(b, 40, p))
			return NULL;
		h->family = 6;
		h->proto = b[6];
		__builtin_memcpy(h->src, &b[8], 16);
		__builtin_memcpy(h->dst, &b[24], 16);
		return parse_l4(p + 40, h);
	}
	return NULL;
}

/* an Ethernet frame at p (one VLAN tag allowed) */
static __noinline const __u8 *parse_eth(const __u8 *p, struct hdr *h)
{
	__u8 e[18];
	__u16 etype;

	if (bpf_probe_read_kernel(e, 18, p))
		return NULL;
	h->has_eth = 1;
	__builtin_memcpy(h->dmac, &e[0], 6);
	__builtin_memcpy(h->smac, &e[6], 6);
	etype = (e[12] << 8) | e[13];
	if (etype == 0x8100 || etype == 0x88a8) {
		h->vlan = (((e[14] << 8) | e[15]) & 0xfff) + 1;
		return parse_l3(p + 18, (e[16] << 8) | e[17], h);
	}
	return parse_l3(p + 14, etype, h);
}

static __always_inline void parse(const struct loc *l, struct hdr *h, struct hdr *in)
{
	const __u8 *inner;
	__u8 v;

	if (l->link == NT_LINK_ETH) {
		inner = parse_eth(l->base, h);
	} else if (l->link == NT_LINK_RAW) {
		if (bpf_probe_read_kernel(&v, 1, l->base))
			return;
		inner = parse_l3(l->base, (v >> 4) == 6 ? ETH_P_IPV6_ : ETH_P_IP_, h);
	} else {
		return;
	}
	h->len = l->len;
	if (inner) {
		parse_eth(inner, in);
		in->len = l->len > (inner - l->base) ? l->len - (inner - l->base) : 0;
	}
}

/* where the packet's bytes start: the link header when there is one, else the IP header */
static __always_inline void locate(const struct sk_buff *skb, __u8 kind, __u8 eth_dev,
				   struct loc *l)
{
	/* tp_btf arguments are BTF pointers: direct loads, no helper calls */
	const __u8 *head = skb->head;
	const __u8 *data = skb->data;
	__u16 mh = skb->mac_header;
	__u16 nh = skb->network_header;
	__u32 tail = skb->tail;
	__u32 len = skb->len;
	const __u8 *end;

	l->link = NT_LINK_NONE;
	if (!head)
		return;
	if (kind == NT_KIND_XMIT) {
		l->base = data;
		l->link = eth_dev ? NT_LINK_ETH : NT_LINK_RAW;
	} else if (kind == NT_KIND_RECV) {
		if (mh != 0xffff && (data - (head + mh) == 14 || data - (head + mh) == 18)) {
			l->base = head + mh;
			l->link = NT_LINK_ETH;
		} else {
			l->base = data;
			l->link = NT_LINK_RAW;
		}
	} else if (mh != 0xffff && nh != 0xffff && (nh - mh == 14 || nh - mh == 18)) {
		l->base = head + mh;
		l->link = NT_LINK_ETH;
	} else if (nh != 0xffff && nh != 0) {
		l->base = head + nh;
		l->link = NT_LINK_RAW;
	} else {
		return;
	}
	end = head + tail;
	l->avail = end > l->base ? end - l->base : 0;
	l->len = len + (data - l->base);
}

static __always_inline __u32 dev_netns(const struct net_device *dev)
{
	return dev->nd_net.net->ns.inum;
}

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

static __always_inline int addr_match(const volatile struct nt_rule *r, const __u32 *a, __u8 fam)
{
	if (r->family != fam)
		return 0;
	for (int i = 0; i < 4; i++)
		if ((a[i] & r->mask[i]) != r->addr[i])
			return 0;
	return 1;
}

static __always_inline int port_in(const volatile struct nt_rule *r, __u16 port)
{
	return port >= r->lo && port <= r->hi;
}

static __always_inline int mac_match(const volatile struct nt_rule *r, const __u8 *mac)
{
	const volatile __u8 *want = (const volatile __u8 *)r->addr;

	for (int i = 0; i < 6; i++)
		if (mac[i] != want[i])
			return 0;
	return 1;
}

static __always_inline int test(const volatile struct nt_rule *r, const struct hdr *h)
{
	int ports = h->proto == IPPROTO_TCP || h->proto == IPPROTO_UDP;
	__u32 n = (__u32)r->lo | ((__u32)r->hi << 16);

	switch (r->field) {
	case NT_FLD_SRC_ADDR:
		return addr_match(r, h->src, h->family);
	case NT_FLD_DST_ADDR:
		return addr_match(r, h->dst, h->family);
	case NT_FLD_ANY_ADDR:
		return addr_match(r, h->src, h->family) || addr_match(r, h->dst, h->family);
	case NT_FLD_SRC_PORT:
		return ports && port_in(r, h->sport);
	case NT_FLD_DST_PORT:
		return ports && port_in(r, h->dport);
	case NT_FLD_ANY_PORT:
		return ports && (port_in(r, h->sport) || port_in(r, h->dport));
	case NT_FLD_PROTO:
		return h->family && h->proto == r->lo;
	case NT_FLD_FAMILY:
		return h->family == r->lo;
	case NT_FLD_TCPFLAGS_ANY:
		return h->proto == IPPROTO_TCP && (h->tcp_flags & r->lo) != 0;
	case NT_FLD_TCPFLAGS_EQ:
		return h->proto == IPPROTO_TCP && (h->tcp_flags & r->lo) == r->hi;
	case NT_FLD_ETH_SRC:
		return h->has_eth && mac_match(r, h->smac);
	case NT_FLD_ETH_DST:
		return h->has_eth && mac_match(r, h->dmac);
	case NT_FLD_ETH_ANY:
		return h->has_eth && (mac_match(r, h->smac) || mac_match(r, h->dmac));
	case NT_FLD_VLAN:
		return h->vlan && (!r->lo || h->vlan == r->lo);
	case NT_FLD_LEN_LE:
		return h->len <= n;
	case NT_FLD_LEN_GE:
		return h->len >= n;
	}
	return 0;
}

/* the postfix filter program on a bit stack; indices are constants to the verifier.
 * A global function: the verifier checks it once, on its own, and its callers see an unknown
 * result. Inlined, every rule's outcome became a precise value in the caller (it decides a
 * branch there), so no two paths through the rules could be merged and a filter of 15 rules
 * took the reset program past the verifier's limits (E2BIG). */
__noinline int run_filter(const struct hdr *h)
{
	__u64 st = 0;

	if (!h || !h->family)
		return 0;
	for (int i = 0; i < NT_MAX_RULES; i++) {
		const volatile struct nt_rule *r = &CFG.rules[i];
		__u64 a, b;

		if (i >= CFG.n_rules)
			break;
		switch (r->op) {
		case NT_OP_TEST:
			st = (st << 1) | test(r, h);
			break;
		case NT_OP_TRUE:
			st = (st << 1) | 1;
			break;
		case NT_OP_NOT:
			st ^= 1;
			break;
		case NT_OP_AND:
		case NT_OP_OR:
			a = st & 1;
			b = (st >> 1) & 1;
			st = ((st >> 2) << 1) | (r->op == NT_OP_AND ? (a & b) : (a | b));
			break;
		}
	}
	return st & 1;
}

static __always_inline int glob_match(const char *name)
{
	for (int g = 0; g < NT_MAX_GLOBS; g++) {
		const volatile struct nt_glob *gl = &CFG.globs[g];
		int ok = 1;

		if (g >= CFG.n_globs)
			break;
		for (int i = 0; i < NT_IFNAMSIZ; i++) {
			if (i >= gl->len)
				break;
			if (name[i] != gl->text[i]) {
				ok = 0;
				break;
			}
		}
		if (ok && (gl->prefix || gl->len >= NT_IFNAMSIZ || name[gl->len & (NT_IFNAMSIZ - 1)] == 0))
			return 1;
	}
	return 0;
}

static __always_inline int netns_match(__u32 netns)
{
	for (int i = 0; i < NT_MAX_NETNS; i++) {
		if (i >= CFG.n_netns)
			break;
		if (CFG.netns[i] == netns)
			return 1;
	}
	return 0;
}

static __always_inline __u32 netns_of(const struct net_device *dev, const struct sock *sk)
{
	if (dev)
		return dev_netns(dev);
	if (sk)
		return sk_netns(sk);
	return 0;
}

/* does an event pass the expression, netns and device filters (cheapest test first)?
 * sets *ident to the identity of the headers that matched */
static __always_inline int matches(const struct net_device *dev, const struct sock *sk,
				   const struct hdr *h, const struct hdr *in, __u64 *ident)
{
	char name[NT_IFNAMSIZ];

	if (!(CFG.flags & NT_CFG_FILTER))
		*ident = ident_of(h);
	else if (run_filter(h))
		*ident = ident_of(h);
	else if (in->family && run_filter(in))
		*ident = ident_of(in);
	else
		return 0;
	if (CFG.n_netns && !netns_match(netns_of(dev, sk)))
		return 0;
	/* device globs apply to events that have a device */
	if (CFG.n_globs && dev) {
		bpf_probe_read_kernel(name, sizeof(name), &dev->name);
		if (!glob_match(name))
			return 0;
	}
	return 1;
}

/* follow state of this skb: 1 when it is followed (first_ns set) */
static __always_inline int followed(__u64 skbaddr, const struct hdr *h, const struct hdr *in,
				    __u64 now, __u64 *first_ns)
{
	struct track_val *tv;

	if (!(CFG.flags & NT_CFG_FOLLOW) || !skbaddr)
		return 0;
	tv = bpf_map_lookup_elem(&tracked_skbs, &skbaddr);
	if (!tv)
		return 0;
	if (now - tv->last_ns > (__u64)CFG.follow_ttl_ms * 1000000ULL ||
	    (tv->ident != ident_of(h) && tv->ident != ident_of(in))) {
		/* the skb was freed without a tracepoint and reused by another packet */
		bpf_map_delete_elem(&tracked_skbs, &skbaddr);
		return 0;
	}
	tv->last_ns = now;
	*first_ns = tv->first_ns;
	return 1;
}

static __always_inline void key_of_hdr(struct conn_key *k, const struct hdr *h)
{
	__builtin_memcpy(k->src, h->src, 16);
	__builtin_memcpy(k->dst, h->dst, 16);
	k->sport = h->sport;
	k->dport = h->dport;
	k->proto = h->proto;
	k->family = h->family;
}

/* whether the packet's outer or inner headers belong to a followed connection */
static __always_inline int conn_followed(const struct hdr *h, const struct hdr *in)
{
	struct conn_key k = {};

	if (!(CFG.flags & NT_CFG_CONNS))
		return 0;
	if (h->family && (h->proto == IPPROTO_TCP || h->proto == IPPROTO_UDP)) {
		key_of_hdr(&k, h);
		if (bpf_map_lookup_elem(&tracked_conns, &k))
			return 1;
	}
	if (in->family && (in->proto == IPPROTO_TCP || in->proto == IPPROTO_UDP)) {
		key_of_hdr(&k, in);
		if (bpf_map_lookup_elem(&tracked_conns, &k))
			return 1;
	}
	return 0;
}

static __always_inline void learn_one(const struct nt_tuple *t, int reverse, __u64 now)
{
	struct conn_key k = {};

	if (reverse) {
		__builtin_memcpy(k.src, t->dst, 16);
		__builtin_memcpy(k.dst, t->src, 16);
		k.sport = t->dport;
		k.dport = t->sport;
	} else {
		__builtin_memcpy(k.src, t->src, 16);
		__builtin_memcpy(k.dst, t->dst, 16);
		k.sport = t->sport;
		k.dport = t->dport;
	}
	if (t->family == 4) {
		k.src[1] = k.src[2] = k.src[3] = 0;
		k.dst[1] = k.dst[2] = k.dst[3] = 0;
	}
	k.proto = t->proto;
	k.family = t->family;
	if (bpf_map_update_elem(&tracked_conns, &k, &now, BPF_NOEXIST) == 0)
		count(NT_STAT_CONNS);
}

/* a followed packet's conntrack entry: both directions, before and after translation */
static __always_inline void learn_conn(const struct nt_event *e, __u64 now)
{
	if (!(CFG.flags & NT_CFG_CONNS) || !(e->flags & NT_EV_CT))
		return;
	if (e->ct_orig.proto != IPPROTO_TCP && e->ct_orig.proto != IPPROTO_UDP)
		return;
	if (!e->ct_orig.family)
		return;
	learn_one(&e->ct_orig, 0, now);
	learn_one(&e->ct_orig, 1, now);
	learn_one(&e->ct_reply, 0, now);
	learn_one(&e->ct_reply, 1, now);
}

/* whether a packet socket is bound to this device (not the "any device" taps) */
static __always_inline __u32 dev_flags_of(const struct net_device *dev)
{
	const struct list_head *head = &dev->ptype_all;
	const struct list_head *next = dev->ptype_all.next;

	return next && next != head ? NT_DEV_PACKET_SOCKET : 0;
}

static __always_inline void copy_tuple(struct nt_tuple *t, const struct nf_conntrack_tuple *k)
{
	__u16 l3 = BPF_CORE_READ(k, src.l3num);

	t->family = l3 == AF_INET_ ? 4 : (l3 == AF_INET6_ ? 6 : 0);
	bpf_probe_read_kernel(t->src, 16, &k->src.u3);
	bpf_probe_read_kernel(t->dst, 16, &k->dst.u3);
	t->sport = bpf_ntohs(BPF_CORE_READ(k, src.u.all));
	t->dport = bpf_ntohs(BPF_CORE_READ(k, dst.u.all));
	t->proto = BPF_CORE_READ(k, dst.protonum);
}

static __always_inline void fill_ct(struct nt_event *e, const struct sk_buff *skb)
{
	unsigned long nfct = skb->_nfct;
	struct nf_conn *ct = (struct nf_conn *)(nfct & ~7UL);

	if (!ct)
		return;
	e->ct_info = nfct & 7;
	e->ct_status = BPF_CORE_READ(ct, status);
	copy_tuple(&e->ct_orig, &ct->tuplehash[0].tuple);
	copy_tuple(&e->ct_reply, &ct->tuplehash[1].tuple);
	e->flags |= NT_EV_CT;
}

/* the socket's local -> remote tuple (sock_common), into t and h */
static __always_inline void sock_tuple(const struct sock_common *c, struct nt_tuple *t,
				       struct hdr *h)
{
	__u16 fam = BPF_CORE_READ(c, skc_family);

	t->proto = IPPROTO_TCP;
	t->sport = BPF_CORE_READ(c, skc_num);
	t->dport = bpf_ntohs(BPF_CORE_READ(c, skc_dport));
	if (fam == AF_INET_) {
		t->family = 4;
		bpf_probe_read_kernel(t->src, 4, &c->skc_rcv_saddr);
		bpf_probe_read_kernel(t->dst, 4, &c->skc_daddr);
	} else if (fam == AF_INET6_) {
		t->family = 6;
		bpf_probe_read_kernel(t->src, 16, &c->skc_v6_rcv_saddr);
		bpf_probe_read_kernel(t->dst, 16, &c->skc_v6_daddr);
	}
	h->family = t->family;
	h->proto = IPPROTO_TCP;
	h->sport = t->sport;
	h->dport = t->dport;
	__builtin_memcpy(h->src, t->src, 16);
	__builtin_memcpy(h->dst, t->dst, 16);
}

/* the kernel stack into the record's own stack[] (reserved by reserve() in stack mode);
 * a failure is counted and left in stack_len for the reader to say so */
static __always_inline void record_stack(void *ctx, struct nt_event *e)
{
	struct nt_stack_event *se = (struct nt_stack_event *)e;
	long n = bpf_get_stack(ctx, se->stack, sizeof(se->stack), 0);

	e->stack_len = n;
	if (n > 0)
		e->flags |= NT_EV_STACK;
	else
		count(NT_STAT_STACK_LOST);
}

static __always_inline int submit(void *ctx, struct nt_event *e)
{
	__u64 flags = 0;

	if (CFG.flags & NT_CFG_STACK)
		record_stack(ctx, e);
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < CFG.wakeup_bytes)
		flags = BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	count(NT_STAT_EMITTED);
	return 0;
}

/* a ring record for one event: struct nt_event, or struct nt_stack_event in stack mode (the
 * verifier sees one constant size per configuration: CFG is read-only) */
static __always_inline struct nt_event *reserve(__u8 kind)
{
	struct nt_event *e;

	if (CFG.flags & NT_CFG_STACK)
		e = bpf_ringbuf_reserve(&events, sizeof(struct nt_stack_event), 0);
	else
		e = bpf_ringbuf_reserve(&events, sizeof(struct nt_event), 0);

	if (!e) {
		count(NT_STAT_LOST);
		return NULL;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->kind = kind;
	e->cpu = bpf_get_smp_processor_id();
	e->flags = 0;
	e->skb = 0;
	e->first_ns = 0;
	e->netns = 0;
	e->ifindex = 0;
	e->reason = 0;
	e->ct_status = 0;
	e->ct_info = 0;
	e->stack_len = 0;
	e->pkt_len = 0;
	e->cap_len = 0;
	e->link = NT_LINK_NONE;
	e->sk_state = 0;
	e->dev_flags = 0;
	__builtin_memset(e->ifname, 0, sizeof(e->ifname));
	__builtin_memset(&e->ct_orig, 0, sizeof(e->ct_orig));
	__builtin_memset(&e->ct_reply, 0, sizeof(e->ct_reply));
	__builtin_memset(&e->sock, 0, sizeof(e->sock));
	return e;
}

/* one skb event: parse, filter or follow, then emit */
static __always_inline int on_skb(void *ctx, __u8 kind, const struct sk_buff *skb,
				  const struct net_device *dev, const struct sock *sk,
				  __u32 reason)
{
	struct hdr h = {}, in = {};
	struct nt_tuple st = {};
	struct loc l = {};
	__u64 now = bpf_ktime_get_ns(), first = 0, ident = 0, skbaddr = (__u64)skb;
	__u64 n;
	int follow, conn = 0, eth_dev = 0;
	struct nt_event *e;

	if (dev) {
		__u16 type = dev->type;

		eth_dev = type == 1 || type == 772;  /* ARPHRD_ETHER, ARPHRD_LOOPBACK */
	}
	if (skb) {
		locate(skb, kind, eth_dev, &l);
		parse(&l, &h, &in);
		if (!h.vlan && skb->vlan_all)
			h.vlan = (skb->vlan_tci & 0xfff) + 1;
	}
	if (!h.family && sk && kind == NT_KIND_RESET)
		sock_tuple(&sk->__sk_common, &st, &h);
	follow = followed(skbaddr, &h, &in, now, &first);
	if (!follow) {
		if (!matches(dev, sk, &h, &in, &ident)) {
			if (!conn_followed(&h, &in))
				return 0;
			conn = 1;
			ident = ident_of(in.family ? &in : &h);
		}
		if ((CFG.flags & NT_CFG_FOLLOW) && skbaddr && kind != NT_KIND_DROP) {
			struct track_val tv = {.first_ns = now, .last_ns = now, .ident = ident};

			bpf_map_update_elem(&tracked_skbs, &skbaddr, &tv, BPF_ANY);
			first = now;
			count(NT_STAT_TRACKED);
		}
	} else if (kind == NT_KIND_DROP) {
		bpf_map_delete_elem(&tracked_skbs, &skbaddr);
	}
	e = reserve(kind);
	if (!e)
		return 0;
	e->skb = skbaddr;
	e->first_ns = first;
	e->netns = netns_of(dev, sk);
	e->reason = reason;
	if (follow)
		e->flags |= NT_EV_TRACKED;
	if (conn)
		e->flags |= NT_EV_CONN;
	if (dev) {
		e->ifindex = dev->ifindex;
		e->dev_flags = dev_flags_of(dev);
		bpf_probe_read_kernel(e->ifname, sizeof(e->ifname), &dev->name);
		e->flags |= NT_EV_DEV;
	}
	if (sk) {
		e->flags |= NT_EV_SK;
		e->sk_state = BPF_CORE_READ(sk, __sk_common.skc_state);
	}
	if (st.family) {
		e->sock = st;
		e->flags |= NT_EV_SOCK;
	}
	if (l.link != NT_LINK_NONE) {
		n = l.avail;
		barrier_var(n);
		if (n > NT_PKT_BYTES)
			n = NT_PKT_BYTES;
		if (bpf_probe_read_kernel(e->data, n, l.base) == 0) {
			e->cap_len = n;
			e->pkt_len = l.len;
			e->link = l.link;
			e->flags |= NT_EV_PKT;
		}
	}
	if ((CFG.flags & NT_CFG_CT) && skb) {
		fill_ct(e, skb);
		learn_conn(e, now);
	}
	return submit(ctx, e);
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(nt_xmit, const struct sk_buff *skb, const struct net_device *dev)
{
	return on_skb(ctx, NT_KIND_XMIT, skb, dev, NULL, 0);
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(nt_recv, struct sk_buff *skb)
{
	return on_skb(ctx, NT_KIND_RECV, skb, skb->dev, NULL, 0);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(nt_drop, struct sk_buff *skb, void *location, enum skb_drop_reason reason,
	     struct sock *rx_sk)
{
	return on_skb(ctx, NT_KIND_DROP, skb, skb->dev, NULL, reason);
}

SEC("tp_btf/consume_skb")
int BPF_PROG(nt_consume, struct sk_buff *skb, void *location)
{
	__u64 skbaddr = (__u64)skb;

	bpf_map_delete_elem(&tracked_skbs, &skbaddr);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(nt_reset, const struct sock *sk, const struct sk_buff *skb, enum sk_rst_reason reason)
{
	const struct net_device *dev = skb ? skb->dev : NULL;

	return on_skb(ctx, NT_KIND_RESET, skb, dev, sk, reason);
}

SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(nt_synack, const struct sock *sk, const struct request_sock *req)
{
	struct hdr h = {}, in = {};
	struct nt_tuple st = {};
	__u32 netns = sk_netns(sk);
	__u64 ident = 0;
	struct nt_event *e;

	sock_tuple(&req->__req_common, &st, &h);
	h.tcp_flags = 0x12;  /* SYN|ACK */
	if (!matches(NULL, sk, &h, &in, &ident))
		return 0;
	e = reserve(NT_KIND_SYNACK_RETRANS);
	if (!e)
		return 0;
	e->netns = netns;
	e->sock = st;
	e->flags |= NT_EV_SOCK | NT_EV_SK;
	e->sk_state = BPF_CORE_READ(sk, __sk_common.skc_state);
	return submit(ctx, e);
}
