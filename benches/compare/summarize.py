#!/usr/bin/env python3
"""Turns one run.sh run into its markdown record: the load tables, the ratios counter/peer, the issue's
targets (met or not), syscalls per request, memory, start-up and binary size.

usage: summarize.py ENV.txt RUN.tsv RUN.metrics.tsv [CHART.svg] > RECORD.md
Each load figure is the median over the rounds of that (server, kind). With CHART.svg, also draws the standing as
an SVG bar chart (CPU µs and instructions per request, plain and pipelined, every server), written by hand: no
plotting dependency.
"""
import csv
import statistics
import sys

# A run during which other processes used more than this many cores is flagged as disturbed.
OTHER_CPU_MAX_CORES = 0.08

# Issue 6's targets for /status, as (kind, peer, largest ratio of counter's CPU per request to the peer's).
CPU_TARGETS = [("plain", "may", 0.97), ("plain", "wall", 1.02), ("pipe", "may", 0.85), ("pipe", "wall", 1.10)]
# Issue 16's targets: instructions per request for /status (callgrind, deterministic).
IR_TARGETS = [("pipe", 700), ("plain", 1200)]
# /statusV2 (mutex) within 5% of /status.
V2_MAX_RATIO = 1.05

KIND_TITLE = {
    "plain": "non-pipelined (latency per request)",
    "pipe": "pipelined (latency per batch of requests sent in one write)",
}
COUNTERS = ("counter", "counter-v2")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def read_tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def load_stats(rows):
    """{(server, kind): medians} in the order servers first appear."""
    st = {}
    for key in dict.fromkeys((r["server"], r["kind"]) for r in rows):
        rs = [r for r in rows if (r["server"], r["kind"]) == key]
        rps = [float(r["rps"]) for r in rs]
        st[key] = dict(
            path=rs[0]["path"], n=len(rs), rps=med(rps), lo=min(rps), hi=max(rps),
            p50=med([float(r["p50_us"]) for r in rs]) / 1000,
            p99=med([float(r["p99_us"]) for r in rs]) / 1000,
            cpu=med([float(r["srv_cpu_us_per_req"]) for r in rs]),
            wu=med([float(r["wrk_core_util"]) for r in rs]),
            ou=max(float(r["other_core_util"]) for r in rs),
            err=sum(int(r["errors"]) for r in rs),
        )
    return st


