"""How the report writes a figure: the number's precision, counts as whole
numbers, and "not measured" (with its reason) for a figure a run lacks.
Shared by bench/report.py and bench/chart.py."""

NOT_MEASURED = "not measured"


def fmt(v):
    if v is None:
        return NOT_MEASURED
    if v != v:  # NaN
        return "n/a"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


# Units of figures that count things: shown as whole numbers.
COUNTS = {"bytes", "tools"}


def shown(f):
    """A figure as text: value and unit, or why it was not measured."""
    if f is None:
        return NOT_MEASURED
    if f.get("value") is None:
        return NOT_MEASURED + (f" ({f['reason']})" if f.get("reason") else "")
    if f["unit"] in COUNTS and f["value"] == f["value"]:
        return f"{round(f['value']):,} {f['unit']}"
    return f"{fmt(f['value'])} {f['unit']}"
