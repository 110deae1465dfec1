#!/usr/bin/env python3
"""Draws deploy/grafana/counter.json's panels as one SVG from a real Prometheus, without Grafana.

Not a Grafana screenshot: each panel's queries are sent to Prometheus' query_range API (Grafana's variables
replaced by values) and the answers drawn as plain lines (time series) or a number (stat), in the dashboard's
layout. The standard library only. Used by scripts/dashboard-picture.sh:
    render-dashboard.py PROMETHEUS_URL SECONDS OUT.svg
"""
import html
import json
import sys
import time
import urllib.parse
import urllib.request

DASHBOARD = "deploy/grafana/counter.json"
COLORS = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642"]
CELL_W, CELL_H = 40, 34  # pixels per Grafana grid unit (24 columns)


def query_range(base, expr, start, end, step):
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{params}", timeout=10) as r:
        body = json.load(r)
    if body["status"] != "success":
        raise SystemExit(f"query failed: {expr}: {body}")
    return body["data"]["result"]


def legend(fmt, labels):
    out = fmt or "{{__name__}}"
    for k, v in labels.items():
        out = out.replace("{{" + k + "}}", v)
    return out


def number(v, unit):
    if unit == "percentunit":
        return f"{v * 100:.2f}%"
    if unit == "s":
        return f"{v * 1000:.2f} ms"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.3g}"


def panel_svg(p, series, x0, y0, w, h):
    e = html.escape
    out = [f'<rect x="{x0 + 2}" y="{y0 + 2}" width="{w - 4}" height="{h - 4}" fill="#181b1f" stroke="#2c3235"/>',
           f'<text x="{x0 + 10}" y="{y0 + 20}" fill="#d8d9da" font-size="13" font-weight="bold">{e(p["title"])}</text>']
    unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    if p["type"] == "stat":
        values = [float(v) for _, vs in series for _, v in vs[-1:]]
        text = number(values[0], unit) if values else "No data"
        out.append(f'<text x="{x0 + w / 2}" y="{y0 + h / 2 + 18}" fill="#73bf69" font-size="34" '
                   f'text-anchor="middle">{e(text)}</text>')
        return out
    # Series that stayed at 0 are left out (a Grafana legend would list them too).
    series = [(n, vs) for n, vs in series if any(v not in ("0", "NaN") for _, v in vs)][:8]
    rows = (len(series) + 1) // 2
    px0, py0, pw, ph = x0 + 55, y0 + 32, w - 70, h - 32 - 22 - 14 * rows
    points = [(t, float(v)) for _, vs in series for t, v in vs if v not in ("NaN", "+Inf", "-Inf")]
    if not points:
        out.append(f'<text x="{x0 + w / 2}" y="{y0 + h / 2}" fill="#8e8e8e" text-anchor="middle">No data</text>')
        return out
    t0, t1 = min(t for t, _ in points), max(t for t, _ in points)
    vmax = max(v for _, v in points) * 1.1 or 1.0
    for i in range(3):  # horizontal grid lines with their values
        gy = py0 + ph - ph * i / 2
        out.append(f'<line x1="{px0}" y1="{gy}" x2="{px0 + pw}" y2="{gy}" stroke="#2c3235"/>')
        out.append(f'<text x="{px0 - 5}" y="{gy + 4}" fill="#8e8e8e" font-size="10" text-anchor="end">'
                   f'{e(number(vmax * i / 2, unit))}</text>')
    for i, (name, vs) in enumerate(series):
        pts = [(px0 + pw * (t - t0) / max(t1 - t0, 1), py0 + ph - ph * float(v) / vmax)
               for t, v in vs if v not in ("NaN", "+Inf", "-Inf")]
        color = COLORS[i % len(COLORS)]
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="'
                   + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        lx, ly = px0 + (pw / 2) * (i % 2), py0 + ph + 18 + 14 * (i // 2)
        out.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="3" fill="{color}"/>'
                   f'<text x="{lx + 15}" y="{ly - 3}" fill="#ccccdc" font-size="10">{e(name)}</text>')
    return out


def main():
    base, seconds, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    dash = json.load(open(DASHBOARD))
    end = time.time()
    start, step = end - seconds, max(1, seconds // 120)
    body, bottom = [], 0
    for p in dash["panels"]:
        g = p["gridPos"]
        x0, y0, w, h = g["x"] * CELL_W, g["y"] * CELL_H + 40, g["w"] * CELL_W, g["h"] * CELL_H
        bottom = max(bottom, y0 + h)
        if p["type"] == "row":
            body.append(f'<text x="{x0 + 6}" y="{y0 + 24}" fill="#d8d9da" font-size="15">{html.escape(p["title"])}</text>')
            continue
        series = []
        for t in p["targets"]:
            expr = (t["expr"].replace("$__rate_interval", "15s").replace("$job", "counter")
                    .replace("$instance", ".*"))
            for s in query_range(base, expr, start, end, step):
                series.append((legend(t.get("legendFormat"), s["metric"]), s["values"]))
        body += panel_svg(p, series, x0, y0, w, h)
    width = 24 * CELL_W
    head = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{bottom + 10}" '
            f'font-family="sans-serif"><rect width="100%" height="100%" fill="#111217"/>',
            f'<text x="8" y="26" fill="#d8d9da" font-size="14">{html.escape(dash["title"])}: drawn from a real '
            f'Prometheus by scripts/render-dashboard.py, not Grafana; {seconds} s of scripted load; all-zero series '
            f'omitted</text>']
    open(target, "w").write("\n".join(head + body + ["</svg>"]) + "\n")


if __name__ == "__main__":
    main()
