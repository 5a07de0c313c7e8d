"""Side-by-side micro-benchmarks: ``python -m wsfast bench [--quick] [--json FILE] [section ...]``.

It lives inside the package (not in ``benchmarks/``) so that an installed wsfast
can show its own speed: compiled vs pure Python, and peers (aiohttp, websockets,
...) when they happen to be importable. pytest-benchmark suites in
``benchmarks/`` are for CI history; this is the quick look a user runs.

Writing a section
-----------------
A section is any module ``wsfast/bench/<name>.py`` whose name does not start
with ``_``; it is discovered automatically (no registration), and selected on
the command line by ``<name>``. It defines::

    TITLE = "Masking (apply_mask / apply_mask_inplace)"
    ORDER = 10                       # optional: sections run by ORDER, then name
    CLOCK = "cpu"                    # optional: time with the process's CPU time, see Timing
    RATIOS = [("c", "aiohttp"), ...] # optional: ratio columns, see below
                                     # (a third item, if given, is the column header)

    def cases(quick: bool) -> Iterable[Case]:
        ...

Each :class:`Case` is one table row: ``Case(name, size, funcs, targets)``.

- ``funcs`` maps a column label to what is timed: a zero-argument callable, or
  better a tuple ``(func, arg1, arg2, ...)``, which the runner calls as
  ``func(arg1, arg2, ...)`` from a generated loop with the arguments in local
  variables, so no lambda frame is added to what is measured (that matters for
  calls of a few tens of nanoseconds). A label mapped to ``None`` shows as
  ``-`` (e.g. a peer not installed, or a size skipped for a slow column).
  Columns are printed in order of first appearance across the section's cases.
- ``size`` is the number of payload bytes one call handles (0 if that means
  nothing); it goes in the JSON so throughput can be computed.
- ``targets`` (optional) maps a ratio pair ``(a, b)`` to the minimum speed-up of
  ``a`` over ``b`` this project promises for that row; met targets are marked
  ``+`` and missed ones ``!`` in the table, and each is listed under it.

A ratio column ``(a, b)`` or ``(a, b, header)`` shows ``time(b) / time(a)``:
how many times faster column ``a`` is than column ``b`` (``2.00x`` = twice as
fast); its header defaults to ``"a vs b"``.

Probes: a case with ``probe=True`` is measured by its columns themselves
(a server's CPU time read from the server, memory per connection...): each
``funcs`` entry is called once per repeat, round-robin over the columns, and
returns a dict of metric -> value. ``metrics`` lists ``(key, label, unit)``;
each metric becomes its own table row (``"<name>, <label>"``), showing the
median of the repeats (``unit`` "ns" for times, "B" for bytes). ``repeats``
overrides the number of samples (for costly probes).

Plots: ``msg_size`` (the message size, the x axis of ``--plot``; default
``size``) and ``series`` (e.g. the kind of text) say where a row belongs in
the picture. A section may define ``notes() -> List[str]``: lines printed
under its table (and kept in the JSON), e.g. where the memory goes.

Helpers for sections: :func:`implementations` gives the compiled and pure-Python
hot paths that are available, and :func:`peer` imports a peer's function or
returns None (noting why, printed under the section's table) so that missing
peers are skipped, never fatal.

Timing
------
Each cell is calibrated (``loops`` scaled until one run lasts at least
``min_time``), then run ``repeats`` times with the garbage collector off, the
repeats going round-robin over the row's columns (so that load from the rest
of the machine falls on every column alike); the best (minimum) time per call
is shown, the median is kept in the JSON. Times
are measured with ``time.perf_counter_ns`` and include the bare ``for`` loop
over ``itertools.repeat`` (a few ns, printed in the header), the same for
every column. A section with ``CLOCK = "cpu"`` is timed with
``time.process_time_ns`` instead (this process's user + system time): for
calls that are mostly system calls, on a machine shared with other work,
CPU time stays put where wall-clock time follows the machine's load.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import itertools
import json
import os
import pkgutil
import platform
import statistics
import sys
import time
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, TextIO, Tuple

__all__ = ["Case", "Settings", "implementations", "peer", "discover", "measure", "measure_case",
           "measure_probe", "shown", "run", "main", "section_ratios", "make_row", "print_rows"]

Timed = Any  # a zero-argument callable, or a tuple (func, *args)
Pair = Tuple[str, str]


@dataclass
class Case:
    """One table row: ``funcs`` maps a column label to what is timed (see module doc)."""

    name: str
    size: int
    funcs: Dict[str, Optional[Timed]]
    targets: Dict[Pair, float] = field(default_factory=dict)
    msg_size: Optional[int] = None
    series: Optional[str] = None
    probe: bool = False
    metrics: Sequence[Tuple[str, str, str]] = ()
    repeats: Optional[int] = None


@dataclass
class Settings:
    min_time_ns: int
    repeats: int
    quick: bool
    clock: Callable[[], int] = time.perf_counter_ns

    @classmethod
    def for_mode(cls, quick: bool) -> Settings:
        if quick:
            return cls(min_time_ns=4_000_000, repeats=3, quick=True)
        return cls(min_time_ns=20_000_000, repeats=7, quick=False)


# ---------------------------------------------------------------- helpers for sections

_missing: Dict[str, str] = {}  # peer label -> why it is skipped


def peer(module: str, attr: Optional[str] = None, label: Optional[str] = None) -> Any:
    """``module.attr`` (or the module) if importable, else None, remembering why."""
    try:
        obj = importlib.import_module(module)
        if attr is not None:
            for part in attr.split("."):
                obj = getattr(obj, part)
        return obj
    except Exception as exc:  # ImportError, AttributeError, a broken install, ...
        _missing[label or module] = f"{type(exc).__name__}: {exc}"
        return None


def implementations() -> Dict[str, types.SimpleNamespace]:
    """``{"c": ..., "py": ...}``: the hot-path implementations that load here."""
    from wsfast import _impl

    found = {}
    for label, kind in (("c", "c"), ("py", "python")):
        try:
            found[label] = _impl.load(kind)
        except ImportError as exc:
            _missing[f"{label} (wsfast {kind})"] = f"{type(exc).__name__}: {exc}"
    return found


# ---------------------------------------------------------------- timing

_loop_cache: Dict[Tuple[int, Callable[[], int]], Callable[..., int]] = {}


def _loop(arity: int, clock: Callable[[], int] = time.perf_counter_ns) -> Callable[..., int]:
    """A function ``(it, func, *args) -> ns`` that calls func(*args) once per item of ``it``."""
    fn = _loop_cache.get((arity, clock))
    if fn is None:
        names = [f"_a{i}" for i in range(arity)]
        params = ", ".join(["_it", "_f"] + names)
        src = (
            f"def _inner({params}):\n"
            f"    _t0 = _timer()\n"
            f"    for _ in _it:\n"
            f"        _f({', '.join(names)})\n"
            f"    return _timer() - _t0\n"
        )
        namespace: Dict[str, Any] = {"_timer": clock}
        exec(compile(src, f"<wsfast.bench loop/{arity}>", "exec"), namespace)
        fn = _loop_cache[arity, clock] = namespace["_inner"]
    return fn


def _split(timed: Timed) -> Tuple[Callable[..., Any], Tuple[Any, ...]]:
    if isinstance(timed, tuple):
        return timed[0], tuple(timed[1:])
    return timed, ()


def _empty_loop_ns(settings: Settings) -> float:
    """Cost of the bare timing loop per iteration (shown in the header)."""
    it = itertools.repeat
    n = 1_000_000 if not settings.quick else 200_000
    best = min(_loop_ns_empty(it(None, n)) for _ in range(5))
    return best / n


def _loop_ns_empty(it: Iterable[None]) -> int:
    t0 = time.perf_counter_ns()
    for _ in it:
        pass
    return time.perf_counter_ns() - t0


class _Timer:
    """One cell: a calibrated loop count, then samples (ns per call) taken one at a time."""

    def __init__(self, timed: Timed, settings: Settings) -> None:
        self.func, self.args = _split(timed)
        self.inner = _loop(len(self.args), settings.clock)
        self.settings = settings
        self.samples: List[float] = []
        self.loops = 1

    def _run(self, loops: int) -> int:
        return self.inner(itertools.repeat(None, loops), self.func, *self.args)

    def calibrate(self) -> None:
        self._run(3)  # warm caches, allocators, lazy setup
        loops = 1
        while True:
            elapsed = self._run(loops)
            if elapsed >= self.settings.min_time_ns:
                break
            # aim a little past the target, growing at most 100x per step
            scale = self.settings.min_time_ns * 1.2 / max(elapsed, 1)
            loops = max(loops + 1, int(loops * min(scale, 100.0)))
        self.loops = loops
        self.samples.append(elapsed / loops)

    def sample(self) -> None:
        self.samples.append(self._run(self.loops) / self.loops)

    def result(self) -> Dict[str, Any]:
        return {"best_ns": min(self.samples), "median_ns": statistics.median(self.samples),
                "loops": self.loops, "samples_ns": self.samples}


def measure_case(funcs: Dict[str, Optional[Timed]], settings: Settings) -> Dict[str, Dict[str, Any]]:
    """Time every column of one row; the repeats go round-robin over the columns, so
    that noise from the rest of the machine hits all of them alike and the ratios
    stay meaningful on a busy box. A column that raises gets {"error": ...}."""
    timers: Dict[str, _Timer] = {}
    results: Dict[str, Dict[str, Any]] = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for label, timed in funcs.items():
            if timed is None:
                continue
            try:
                timer = _Timer(timed, settings)
                timer.calibrate()
                timers[label] = timer
            except Exception as exc:
                results[label] = {"error": f"{type(exc).__name__}: {exc}"}
        for _ in range(settings.repeats - 1):
            for label, timer in list(timers.items()):
                try:
                    timer.sample()
                except Exception as exc:
                    results[label] = {"error": f"{type(exc).__name__}: {exc}"}
                    del timers[label]
    finally:
        if gc_was_enabled:
            gc.enable()
    for label, timer in timers.items():
        results[label] = timer.result()
    return {label: results[label] for label in funcs if label in results}


def measure_probe(case: Case, settings: Settings) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """Run a probe case: metric key -> column -> result (the median is the shown value)."""
    samples: Dict[str, List[Dict[str, float]]] = {label: [] for label, f in case.funcs.items() if f}
    errors: Dict[str, str] = {}
    for _ in range(case.repeats or settings.repeats):
        for label in list(samples):
            func, args = _split(case.funcs[label])
            try:
                samples[label].append(func(*args))
            except Exception as exc:
                errors[label] = f"{type(exc).__name__}: {exc}"
                del samples[label]
    found: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for key, _, unit in case.metrics:
        per_column: Dict[str, Dict[str, Any]] = {}
        for label in case.funcs:
            if label in errors:
                per_column[label] = {"error": errors[label]}
            elif samples.get(label):
                values = [float(sample[key]) for sample in samples[label]]
                result: Dict[str, Any] = {"value": statistics.median(values), "samples": values}
                if unit == "ns":
                    result.update(best_ns=min(values), median_ns=statistics.median(values))
                per_column[label] = result
        found[key] = per_column
    return found


def measure(timed: Timed, settings: Settings) -> Dict[str, Any]:
    """Time one callable: calibrate the loop count, then repeat; ns per call."""
    result = measure_case({"x": timed}, settings)["x"]
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


# ---------------------------------------------------------------- sections


def discover() -> Dict[str, types.ModuleType]:
    """Every section module in this package, in run order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "cases"):
            found.append((getattr(module, "ORDER", 100), info.name, module))
    return {name: module for _, name, module in sorted(found, key=lambda t: (t[0], t[1]))}


