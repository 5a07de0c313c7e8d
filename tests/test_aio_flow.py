"""Flow control and liveness over loopback, server and client, both implementations.

A vanished peer, a peer that never reads, ping floods and the keepalive policy, data pushed
into a slow handshake, ambiguous upgrade requests, a fast reader next to other clients,
frame headers that declare the maximum size, memory running out, and a message in tiny
fragments. The wsfast side runs in its own process (its memory read from /proc, its log
lines counted); the hostile side is hand-written (tests/_flow_lab.py, where each case says
what it does). ``benchmarks/flow_cases.py`` prints the same cases against an older tree.

Memory bounds are stated against what the design allows: reading pauses once the write
buffer passes ``write_limit`` (32 KiB) or ``max_queue`` messages wait, and every connection
shares the server's 256 KiB read buffer; the kernel's socket buffers (a few MiB per
connection on Linux) are not the process's memory. Each bound is far below what the
unbounded behaviour reaches in the same window (tens to hundreds of MiB; see the closing
table of benchmarks/flow_cases.py). No bound is on time, except a generous one for "promptly".
"""

from __future__ import annotations

import sys
from pathlib import Path

import _flow_lab as lab
import pytest
from _aio_util import IMPLEMENTATIONS, impl_or_skip, run
from _flow_lab import MiB

pytestmark = [
    pytest.mark.parametrize("kind", IMPLEMENTATIONS),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process memory from /proc"),
]

FLOOD_RSS = 8 * MiB  # a flood may cost a few read and write buffers, never what it pushes
PROMPT = 2.0  # seconds: "promptly" on a loaded 2-core machine (typically a few milliseconds)


def case(coro_fn, kind, **kwargs):
    impl_or_skip(kind)  # fails under CI when the compiled hot path is missing
    return run(coro_fn(lab.CURRENT, kind, **kwargs), 180)


def kernel_send_share() -> int:
    """What the kernel may hold for one connection (send buffer + the peer's receive window)."""
    try:
        wmem = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
        rmem = int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 64 * MiB
    return wmem + min(rmem, 2 * 64 * 1024) + 1 * MiB


# ---------------------------------------------------------------- 1: a vanished peer


@pytest.mark.parametrize("how", ["rst", "fin"])
def test_vanished_client_ends_a_streaming_handler_promptly(kind, how):
    """``while True: await ws.send(1 KiB)`` to a client that resets or closes without a close
    frame: the handler gets ConnectionClosed (1006) at once, the server goes idle (no spinning
    on failed writes) and serves a fresh client; nothing is logged at INFO or above."""
    r = case(lab.vanish_under_stream, kind, how=how)
    assert r["code"] == 1006 and r["closed"] is not None and r["closed"] < PROMPT, r
    assert r["served"] is not None, r
    assert r["cpu_after"] < 0.25, r  # a spinning loop burns a whole core
    assert r["logs"] == 0, r


@pytest.mark.parametrize("how", ["rst", "fin"])
def test_vanished_server_ends_a_streaming_client_promptly(kind, how):
    r = case(lab.client_under_vanishing_server, kind, how=how)
    assert r["code"] == 1006 and r["closed"] is not None and r["closed"] < PROMPT, r
    assert r["cpu_after"] < 0.25, r
    assert r["logs"] == 0, r


# ---------------------------------------------------------------- 2: a peer that never reads


def test_handler_yielding_between_sends_waits_for_a_client_that_never_reads(kind):
    """Sends spread over loop turns still meet the write limit: what the handler managed to
    send is what the kernel holds plus our 32 KiB, and the server's memory stays flat."""
    r = case(lab.never_reading_streamed_to, kind)
    assert r["rss"] < FLOOD_RSS, r
    assert r["moved"] is not None and r["moved"] < kernel_send_share(), r
    assert r["served"] is not None, r


def test_echo_to_a_client_that_never_reads_pushes_back_on_it(kind):
    """The stock echo handler answering 16 KiB messages one per loop turn: once our buffer is
    full we stop reading, so the client's own writes stall (TCP backpressure)."""
    r = case(lab.echo_flood_never_read, kind)
    assert r["stalled"], r
    assert r["rss"] < FLOOD_RSS, r
    assert r["served"] is not None, r


def test_client_yielding_between_sends_waits_for_a_server_that_never_reads(kind):
    r = case(lab.client_to_never_reading_server, kind)
    assert r["rss"] < FLOOD_RSS, r
    assert r["moved"] is not None and r["moved"] < kernel_send_share(), r


