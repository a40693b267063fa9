"""The address pairs ``FastLine.make_pairs`` makes and their ``per_pair`` rows: each text with
its other direction, in order, the rows of a direction made later the first one's swapped."""

from __future__ import annotations

import numpy as np

from nettrail.capture import text_block
from nettrail.capture.text_fast import FastLine
from nettrail.capture.text_seq import SeqTracker
from nettrail.capture.text_time import Clock
from nettrail.model.packet import PROTO_TCP, PROTO_UDP


def _fast() -> FastLine:
    fast = FastLine("x.txt", "p", Clock(), SeqTracker())
    fast.by_fields = True
    return fast


def test_pairs_and_rows_of_both_directions() -> None:
    fast = _fast()
    fast.make_pairs([
        (b"IP 10.0.0.2.80 > 10.0.0.1.5000", PROTO_TCP),
        (b"IP 10.0.0.1.5000 > 10.0.0.2.80", PROTO_TCP),  # made with the first
        (b"IP 10.0.0.3.53 > 10.0.0.3.53", PROTO_UDP),  # one key both ways
        (b"IP6 2001:db8::1.22 > 2001:db8::2.40000", PROTO_TCP),
        (b"IP 10.0.0.1.99999 > 10.0.0.2.80", PROTO_TCP),  # a port out of range
    ])
    fast.per_pair()  # rows made so far, then more after them
    fast.make_pairs([(b"IP 10.0.0.1.5001 > 10.0.0.2.80", PROTO_UDP)])
    assert [p[:3] for p in fast.pairs] == [
        (PROTO_TCP, 80, 5000), (PROTO_TCP, 5000, 80), (PROTO_UDP, 53, 53),
        (PROTO_TCP, 22, 40000), (PROTO_TCP, 40000, 22), (PROTO_UDP, 5001, 80),
        (PROTO_UDP, 80, 5001)]
    assert fast.pair_keys() == [p[3] for p in fast.pairs]
    assert fast.ends[0][b"IP 10.0.0.1.99999 > 10.0.0.2.80"] == -1
    assert fast.ends[1][b"IP 10.0.0.2.80 > 10.0.0.1.5001"] == 6
    assert fast.v4_host_list == ["10.0.0.2", "10.0.0.1", "10.0.0.3"]
    # header length, conversation, first/second key marks, protocol, ports, host numbers
    assert fast.per_pair()[: len(fast.pairs)].tolist() == [
        [20, 0, 0, 1, PROTO_TCP, 80, 5000, 0, 1],
        [20, 0, 1, 0, PROTO_TCP, 5000, 80, 1, 0],
        [20, 1, 1, 1, PROTO_UDP, 53, 53, 2, 2],
        [40, 2, 1, 0, PROTO_TCP, 22, 40000, -1, -1],
        [40, 2, 0, 1, PROTO_TCP, 40000, 22, -1, -1],
        [20, 3, 1, 0, PROTO_UDP, 5001, 80, 1, 0],
        [20, 3, 0, 1, PROTO_UDP, 80, 5001, 0, 1],
    ]
    assert fast.ips == [None] * len(fast.pairs)
    assert fast.ip_header(3).src == "2001:db8::1"


def test_rows_grow_past_their_first_size() -> None:
    fast = _fast()
    fast.make_pairs((b"IP 10.1.%d.%d.%d > 10.2.0.1.80" % (i // 250, i % 250, 1024 + i),
                     PROTO_TCP) for i in range(300))
    per = fast.per_pair()[: len(fast.pairs)]
    assert len(fast.pairs) == 600
    assert per[0::2, 5].tolist() == list(range(1024, 1324))  # source ports in order
    assert per[1::2, 6].tolist() == list(range(1024, 1324))  # the other way round
    assert per[:, 1].tolist() == [i // 2 for i in range(600)]


def test_new_pairs_of_a_block_once_each_in_order() -> None:
    """A block's new pair texts with their protocols, each once, in the order first seen:
    as one (text, protocol) key a line gives them, with a text of both protocols or not."""
    a, b = b"IP 10.0.0.1.53 > 10.0.0.2.53", b"IP 10.0.0.2.53 > 10.0.0.1.53"
    c = b"IP 10.0.0.3.1 > x.2"
    for texts, udp in (([a, b, a, c, b, c], [0, 1, 0, 0, 1, 0]),  # none of both protocols
                       ([a, b, a, c, b, c], [0, 1, 1, 0, 1, 0]),  # a: TCP, then UDP
                       ([a, b, a, c, b, c], [1, 0, 0, 0, 1, 0]),  # a: UDP, then TCP
                       ([c, a], [1, 1])):
        is_udp = np.array(udp, bool)
        keys = dict.fromkeys(zip(texts, [PROTO_UDP if u else PROTO_TCP for u in udp], strict=True))
        assert list(text_block._new_pairs(texts, is_udp)) == list(keys)