def _fmt_bytes(n: float) -> str:
    if abs(n) < 1024:
        return f"{n:.0f} B"
    if abs(n) < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.2f} MiB"


def shown(result: Dict[str, Any]) -> Optional[float]:
    """The number a table cell shows: a probe's median, else the best time (None: not measured)."""
    if not result or "error" in result:
        return None
    value = result.get("value", result.get("best_ns"))
    return None if value is None else float(value)


def _fmt_time(ns: float) -> str:
    if ns < 1_000:
        return f"{ns:.1f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.2f} us"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.2f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


def _ratio(row: Dict[str, Any], pair: Pair) -> Optional[float]:
    a, b = shown(row["results"].get(pair[0], {})), shown(row["results"].get(pair[1], {}))
    if a is None or b is None or a <= 0:
        return None
    return b / a


def section_ratios(module: types.ModuleType) -> List[Tuple[str, str, str]]:
    """A section's ratio columns as ``(a, b, header)``."""
    return [(r[0], r[1], r[2] if len(r) > 2 else f"{r[0]} vs {r[1]}") for r in getattr(module, "RATIOS", [])]


def make_row(name: str, results: Dict[str, Dict[str, Any]], targets: Dict[Pair, float],
             ratios: Sequence[Tuple[str, str, str]], **fields: Any) -> Dict[str, Any]:
    """One table row: its columns' results, ratios and targets (met or not), plus ``fields``
    (size, unit, ...). ``python -m wsfast bench`` and the modules in ``benchmarks/`` both build
    their rows here."""
    row: Dict[str, Any] = dict(fields, name=name, results=results, ratios={}, targets=[])
    for a, b, header in ratios:
        row["ratios"][header] = _ratio(row, (a, b))
    for pair, target in targets.items():
        value = _ratio(row, pair)
        row["targets"].append({"a": pair[0], "b": pair[1], "target": target, "ratio": value,
                               "met": None if value is None else value >= target})
    return row