# ---------------------------------------------------------------- 3: pings, pongs and keepalive


def test_ping_flood_from_a_client_that_never_reads_meets_backpressure(kind):
    """Automatic pongs stay bounded: reading pauses while they cannot be written."""
    r = case(lab.ping_flood_never_read, kind)
    assert r["stalled"], r
    assert r["rss"] < FLOOD_RSS, r
    assert r["served"] is not None, r


def test_ping_flood_from_a_server_that_never_reads_meets_backpressure(kind):
    r = case(lab.server_ping_flood, kind)
    assert r["stalled"], r
    assert r["rss"] < FLOOD_RSS, r


def test_keepalive_times_out_a_flooder_whose_pongs_answer_nothing(kind):
    """Keepalive policy: only a pong carrying the payload of our keepalive ping (or of a later
    ping of ours) answers it. A client that floods pings and unsolicited pongs and reads
    nothing is timed out with 1011 after ping_interval + ping_timeout."""
    r = case(lab.keepalive_ping_flooder, kind)
    assert r["code"] == 1011, r
    assert r["closed"] is not None and r["closed"] < 0.6 + PROMPT, r
    assert r["logs"] == 1, r  # one line: the keepalive timeout


def test_keepalive_times_out_pongs_with_other_payloads(kind):
    """A client that reads everything but answers each ping with another payload: 1011 on the
    wire and in the handler."""
    r = case(lab.keepalive_wrong_pongs, kind)
    assert r["code"] == 1011 and r["wire"] == 1011, r
    assert r["logs"] == 1, r


def test_client_keepalive_times_out_pongs_with_other_payloads(kind):
    """The same policy in a client: a server answering its pings with other payloads gets 1011."""
    r = case(lab.client_keepalive_wrong_pongs, kind)
    assert r["code"] == 1011 and r["wire"] == 1011, r
    assert r["logs"] == 1, r


def test_keepalive_keeps_a_peer_that_answers(kind):
    """The control for the two above: the right pongs keep the connection open."""
    r = case(lab.keepalive_right_pongs, kind)
    assert r["pings"] >= 3, r
    assert r["code"] == 1000, r
    assert r["logs"] == 0, r


@pytest.mark.parametrize("side", ["server", "client"])
def test_keepalive_with_reads_held_by_a_full_write_buffer(kind, side):
    """A 4 MiB message waits in our write buffer, so our reads are held and the peer's pongs
    unseen. A peer that keeps draining it (slowly: ~2 s) is alive and finishes with 1000; one
    that reads nothing for longer than ping_timeout is timed out (1011) just as promptly as
    if we could read, and a send() waiting on it raises at once."""
    fn = lab.keepalive_while_reads_held if side == "server" else lab.client_keepalive_while_reads_held
    slow = case(fn, kind, drain=True)
    assert slow["received"] == 4 * MiB, slow
    assert slow["code"] == 1000, slow
    silent = case(fn, kind, drain=False)
    assert silent["code"] == 1011, silent
    assert silent["closed"] is not None and silent["closed"] < 0.6 + PROMPT, silent


@pytest.mark.parametrize("side", ["server", "client"])
def test_keepalive_with_reads_held_by_a_busy_application(kind, side):
    """The application does not read for 2 s while the peer sends more than max_queue messages
    and answers every ping: its pong waits behind them, unread through no fault of its own,
    so the connection stays open and every message arrives in order."""
    fn = lab.keepalive_application_behind if side == "server" else lab.client_application_behind
    r = case(fn, kind)
    assert r["echoed"] == 40 and r["in_order"], r
    assert r["code"] == 1000, r


# ---------------------------------------------------------------- 4 and 5: the request head


def test_data_pushed_during_process_request_is_not_buffered(kind):
    """After the request head nothing is read until process_request answers (here: 10 s),
    so what the client pushes meanwhile stays in its own buffers."""
    r = case(lab.push_during_process_request, kind)
    assert r["stalled"], r
    assert r["rss"] < FLOOD_RSS and r["held"] < FLOOD_RSS, r
    assert r["served"] is not None, r


