"""The monthly consumption chart, drawn on the server as SVG: a solid bar per month for this year and
an outlined, hatched bar for the same month a year earlier, so it reads without colour. The page
puts the same numbers in a table beside it for screen readers."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # "2026-10"
    value: float | None  # m3; None = no data
    year_ago: float | None


def _nice_top(peak: float) -> float:
    if peak <= 0:
        return 1.0
    step = 10 ** len(str(int(peak))) / 10 if peak >= 1 else 0.1
    for mult in (1, 2, 2.5, 5, 10):
        if step * mult * 5 >= peak:
            return step * mult * 5
    return peak


NARROW_WIDTH = 340  # drawn 1:1 on a phone, so its 12-unit text is 12 px there


def svg(bars: list[Bar], *, title: str, this_year: str, last_year: str, uid: str = "c", narrow: bool = False) -> str:
    """The chart; `narrow` is the phone's drawing (340 units wide, months by number only), `uid` keeps
    the ids of several charts on one page apart."""
    width, height = (NARROW_WIDTH, 240) if narrow else (720, 260)
    left, right, top, bottom = (36 if narrow else 44), 8, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([b.value or 0.0 for b in bars] + [b.year_ago or 0.0 for b in bars] + [0.0])
    ymax = _nice_top(peak)
    slot = plot_w / max(len(bars), 1)
    bw = max(slot * 0.36, 2.0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title-{uid}" class="chart {"narrow" if narrow else "wide"}" '
        'preserveAspectRatio="xMidYMid meet">',
        f'<title id="chart-title-{uid}">{escape(title)}</title>',
        f'<defs><pattern id="hatch-{uid}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="currentColor" stroke-width="2"/></pattern></defs>',
    ]
    for i in range(6):  # the scale
        v = ymax * i / 5
        y = top + plot_h - plot_h * i / 5
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">{v:g}</text>')
    for i, b in enumerate(bars):
        x0 = left + i * slot + (slot - 2 * bw) / 2
        for j, (value, cls, who) in enumerate(((b.year_ago, "ago", last_year), (b.value, "now", this_year))):
            if value is None:
                continue
            h = plot_h * value / ymax
            x = x0 + j * bw
            out.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bw:.1f}" height="{h:.1f}" class="{cls}"'
                + (f' fill="url(#hatch-{uid})">' if cls == "ago" else ">")
                + f"<title>{escape(b.label)}, {escape(who)}: {value:.3f} m³</title></rect>"
            )
        out.append(f'<text x="{left + i * slot + slot / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                   f'class="tick">{escape(b.label[5:] if narrow else b.label[5:] + "." + b.label[2:4])}</text>')  # fmt: skip
    ly = 14
    out.append(f'<rect x="{left}" y="{ly - 9}" width="12" height="10" class="now"/>'
               f'<text x="{left + 16}" y="{ly}" class="legend">{escape(this_year)}</text>'
               f'<rect x="{left + 120}" y="{ly - 9}" width="12" height="10" class="ago" fill="url(#hatch-{uid})"/>'
               f'<text x="{left + 136}" y="{ly}" class="legend">{escape(last_year)}</text>')  # fmt: skip
    out.append(f'<text x="{width - right}" y="{ly}" text-anchor="end" class="legend">m³</text>')
    out.append("</svg>")
    return "".join(out)