def print_rows(rows: List[Dict[str, Any]], columns: List[str], ratios: Sequence[Tuple[str, str, str]],
               out: Optional[TextIO] = None) -> None:
    """The table (values, ratio columns with + / ! where a target is met / missed), then the
    targets: what ``python -m wsfast bench`` and the modules in ``benchmarks/`` print."""
    if out is None:
        out = sys.stdout
    _print_table(rows, columns, ratios, out)
    _print_targets(rows, out)


def run_section(name: str, module: types.ModuleType, settings: Settings,
                out: TextIO = sys.stdout) -> Dict[str, Any]:
    """Run one section, print its table, and return its results (for JSON)."""
    _missing.clear()
    title = getattr(module, "TITLE", name)
    ratios = section_ratios(module)
    clock = getattr(module, "CLOCK", "wall")
    section_settings = settings
    if clock == "cpu":
        section_settings = dataclasses.replace(settings, clock=time.process_time_ns)
    print(f"\n== {title} ==" + (" (CPU time: user + system)" if clock == "cpu" else ""), file=out, flush=True)
    rows: List[Dict[str, Any]] = []
    columns: List[str] = []
    errors: List[str] = []
    for case in module.cases(settings.quick):
        for label in case.funcs:
            if label not in columns:
                columns.append(label)
        base = {"size": case.size, "msg_size": case.msg_size if case.msg_size is not None else case.size,
                "series": case.series}
        if case.probe:
            measured = measure_probe(case, section_settings)
            new_rows = [make_row(f"{case.name}, {label}", measured[key],
                                 case.targets if i == 0 else {},  # a probe's targets are on its first metric
                                 ratios, unit=unit, stat="median", metric=key, **base)
                        for i, (key, label, unit) in enumerate(case.metrics)]
        else:
            new_rows = [make_row(case.name, measure_case(case.funcs, section_settings), case.targets, ratios,
                                 unit="ns", stat="best", **base)]
        for row in new_rows:
            for label, res in row["results"].items():
                if "error" in res:
                    errors.append(f"{row['name']} / {label}: {res['error']}")
            rows.append(row)
        _print_row_progress(out)
    print_rows(rows, columns, ratios, out)
    notes = list(getattr(module, "notes", lambda: [])())
    for line in notes:
        print(f"  {line}", file=out)
    for label, why in sorted(_missing.items()):
        print(f"  skipped {label}: {why}", file=out)
    for err in errors:
        print(f"  ERROR {err}", file=out)
    return {"section": name, "title": title, "clock": clock, "columns": columns,
            "ratios": [{"a": a, "b": b, "header": header} for a, b, header in ratios], "rows": rows,
            "notes": notes, "skipped": dict(_missing), "errors": errors}


