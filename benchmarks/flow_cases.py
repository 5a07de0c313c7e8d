"""Flow control and liveness, case by case, on one or two wsfast trees (before / after a change).

    python benchmarks/flow_cases.py                                 # this tree, both hot paths
    python benchmarks/flow_cases.py --before /path/to/old/checkout  # old tree, then this one
    python benchmarks/flow_cases.py --case vanish-rst --kind python

The hostile peers and the cases live in ``tests/_flow_lab.py`` (the tests
assert on the same results); the wsfast side runs in a child process on the
tree under test, with that tree's interpreter (``TREE/.venv/bin/python`` if
it exists, else ``--python``). Each case prints one row per tree and hot path:
peak RSS growth of the wsfast process, seconds to ConnectionClosed after the
trigger, and whether a fresh client was served meanwhile (the handshake +
echo round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import _flow_lab as lab  # noqa: E402

Case = Callable[[lab.Tree, str], Awaitable[Dict[str, Any]]]

# (name, side, "item: what happens", the case)
CASES: List[Tuple[str, str, str, Case]] = [
    ("vanish-rst", "server", "1: streaming handler, the client resets",
     functools.partial(lab.vanish_under_stream, how="rst")),
    ("vanish-fin", "server", "1: streaming handler, the client sends FIN and is gone",
     functools.partial(lab.vanish_under_stream, how="fin")),
    ("never-read-yield", "server", "2: handler yields between sends, the client never reads",
     lab.never_reading_streamed_to),
    ("echo-flood", "server", "2: echo, the client sends 16 KiB messages and never reads",
     lab.echo_flood_never_read),
    ("ping-flood", "server", "3: the client floods pings and never reads", lab.ping_flood_never_read),
    ("keepalive-flooder", "server", "3: pings + unsolicited pongs, reads nothing (keepalive on)",
     lab.keepalive_ping_flooder),
    ("keepalive-wrong-pongs", "server", "3: reads, answers pings with other payloads",
     lab.keepalive_wrong_pongs),
    ("keepalive-right-pongs", "server", "3: control: answers pings", lab.keepalive_right_pongs),
    ("app-behind", "server", "3: handler busy 2 s, the client keeps answering pings",
     lab.keepalive_application_behind),
    ("held-reads-drainer", "server", "3: 4 MiB message to a slow drainer (keepalive on)",
     functools.partial(lab.keepalive_while_reads_held, drain=True)),
    ("held-reads-silent", "server", "3: 4 MiB message to a client reading nothing",
     functools.partial(lab.keepalive_while_reads_held, drain=False)),
    ("push-in-handshake", "server", "4: data pushed during a 10 s process_request",
     lab.push_during_process_request),
    ("ambiguous-requests", "server", "5: request smuggling, the status each request gets",
     lab.ambiguous_requests),
    ("fast-reader", "server", "6: stream to a fast reader, fresh clients meanwhile",
     lab.fast_reader_starves_others),
    ("declared-frames", "server", "7: 200 x a 16 MiB frame header + 15 B", lab.declared_max_frames),
    ("out-of-memory", "server", "7: RLIMIT_AS +192 MiB, 24 x 16 MiB messages at once", lab.out_of_memory),
    ("fragments", "server", "8: 1 MiB message in 2-byte fragments", lab.fragmented_message),
    ("c-vanish-rst", "client", "1: streaming client, the server resets",
     functools.partial(lab.client_under_vanishing_server, how="rst")),
    ("c-vanish-fin", "client", "1: streaming client, the server sends FIN and is gone",
     functools.partial(lab.client_under_vanishing_server, how="fin")),
    ("c-never-read", "client", "2: client yields between sends, the server never reads",
     lab.client_to_never_reading_server),
    ("c-ping-flood", "client", "3: the server floods pings and never reads", lab.server_ping_flood),
    ("c-keepalive-flooder", "client", "3: pings + unsolicited pongs, reads nothing (keepalive on)",
     lab.client_keepalive_flooder),
    ("c-keepalive-wrong-pongs", "client", "3: the server answers pings with other payloads",
     lab.client_keepalive_wrong_pongs),
    ("c-keepalive-right-pongs", "client", "3: control: answers pings", lab.client_keepalive_right_pongs),
    ("c-app-behind", "client", "3: application busy 2 s, the server keeps answering pings",
     lab.client_application_behind),
    ("c-held-reads-drainer", "client", "3: 4 MiB message to a slow-draining server",
     functools.partial(lab.client_keepalive_while_reads_held, drain=True)),
    ("c-held-reads-silent", "client", "3: 4 MiB message to a server reading nothing",
     functools.partial(lab.client_keepalive_while_reads_held, drain=False)),
    ("c-fairness", "client", "6: stream to a fast server + 50 round trips on another connection",
     lab.client_fairness),
    ("c-declared-frames", "client", "7: 50 clients x a 16 MiB frame header + 15 B",
     lab.client_declared_max_frames),
    ("c-out-of-memory", "client", "7: RLIMIT_AS +192 MiB, 24 x 16 MiB messages at once",
     lab.client_out_of_memory),
    ("c-fragments", "client", "8: 1 MiB message in 2-byte fragments", lab.client_fragmented_message),
]


def mib(n: Optional[int]) -> str:
    return "-" if n is None else f"{n / lab.MiB:.1f}"


def seconds(t: Optional[float], bound: str = "never") -> str:
    return bound if t is None else f"{t:.2f}"


def summary(result: Dict[str, Any]) -> str:
    """The case-specific figures, briefly."""
    skip = {"rss", "vm", "closed", "served", "code", "logs", "probe_rtts", "held"}
    parts = []
    for key, value in result.items():
        if key in skip:
            continue
        if isinstance(value, float):
            value = f"{value:.3g}"
        elif key in ("pushed", "moved", "received", "size", "stream_rate") and isinstance(value, int):
            value = f"{value / lab.MiB:.1f}M"
        parts.append(f"{key}={value}")
    return " ".join(parts)


async def run_case(case: Case, tree: lab.Tree, kind: str, bound: float) -> Dict[str, Any]:
    try:
        return await asyncio.wait_for(case(tree, kind), bound)
    except asyncio.TimeoutError:
        return {"error": f"did not finish in {bound:.0f} s"}
    except Exception as exc:  # noqa: BLE001 - a broken tree is a row in the table, not a crash
        return {"error": repr(exc)[:120]}


def tree_of(path: str, python: Optional[str]) -> lab.Tree:
    root = Path(path).resolve()
    venv = root / ".venv" / "bin" / "python"
    return lab.Tree(root, python or (str(venv) if venv.exists() else sys.executable))


async def main_async(args: argparse.Namespace) -> None:
    trees = [("after", tree_of(args.tree, args.python))]
    if args.before:
        trees.insert(0, ("before", tree_of(args.before, None)))
    print(f"trees: {', '.join(f'{label}={t.root} ({t.python})' for label, t in trees)}")
    print("| case | side | hot path | tree | peak RSS growth MiB | VM growth MiB | to ConnectionClosed s "
          "| close code | fresh client served (s) | log lines | details |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, side, what, case in CASES:
        if args.case and name not in args.case:
            continue
        for kind in args.kind:
            for label, tree in trees:
                r = await run_case(case, tree, kind, args.bound)
                print(row(f"{name} ({what})", side, kind, label, r), flush=True)


def row(title: str, side: str, kind: str, label: str, r: Dict[str, Any]) -> str:
    if "error" in r:
        return f"| {title} | {side} | {kind} | {label} | error: {r['error']} |||||||"
    served = r.get("served", "n/a")
    served_text = served if isinstance(served, str) else ("no" if served is None else f"{served:.3f}")
    closed = seconds(r["closed"]) if "closed" in r else "-"
    return (f"| {title} | {side} | {kind} | {label} | {mib(r.get('rss'))} | {mib(r.get('vm'))} | {closed} "
            f"| {r.get('code', '-')} | {served_text} | {r.get('logs', '-')} | {summary(r)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", default=str(lab.ROOT), help="the tree under test (default: this one)")
    parser.add_argument("--python", help="its interpreter (default: TREE/.venv/bin/python, else this one)")
    parser.add_argument("--before", help="an older tree, run first for each case")
    parser.add_argument("--kind", nargs="+", default=["c", "python"], choices=["c", "python"])
    parser.add_argument("--case", nargs="+", choices=[c[0] for c in CASES])
    parser.add_argument("--bound", type=float, default=90.0,
                        help="seconds a case may take before it is abandoned")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