def load_tables(st, out):
    for kind in ("plain", "pipe"):
        servers = [s for (s, k) in st if k == kind]
        if not servers:
            continue
        base = st.get(("counter", kind))
        out.append(f"\n### 1 core, {KIND_TITLE[kind]}\n")
        out.append("| server | path | runs | req/s | min..max | p50 ms | p99 ms | server CPU µs/req "
                   "| counter ÷ server (CPU) | wrk core busy | other CPU (max) | errors |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in servers:
            x = st[(s, kind)]
            ratio = f"{base['cpu'] / x['cpu']:.2f}" if base and x["cpu"] > 0 else "-"
            out.append(f"| {s} | {x['path']} | {x['n']} | {x['rps']:,.0f} | {x['lo']:,.0f}..{x['hi']:,.0f} "
                       f"| {x['p50']:.2f} | {x['p99']:.2f} | {x['cpu']:.2f} | {ratio} | {x['wu']:.2f} "
                       f"| {x['ou']:.2f} | {x['err']} |")


def ratio_table(st, out):
    peers = [s for (s, k) in st if k == "plain" and s not in COUNTERS]
    if ("counter", "plain") not in st or not peers:
        return
    out.append("\n### Ratios counter ÷ peer (below 1: counter uses less CPU per request, or has lower p99)\n")
    out.append("| peer | kind | CPU/req /status | CPU/req /statusV2 | req/s /status | p99 /status |")
    out.append("|---|---|---:|---:|---:|---:|")
    for p in peers:
        for kind in ("plain", "pipe"):
            c, v, x = st.get(("counter", kind)), st.get(("counter-v2", kind)), st.get((p, kind))
            if not (c and x):
                continue
            v2 = f"{v['cpu'] / x['cpu']:.2f}" if v else "-"
            out.append(f"| {p} | {kind} | {c['cpu'] / x['cpu']:.2f} | {v2} | {c['rps'] / x['rps']:.2f} "
                       f"| {c['p99'] / x['p99']:.2f} |")


def targets(st, out):
    out.append("\n### Issue 6 targets for /status\n")
    out.append("| target | measured | met |")
    out.append("|---|---|---|")
    yes = lambda ok: "yes" if ok else "**NO**"
    for kind, peer, limit in CPU_TARGETS:
        c, x = st.get(("counter", kind)), st.get((peer, kind))
        name = f"{kind}: CPU/req ≤ {limit:.2f} × {peer}"
        if not (c and x):
            out.append(f"| {name} | not measured | - |")
            continue
        r = c["cpu"] / x["cpu"]
        out.append(f"| {name} | {r:.3f} × ({c['cpu']:.2f} vs {x['cpu']:.2f} µs) | {yes(r <= limit)} |")
    for kind in ("plain", "pipe"):
        c = st.get(("counter", kind))
        peers = [(x["p99"], s) for (s, k), x in st.items() if k == kind and s not in COUNTERS]
        if not (c and peers):
            continue
        best, who = min(peers)
        out.append(f"| {kind}: p99 ≤ best peer's | {c['p99']:.2f} ms vs {best:.2f} ms ({who}) "
                   f"| {yes(c['p99'] <= best)} |")
    for kind in ("plain", "pipe"):
        c, v = st.get(("counter", kind)), st.get(("counter-v2", kind))
        if c and v:
            r = v["cpu"] / c["cpu"]
            out.append(f"| {kind}: /statusV2 CPU/req ≤ {V2_MAX_RATIO:.2f} × /status | {r:.3f} × "
                       f"({v['cpu']:.2f} vs {c['cpu']:.2f} µs) | {yes(r <= V2_MAX_RATIO)} |")


def disturbed(rows, out):
    bad = [r for r in rows if float(r["other_core_util"]) > OTHER_CPU_MAX_CORES]
    if bad:
        out.append(f"\n**Disturbed runs** (other processes used more than {OTHER_CPU_MAX_CORES} cores; "
                   "their figures are less reliable):")
        for r in bad:
            out.append(f"- round {r['round']} {r['server']} {r['kind']}: other CPU {r['other_core_util']} cores")


def syscalls(metrics, out):
    rows = [m for m in metrics if m["phase"] == "syscalls"]
    keys = list(dict.fromkeys((m["server"], m["kind"]) for m in rows))
    if not keys:
        return
    out.append("\n### Syscalls per request (strace -c -f attached during a short load; counts only)\n")
    out.append("| server | kind | requests traced | syscalls/req | of which (≥ 0.005 per request) |")
    out.append("|---|---|---:|---:|---|")
    for s, k in keys:
        mine = {m["metric"]: m["value"] for m in rows if (m["server"], m["kind"]) == (s, k)}
        parts = sorted(((float(v), n) for n, v in mine.items() if n not in ("total", "requests")), reverse=True)
        detail = ", ".join(f"{v:.2f} {n}" for v, n in parts)
        out.append(f"| {s} | {k} | {int(mine.get('requests', 0)):,} | {float(mine.get('total', 'nan')):.2f} "
                   f"| {detail} |")


def memory(metrics, out):
    rows = [m for m in metrics if m["phase"] == "memory"]
    servers = list(dict.fromkeys(m["server"] for m in rows))
    if not servers:
        return
    held_kind = next((m["kind"] for m in rows if m["kind"] != "idle"), "conns-?")
    n = held_kind.split("-", 1)[1]
    out.append(f"\n### Memory: VmRSS (process tree) idle, and holding {n} idle keep-alive connections\n")
    out.append(f"| server | idle KiB | with {n} connections KiB | per connection bytes "
               "| connections established (ss) |")
    out.append("|---|---:|---:|---:|---:|")
    for s in servers:
        mine = {(m["kind"], m["metric"]): int(m["value"]) for m in rows if m["server"] == s}
        idle, held = mine.get(("idle", "rss_kib")), mine.get((held_kind, "rss_kib"))
        est = mine.get((held_kind, "established"), "-")
        if held is None:
            out.append(f"| {s} | {idle:,} | failed | - | - |")
        else:
            per = (held - idle) * 1024 / int(n) if n.isdigit() and int(n) else float("nan")
            out.append(f"| {s} | {idle:,} | {held:,} | {per:,.0f} | {est:,} |")


def instructions(metrics):
    """{(server, kind): instructions per request} from the instructions phase."""
    return {(m["server"], m["kind"]): int(m["value"]) for m in metrics
            if m["phase"] == "instructions" and m["metric"] == "ir_per_req"}


def standing(st, ir, out):
    """CPU time beside instructions, per server and kind: the two figures the issue compares."""
    if not ir:
        return
    out.append("\n### Instructions per request beside CPU time (/status)\n")
    out.append("Instructions: user-space, callgrind, h2load over one connection (pipelined 16 deep, and one at a "
               "time), slope between 10,000 and 30,000 requests: the same for the same binary whatever the "
               "machine does. CPU: the load phase's medians above.\n")
    out.append("| server | instr/req plain | instr/req pipelined | counter ÷ server (instr, plain / pipelined) "
               "| CPU µs/req plain | CPU µs/req pipelined |")
    out.append("|---|---:|---:|---:|---:|---:|")
    servers = list(dict.fromkeys([s for (s, _) in ir] + [s for (s, _) in st if s != "counter-v2"]))
    fmt = lambda v, f: f.format(v) if v is not None else "-"
    for s in servers:
        ip, iq = ir.get((s, "plain")), ir.get((s, "pipe"))
        cp, cq = ir.get(("counter", "plain")), ir.get(("counter", "pipe"))
        ratio = " / ".join(f"{c / x:.2f}" if c and x else "-" for c, x in ((cp, ip), (cq, iq)))
        xp, xq = st.get((s, "plain")), st.get((s, "pipe"))
        out.append(f"| {s} | {fmt(ip, '{:,}')} | {fmt(iq, '{:,}')} | {ratio} "
                   f"| {fmt(xp and xp['cpu'], '{:.2f}')} | {fmt(xq and xq['cpu'], '{:.2f}')} |")
    out.append("\n| issue 16 target | measured | met |")
    out.append("|---|---|---|")
    for kind, limit in IR_TARGETS:
        c = ir.get(("counter", kind))
        met = "-" if c is None else ("yes" if c <= limit else "**NO**")
        out.append(f"| {kind}: ≤ {limit} instructions per request | {fmt(c, '{:,}')} | {met} |")


def svg_chart(st, ir, date):
    """Four panels of horizontal bars (CPU µs/req and instructions/req, plain and pipelined), one bar per
    server, counter's bar in its own colour. Returns the SVG text."""
    panels = [("CPU µs per request, plain", {s: x["cpu"] for (s, k), x in st.items() if k == "plain"}, "{:.2f}"),
              ("CPU µs per request, pipelined ×16", {s: x["cpu"] for (s, k), x in st.items() if k == "pipe"}, "{:.2f}"),
              ("instructions per request, plain", {s: v for (s, k), v in ir.items() if k == "plain"}, "{:,.0f}"),
              ("instructions per request, pipelined ×16", {s: v for (s, k), v in ir.items() if k == "pipe"}, "{:,.0f}")]
    panels = [p for p in panels if p[1]]
    servers = list(dict.fromkeys(s for _, vals, _ in panels for s in vals))
    bar, gap, label_w, bar_w, pad = 18, 6, 92, 250, 16
    panel_w, panel_h = label_w + bar_w + 70, 34 + len(servers) * (bar + gap)
    cols = 2
    rows = (len(panels) + cols - 1) // cols
    width, height = cols * panel_w + (cols + 1) * pad, rows * panel_h + (rows + 1) * pad + 30
    esc = lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{pad}" y="22" font-size="14" font-weight="bold">counter and peers, GET /status, 1 core '
         f'({esc(date)}): shorter is better</text>']
    for i, (title, vals, f) in enumerate(panels):
        x0 = pad + (i % cols) * (panel_w + pad)
        y0 = 30 + pad + (i // cols) * (panel_h + pad)
        o.append(f'<text x="{x0}" y="{y0 + 14}" font-weight="bold">{esc(title)}</text>')
        top = max(vals.values()) or 1
        for j, s in enumerate(servers):
            y = y0 + 26 + j * (bar + gap)
            o.append(f'<text x="{x0 + label_w - 6}" y="{y + bar - 5}" text-anchor="end">{esc(s)}</text>')
            if s not in vals:
                o.append(f'<text x="{x0 + label_w}" y="{y + bar - 5}" fill="#888">not measured</text>')
                continue
            w = max(1.0, vals[s] / top * bar_w)
            colour = "#d9480f" if s.startswith("counter") else "#4c6ef5"
            o.append(f'<rect x="{x0 + label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"/>')
            o.append(f'<text x="{x0 + label_w + w + 4:.1f}" y="{y + bar - 5}">{f.format(vals[s])}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def startup_and_size(metrics, out):
    st = {m["metric"]: m["value"] for m in metrics if m["phase"] == "startup"}
    if st:
        out.append("\n### Start-up: exec to the first 200 from /ready (counter --workers 1)\n")
        out.append(f"median {st.get('median_ms')} ms over {st.get('runs')} starts "
                   f"(min {st.get('min_ms')} ms, max {st.get('max_ms')} ms); "
                   f"exits after SIGTERM that were not a clean 0: {st.get('bad_exits')}")
    sz = {(m["kind"], m["metric"]): m["value"] for m in metrics if m["phase"] == "size"}
    if sz:
        out.append("\n### Binary size\n")
        if ("static-stripped", "bytes") in sz:
            b = int(sz[("static-stripped", "bytes")])
            out.append(f"- static (crt-static, x86_64-unknown-linux-gnu), stripped: {b:,} bytes ({b / 1024:.0f} KiB); "
                       f"{sz.get(('static-stripped', 'linkage'), '?')}")
        if ("release", "bytes") in sz:
            b = int(sz[("release", "bytes")])
            out.append(f"- the measured binary (dynamic glibc release build): {b:,} bytes ({b / 1024:.0f} KiB)")


NOTES = """
### What limits these figures
- Load generator and server share this 2-core machine (server on CPU 0, wrk on CPU 1). Non-pipelined, one wrk
  thread saturates its core first (see "wrk core busy"), so req/s mostly measures wrk; **server CPU µs per
  request** is the figure that compares servers.
- Server CPU is utime+stime of the server's processes; softirq work the kernel charges elsewhere is not in it,
  and is the same for every server. "other CPU" is what anything else on the machine used during the run.
- wall and nginx answer a fixed body (no counter, no Date for wall): they are floors, not twins.
- Syscall counts come from strace, which slows servers a lot: only the counts per request are meaningful. In
  pipelined runs one read serves many requests, so counts below 1 per request are expected.
- Memory is VmRSS summed over the server's processes (nginx: master + worker), read from /proc.
"""


def main():
    env_path, raw_path, metrics_path = sys.argv[1:4]
    rows, metrics = read_tsv(raw_path), read_tsv(metrics_path)
    env = open(env_path).read().strip().splitlines()
    date = next((l.split(": ", 1)[1] for l in env if l.startswith("date: ")), "?")
    out = [f"# counter side by side with peers, {date}", ""]
    out += [f"- {l}" for l in env]
    st = load_stats(rows)
    ir = instructions(metrics)
    if len(sys.argv) > 4:
        with open(sys.argv[4], "w") as f:
            f.write(svg_chart(st, ir, date))
        name = sys.argv[4].rsplit("/", 1)[-1]
        out.append(f"\n![CPU time and instructions per request, every server]({name})")
    load_tables(st, out)
    ratio_table(st, out)
    targets(st, out)
    standing(st, ir, out)
    disturbed(rows, out)
    syscalls(metrics, out)
    memory(metrics, out)
    startup_and_size(metrics, out)
    out.append(NOTES)
    print("\n".join(out))


if __name__ == "__main__":
    main()