def _print_row_progress(out: TextIO) -> None:
    if getattr(out, "isatty", lambda: False)():
        print(".", end="", file=out, flush=True)


def _print_table(rows: List[Dict[str, Any]], columns: List[str], ratios: Sequence[Tuple[str, str, str]],
                 out: TextIO) -> None:
    if getattr(out, "isatty", lambda: False)():
        print("\r", end="", file=out)
    headers = ["case"] + columns + [header for _, _, header in ratios]
    table = []
    for row in rows:
        cells = [row["name"]]
        fmt = _fmt_bytes if row.get("unit") == "B" else _fmt_time
        for label in columns:
            res = row["results"].get(label)
            value = shown(res) if res else None
            cells.append("-" if res is None else ("ERROR" if value is None else fmt(value)))
        marks = {(t["a"], t["b"]): t["met"] for t in row["targets"]}
        for a, b, _ in ratios:
            value = _ratio(row, (a, b))
            mark = {True: "+", False: "!", None: ""}[marks.get((a, b))]
            cells.append("-" if value is None else f"{value:.2f}x{mark}")
        table.append(cells)
    widths = [max(len(str(r[i])) for r in [headers] + table) for i in range(len(headers))]
    print("  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(headers)),
          file=out)
    for cells in table:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells)),
              file=out)


