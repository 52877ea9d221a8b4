"""Results of the benchmark: timing series, ratios, the table and the issue #6 targets."""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field

import bench_fixtures as F

TARGETS_UPDATE = 0.2  # cookiepatcher / cruft, 20 % churn scenarios
TARGET_TYPICAL = 0.05  # cookiepatcher / cruft, typical upgrade
TARGET_CHECK_S = 0.1  # cookiepatcher check, warm cache
TARGET_RSS_MIB = 200  # peak RSS at N = 1500
TARGET_FLEET = 0.1  # cookiepatcher fleet / cruft loop
T0 = time.perf_counter()


def say(msg: str) -> None:
    """Progress line on stderr, prefixed with the elapsed time."""
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


@dataclass
class Series:
    """Timings of one tool on one scenario: only runs whose result was correct count."""

    times: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the process tree
    failures: list[str] = field(default_factory=list)

    def median(self) -> float | None:
        """Median wall seconds of the correct runs (None if there is none)."""
        return statistics.median(self.times) if self.times else None

    def cell(self) -> str:
        """``median s  min-max  cpu`` or ``INVALID`` when no run was correct."""
        if not self.times:
            return f"{'INVALID':<36}"
        return f"{self.median():7.3f} s  {min(self.times):7.3f}-{max(self.times):<7.3f}{statistics.median(self.cpu):7.2f} s"


# --------------------------------------------------------------------------- report
def ratio(a: Series | None, b: Series | None, cpu: bool = False) -> float | None:
    """median(a) / median(b) of wall times (or of CPU times with ``cpu``); None when
    either is missing or has no correct run."""
    if a is None or b is None or not a.times or not b.times:
        return None
    if cpu:
        return statistics.median(a.cpu) / max(statistics.median(b.cpu), 1e-9)
    return a.median() / b.median()  # type: ignore[operator]


def fmt_ratio(x: float | None) -> str:
    """``0.123x`` or ``-``."""
    return f"{x:.3f}x" if x is not None else "-"


def report(results: dict[str, dict[str, Series]], specs: dict[str, F.Spec], check: dict[str, Series],
           fleet: dict[str, Series], fleet_size: int, notes: list[str], header: str) -> list[tuple[str, str, str]]:
    """Print the results table and the targets; return ``(target, value, verdict)`` rows."""
    print()
    print(header)
    print()
    cols = f"{'scenario':<16}{'files':>6}{'chg':>5}  {'tool':<20}{'   median      min - max      cpu':<36}{'peak RSS':>12}{'vs cruft':>10}{'vs copier':>11}  ok"
    print(cols)
    print("-" * len(cols))
    for name, series in results.items():
        spec = specs[name]
        first = True
        for tool, s in series.items():
            lead = f"{name:<16}{spec.n_files:>6}{spec.n_changed:>5}" if first else " " * 27
            first = False
            rss = f"{max(s.rss_kib) / 1024:8.1f} MiB" if s.rss_kib else "-"
            vs_cruft = fmt_ratio(ratio(s, series.get("cruft"))) if tool != "cruft" else ""
            vs_copier = fmt_ratio(ratio(s, series.get("copier"))) if tool != "copier" else ""
            ok = f"{len(s.times)}/{len(s.times) + len(s.failures)}"
            print(f"{lead}  {tool:<20}{s.cell():<36}{rss:>12}{vs_cruft:>10}{vs_copier:>11}  {ok}")
    for title, series in (("check (warm cache, against v2)", check), (f"fleet of {fleet_size} (cruft: shell loop)", fleet)):
        if series:
            print()
            print(title)
            for tool, s in series.items():
                vs = fmt_ratio(ratio(s, series.get("cruft"))) if tool != "cruft" else ""
                print(f"  {tool:<20}{s.cell():<36}{vs:>10}  {len(s.times)}/{len(s.times) + len(s.failures)}")
    rows: list[tuple[str, str, str]] = []

    def target(label: str, value: float | None, limit: float, unit: str, cpu: float | None = None) -> None:
        if value is None:
            rows.append((label, "-", "SKIP"))
        else:
            extra = f"   (CPU-time ratio {cpu:.3f}x)" if cpu is not None else ""
            rows.append((label, f"{value:.3f}{unit}{extra}", "PASS" if value <= limit else "FAIL"))

    for name, series in results.items():
        spec = specs[name]
        if spec.conflict:
            continue
        limit = TARGET_TYPICAL if name.startswith("typical") else TARGETS_UPDATE
        cp, cruft = series.get("cookiepatcher"), series.get("cruft")
        target(f"update {name}: cookiepatcher/cruft <= {limit}", ratio(cp, cruft), limit, "x", ratio(cp, cruft, cpu=True))
    chk = check.get("cookiepatcher")
    target(f"check, warm cache <= {TARGET_CHECK_S} s", chk.median() if chk and chk.times else None, TARGET_CHECK_S, " s")
    big = [n for n, sp in specs.items() if sp.n_files >= 1500 and not sp.conflict and n in results]
    if big:
        big_cp = results[big[0]].get("cookiepatcher")
        target(f"peak RSS at {big[0]} <= {TARGET_RSS_MIB} MiB", max(big_cp.rss_kib) / 1024 if big_cp and big_cp.rss_kib else None, TARGET_RSS_MIB, " MiB")
    cp, cruft = fleet.get("cookiepatcher"), fleet.get("cruft")
    target(f"fleet of {fleet_size or 'N'}: cookiepatcher/cruft loop <= {TARGET_FLEET}", ratio(cp, cruft), TARGET_FLEET, "x", ratio(cp, cruft, cpu=True))
    print()
    print("targets (issue #6; verdicts on wall-time medians)")
    for label, value, verdict in rows:
        print(f"  {verdict:<5} {label:<52} {value}")
    for note in notes:
        print(f"note: {note}")
    return rows