def test_ambiguous_upgrade_requests_get_400(kind):
    """A request a proxy in front could read differently (request smuggling) is refused."""
    r = case(lab.ambiguous_requests, kind)
    statuses = r["statuses"]
    for name in lab.AMBIGUOUS_REQUESTS:
        assert statuses[name] == 400, (name, statuses)
    for name, status in statuses.items():
        if name.startswith("control"):
            assert status == 101, (name, statuses)
    assert r["logs"] == len(lab.AMBIGUOUS_REQUESTS), r  # one line per refused request


# ---------------------------------------------------------------- 6: fairness


def test_fresh_clients_are_served_next_to_a_fast_reader(kind):
    """A handler streams to a client that reads as fast as it can: ten fresh clients, one
    after the other, each get their handshake and an echo meanwhile (the streaming send()
    yields to the loop every 1 MiB or 1024 sends)."""
    r = case(lab.fast_reader_starves_others, kind)
    assert r["served"] is not None and r["served"] < PROMPT, r
    assert r["stream_rate"] > 1 * MiB, r  # and the stream itself kept flowing


def test_client_connections_share_the_loop_with_a_streaming_one(kind):
    r = case(lab.client_fairness, kind)
    assert r["rounds"] == 50, r
    assert r["served"] is not None and r["served"] < PROMPT, r


# ---------------------------------------------------------------- 7: declared sizes, memory running out


def test_declared_frame_sizes_reserve_nothing(kind):
    """200 clients each declare a 16 MiB frame (the size limit) and send 15 bytes of it: the
    server's address space grows with the bytes received, not with the declarations (3.2 GB)."""
    r = case(lab.declared_max_frames, kind)
    assert r["vm"] < 64 * MiB and r["rss"] < 16 * MiB, r
    assert r["served"] is not None, r


def test_declared_frame_sizes_reserve_nothing_in_clients(kind):
    r = case(lab.client_declared_max_frames, kind)
    assert r["vm"] < 64 * MiB, r


def test_memory_running_out_fails_connections_with_1011(kind):
    """Under an address-space limit, 24 clients send 16 MiB messages at once. Those the server
    cannot hold get 1011 on the wire, one log line each and no traceback; the others get
    their answer, and the server serves a fresh client afterwards."""
    r = case(lab.out_of_memory, kind)
    assert r["neither"] == 0, r
    assert r["failed_1011"] >= 1, r  # the limit was reached: the case tested something
    assert r["tracebacks"] == 0 and r["logs"] == r["failed_1011"], r
    assert r["served"] is not None, r


# ---------------------------------------------------------------- 8: tiny fragments


def test_message_in_two_byte_fragments_costs_about_its_size(kind):
    """1 MiB in 2-byte fragments (4 MiB on the wire): the server's peak stays within about
    twice the message (it is echoed back intact)."""
    r = case(lab.fragmented_message, kind)
    assert r["intact"], r
    assert r["rss"] < 2.5 * r["size"] + 1 * MiB, r


def test_message_in_two_byte_fragments_costs_about_its_size_in_clients(kind):
    r = case(lab.client_fragmented_message, kind)
    assert r["intact"], r
    assert r["rss"] < 2.5 * MiB + 1 * MiB, r


# ---------------------------------------------------------------- the client: keepalive and memory


def test_client_keepalive_times_out_a_flooder_whose_pongs_answer_nothing(kind):
    """A server that reads nothing the client sends and floods pings and unsolicited pongs:
    the client fails it with 1011 after ping_interval + ping_timeout, one log line."""
    r = case(lab.client_keepalive_flooder, kind)
    assert r["code"] == 1011, r
    assert r["closed"] is not None and r["closed"] < 0.6 + PROMPT, r
    assert r["rss"] < FLOOD_RSS, r
    assert r["logs"] == 1, r


def test_client_keepalive_keeps_a_server_that_answers(kind):
    """The control for the client's keepalive: a server answering every ping with its payload
    keeps the connection open until it closes normally."""
    r = case(lab.client_keepalive_right_pongs, kind)
    assert r["pings"] >= 3, r
    assert r["code"] == 1000, r
    assert r["logs"] == 0, r


def test_memory_running_out_fails_client_connections_with_1011(kind):
    """Under an address-space limit, 24 client connections receive 16 MiB messages at once.
    Those the client cannot hold send 1011 on the wire, one log line each and no traceback;
    the others answer."""
    r = case(lab.client_out_of_memory, kind)
    assert r["neither"] == 0, r
    assert r["failed_1011"] >= 1, r  # the limit was reached: the case tested something
    assert r["tracebacks"] == 0 and r["logs"] == r["failed_1011"], r