def _print_targets(rows: List[Dict[str, Any]], out: TextIO) -> None:
    lines = []
    for row in rows:
        for t in row["targets"]:
            if t["ratio"] is None:
                verdict, value = "not measured (column missing)", "-"
            else:
                verdict, value = ("ok" if t["met"] else "MISSED"), f"{t['ratio']:.2f}x"
            lines.append(f"  {row['name']}: {t['a']} vs {t['b']} = {value}, "
                         f"target >= {t['target']:.2f}x: {verdict}")
    if lines:
        print("targets (+ met, ! missed):", file=out)
        for line in lines:
            print(line, file=out)


def _machine() -> Dict[str, Any]:
    info: Dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        info["cpu"] = platform.processor()
    try:
        import wsfast

        info["wsfast"] = wsfast.__version__
        info["wsfast_implementation"] = wsfast.IMPLEMENTATION
    except Exception as exc:  # the bench should still say why
        info["wsfast"] = f"import failed: {exc}"
    try:
        from wsfast import _mask_c

        info["mask_kernel"] = _mask_c.KERNEL
    except ImportError:
        info["mask_kernel"] = None
    return info


def run(selected: Sequence[str] = (), quick: bool = False, json_path: Optional[str] = None,
        out: TextIO = sys.stdout, plot_path: Optional[str] = None) -> int:
    """Run the selected sections (all when empty); 0 on success, 1 on any error, 2 on a bad name.
    ``json_path`` keeps every figure; ``plot_path`` draws them (see ``_plot``)."""
    sections = discover()
    unknown = [name for name in selected if name not in sections]
    if unknown:
        print(f"unknown section(s): {', '.join(unknown)}; available: {', '.join(sections)}", file=sys.stderr)
        return 2
    settings = Settings.for_mode(quick)
    machine = _machine()
    loop_ns = _empty_loop_ns(settings)
    print(f"wsfast {machine.get('wsfast')} bench: implementation={machine.get('wsfast_implementation')}, "
          f"mask kernel={machine.get('mask_kernel')}, Python {machine['python']}, {machine.get('cpu', '?')} "
          f"x{machine['cpus']}", file=out)
    print(f"timed cells: best of {settings.repeats} runs of >= {settings.min_time_ns / 1e6:g} ms, "
          f"time per call (includes ~{loop_ns:.1f} ns loop overhead); probe rows (a server's CPU "
          f"time per message, memory per connection): the median of their samples, taken "
          f"round-robin over the columns; 'a vs b' = how many times faster a is than b", file=out)
    results = []
    start = time.perf_counter()
    for name in selected or list(sections):
        results.append(run_section(name, sections[name], settings, out))
    print(f"\ndone in {time.perf_counter() - start:.1f} s", file=out)
    payload = {"machine": machine, "quick": quick, "min_time_ns": settings.min_time_ns,
               "repeats": settings.repeats, "loop_overhead_ns": loop_ns, "sections": results}
    if json_path:
        with open(json_path, "w") as f:
            json.dump(payload, f, indent=1)
    if plot_path:
        from wsfast.bench._plot import plot

        plot(payload, plot_path)
        print(f"picture: {plot_path}", file=out)
    return 1 if any(r["errors"] for r in results) else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bench`` subcommand's options (used by wsfast.__main__)."""
    parser.add_argument("sections", nargs="*", metavar="section",
                        help="sections to run (default: all); e.g. mask")
    parser.add_argument("--quick", action="store_true", help="shorter runs and fewer sizes (~30 s in all)")
    parser.add_argument("--json", metavar="FILE", help="also write all results to FILE as JSON")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="draw throughput against message size, one panel per area (needs matplotlib)")
    parser.add_argument("--from-json", metavar="FILE",
                        help="with --plot: draw a run kept with --json instead of running the benchmarks")


def main(args: argparse.Namespace) -> int:
    """Entry point for ``python -m wsfast bench`` (args from :func:`add_arguments`)."""
    if args.list:
        for name, module in discover().items():
            print(f"{name}: {getattr(module, 'TITLE', name)}")
        return 0
    if args.from_json:
        if not args.plot:
            print("--from-json needs --plot FILE.png", file=sys.stderr)
            return 2
        from wsfast.bench._plot import plot

        with open(args.from_json) as f:
            plot(json.load(f), args.plot)
        return 0
    return run(args.sections, quick=args.quick, json_path=args.json, plot_path=args.plot)
