"""The report's chart (bench/results/chart.svg): weft's ratios against each
alternative, and the gateway's throughput at concurrency 16, as horizontal
bars in plain SVG. Every bar is a figure from the raw data; a peer with no
figure shows as "not measured"."""

import html

from figfmt import NOT_MEASURED, fmt


def bar_panel(title, bars, x0, y0, width, unit, reference=None):
    """A horizontal bar chart as SVG elements; returns (elements, height)."""
    els = [f'<text x="{x0}" y="{y0 + 14}" font-weight="bold">{html.escape(title)}</text>']
    if not bars:
        return els, 30
    label_w, row_h = 330, 22
    top = y0 + 26
    finite = [v for _, v in bars if v is not None and v == v]
    vmax = max(finite + [reference or 0]) or 1.0
    scale = (width - label_w - 110) / vmax
    for i, (label, v) in enumerate(bars):
        y = top + i * row_h
        w = 0 if v is None or v != v else max(1.0, v * scale)
        els.append(f'<text x="{x0 + label_w - 6}" y="{y + 15}" text-anchor="end">{html.escape(label)}</text>')
        els.append(f'<rect x="{x0 + label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="#3b6ea5"/>')
        text = NOT_MEASURED if v is None else fmt(v) + unit
        els.append(f'<text x="{x0 + label_w + w + 4:.1f}" y="{y + 15}">{html.escape(text)}</text>')
    height = 26 + len(bars) * row_h + 10
    if reference is not None:
        x = x0 + label_w + reference * scale
        els.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + len(bars) * row_h}" '
                   'stroke="#c0392b" stroke-dasharray="4 3"/>')
    return els, height


def chart(raw, verdicts):
    width = 860
    ratios = [(f["name"], f["value"]) for f in raw.figures
              if f["unit"] == "x" and f.get("value") is not None]
    # Peers with no figure appear as "not measured" rather than vanishing.
    ratios += [(t["target"].split(". ", 1)[1], None) for t in verdicts
               if t["verdict"] == NOT_MEASURED and "throughput ahead" in t["target"]]
    gateway = [(f["name"].replace(" calls/s", ""), f.get("value")) for f in raw.figures
               if f["case"] == "4" and f["unit"] == "calls/s" and "c=16" in f["name"]]
    els, y = [], 10
    e, h = bar_panel("Ratios: how many times better weft is (dashed line: 1x = even)",
                     ratios, 10, y, width, "x", reference=1.0)
    els += e
    y += h + 20
    e, h = bar_panel("Gateway throughput at concurrency 16 (calls/s, higher is better)",
                     gateway, 10, y, width, "")
    els += e
    y += h + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
            f'font-family="sans-serif" font-size="12">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(els) + "\n</svg>\n")
