"""``python -m wsfast bench --plot FILE.png``: throughput against message size, one panel per area.

The figures come from the JSON that ``run`` produces (or ``--from-json`` reads
back): for each row, throughput = payload bytes per call / time per call, and
the message size is the row's ``msg_size``. One line per column (wsfast
compiled, pure Python, each peer), one line style per series (the kind of
text in the UTF-8 panel). Both axes are logarithmic: sizes span 16 B to
16 MiB and throughputs three orders of magnitude. matplotlib is an optional
extra (``pip install 'wsfast[plot]'``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from wsfast.bench import shown

# (panel title, the first of these sections that was run, the columns drawn: None for all)
PANELS: List[Tuple[str, List[str], Optional[List[str]]]] = [
    ("Masking", ["mask"], None),
    ("UTF-8 text -> str: one text message parsed, vs bytes.decode", ["text"], ["c parse", "decode"]),
    ("Parsing (client frames -> messages)", ["frames"], None),
    ("Loopback echo, picows client, 32 in flight", ["echo"], None),
]
_STYLES = ["-", "--", ":", "-."]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X"]


def _lines(sections: List[Dict[str, Any]], columns: Optional[List[str]] = None
           ) -> Dict[Tuple[str, Optional[str]], List[Tuple[float, float]]]:
    """(column, series) -> [(message size, GB/s)] over the given sections' time rows."""
    found: Dict[Tuple[str, Optional[str]], List[Tuple[float, float]]] = {}
    for section in sections:
        for row in section["rows"]:
            if row.get("unit", "ns") != "ns" or not row.get("size"):
                continue
            x = row.get("msg_size") or row["size"]
            for column, result in row["results"].items():
                if columns is not None and column not in columns:
                    continue
                ns = shown(result)
                if ns:
                    found.setdefault((column, row.get("series")), []).append((x, row["size"] / ns))
    return found


def plot(payload: Dict[str, Any], path: str) -> None:
    """Write the picture of one bench run (the JSON payload of ``run``) to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install 'wsfast[plot]'") from None
    by_name = {section["section"]: section for section in payload["sections"]}
    panels = [(title, [by_name[name] for name in names if name in by_name][:1], columns)
              for title, names, columns in PANELS]
    panels = [panel for panel in panels if panel[1]]
    if not panels:
        raise SystemExit("--plot: none of mask, text, frames, echo was run")
    cols = 2 if len(panels) > 1 else 1
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.6 * rows), squeeze=False)
    for ax, (title, sections, wanted) in zip(axes.flat, panels):
        lines = _lines(sections, wanted)
        columns = list(dict.fromkeys(column for column, _ in lines))
        series = list(dict.fromkeys(s for _, s in lines))
        for (column, serie), points in lines.items():
            points.sort()
            ci = columns.index(column)
            label = column if serie is None else f"{column} ({serie})"
            ax.plot([p[0] for p in points], [p[1] for p in points], label=label,
                    color=f"C{ci % 10}", linestyle=_STYLES[series.index(serie) % len(_STYLES)],
                    marker=_MARKERS[ci % len(_MARKERS)], markersize=4, linewidth=1.4)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("message size (bytes)")
        ax.set_ylabel("throughput (GB/s of payload)")
        ax.grid(True, which="major", alpha=0.35)
        ax.legend(fontsize=7, ncol=2 if len(lines) > 6 else 1, loc="best")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    machine = payload.get("machine", {})
    fig.suptitle(f"wsfast {machine.get('wsfast', '?')} on {machine.get('cpu', '?')} "
                 f"x{machine.get('cpus', '?')}, "
                 f"Python {machine.get('python', '?')}, {machine.get('platform', '')}"
                 f"{' (--quick)' if payload.get('quick') else ''}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
