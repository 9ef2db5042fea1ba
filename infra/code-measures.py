#!/usr/bin/env python3
"""Measures of the code that the redesign is held to, printed by one command:

- the import graph of the library crate's modules (shared/src): circles (modules that import each
  other, directly or through others) and imports that run back up the floors declared below;
- places in the tree that share six or more lines (the same lines once blank lines, comments and
  `use` lines are left out and white space is folded);
- the files of shared/src longer than 700 lines before their `#[cfg(test)]` module, and the size
  of the console's main script.

Usage: python3 infra/code-measures.py [--edges] [--pairs N]
Reads files only; needs nothing beyond Python's standard library.
"""

import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "shared", "src")

# The floors of the library, from the ground up: a module may import modules on its own floor or
# below, never above. (Modules not named here are reported, so the plan keeps up with the code.)
FLOORS = [
    # pure: no AWS types, no I/O
    ["fields", "domain", "clock", "counters", "proof", "forecast", "metrics", "planning", "replenishment"],
    # the stored form of every item, and stream records read straight from their JSON
    ["schema", "schema::alerts", "schema::runs", "stream", "alerts::deliveries", "alerts::rules", "alerts::evaluate", "alerts::outage"],
    # adapters: DynamoDB, SNS, SES
    ["store", "bucket", "history", "store::catalogue", "store::count", "store::execute", "store::ledger", "store::paging", "store::transaction",
     "levels", "alerts::store", "alerts::store::claims", "alerts::store::episodes", "alerts::store::inbox",
     "alerts::store::rulebook", "alerts::store::silences", "alerts::notify", "reservations::ledger", "reservations::store",
     "reservations::availability", "reservations::store::closing", "stocktake::store", "reservations::store::reads", "replenishment::store", "listing", "fanout::task", "fanout::runs", "fanout::queue",
     "listing::by_sku", "reports"],
    # use cases
    ["movements", "reconcile", "upgrade", "reservations", "reservations::expiry", "alerts::engine", "alerts::driver", "alerts::evaluator",
     "alerts::sweep", "alerts::clock", "alerts", "fanout", "replenishment::run",
     "report_writer", "report_writer::objects", "stocktake", "stocktake::apply",
     "stocktake::file", "report_writer::summary", "projections"],
    # HTTP
    ["api", "api::requests", "api::problem", "api::reservations", "api::alerts", "api::levels",
     "api::stocktakes", "api::replenishment", "api::reports", "api::auth", "api::extract",
     "api::movements", "api::respond", "api::routes"],
    # wiring
    ["config", "lambda", "lib"],
]


def module_files():
    """Module path (`alerts::store`) -> file, for every .rs file of shared/src."""
    out = {}
    for dirpath, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            out["::".join(rel) or "lib"] = path
    return out


def code_before_tests(text):
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] if not line.strip().startswith("//") else "" for line in text.split("\n"))


def referenced_paths(module, text):
    """Module paths the code names: `crate::a::b`, `super::x`, and the items of `use` trees."""
    text = strip_comments(code_before_tests(text))
    parts = module.split("::") if module != "lib" else []
    is_mod_file = False
    found = set()
    # Expand `use` trees into whole paths.
    for use in re.findall(r"\buse\s+([^;]+);", text):
        for path in expand(use.replace("\n", " ")):
            found.add(path)
    for path in re.findall(r"\b(?:crate|super)(?:::\w+)+", text):
        found.add(path)
    # A parent module names its children by their own names (`mod stocktakes;` ... `stocktakes::get`).
    for child in re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, flags=re.M):
        if re.search(r"\b" + child + r"::", text):
            found.add("self::" + child)
    resolved = set()
    for path in found:
        segs = [s.strip() for s in path.split("::") if s.strip()]
        if not segs:
            continue
        if segs[0] == "crate":
            base = []
            segs = segs[1:]
        elif segs[0] == "super":
            base = parts[:-1] if not is_mod_file else parts
            segs = segs[1:]
            while segs and segs[0] == "super":
                base = base[:-1]
                segs = segs[1:]
        elif segs[0] == "self":
            base = parts
            segs = segs[1:]
        else:
            continue
        resolved.add("::".join(base + segs))
    return resolved


def expand(tree):
    """`crate::{a::{b, c}, d}` -> [`crate::a::b`, `crate::a::c`, `crate::d`]."""
    tree = tree.strip()
    if tree.startswith("pub "):
        tree = tree[4:]
    m = re.match(r"^([\w:]*?)::\{(.*)\}$", tree, flags=re.S)
    if not m:
        return [re.sub(r"\s+as\s+\w+$", "", tree).strip()]
    prefix, inner = m.group(1), m.group(2)
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    out = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        if item == "self":
            out.append(prefix)
        else:
            out.extend(expand(prefix + "::" + item))
    return out


def owner(path, modules):
    """The longest module that `path` names (an item path resolves to its module)."""
    segs = path.split("::")
    for n in range(len(segs), 0, -1):
        candidate = "::".join(segs[:n])
        if candidate in modules:
            return candidate
    return None


def import_graph():
    modules = module_files()
    edges = defaultdict(set)
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for ref in referenced_paths(module, text):
            target = owner(ref, modules)
            if target and target != module and not module.startswith(target + "::") and target != "lib":
                edges[module].add(target)
    return modules, edges


def circles(modules, edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    return out


def floor_of(module):
    for n, floor in enumerate(FLOORS):
        if module in floor:
            return n
    return None


NOISE = re.compile(r"^\s*(//.*|use\s.*|[{}()\[\];,]*|#\[.*\])?\s*$")


def normalised_lines(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if NOISE.match(line):
                continue
            yield number, " ".join(line.split())


def shared_runs(files, size=6):
    """Pairs of places (in different spots) whose `size` kept lines are the same."""
    seen = defaultdict(list)
    for path in files:
        lines = list(normalised_lines(path))
        for i in range(len(lines) - size + 1):
            window = tuple(text for _, text in lines[i : i + size])
            seen[window].append((path, lines[i][0], lines[i + size - 1][0]))
    pairs = {}
    for places in seen.values():
        if len(places) < 2 or len(places) > 8:
            continue
        for a in range(len(places)):
            for b in range(a + 1, len(places)):
                (pa, sa, ea), (pb, sb, eb) = places[a], places[b]
                if pa == pb and not (ea < sb or eb < sa):
                    continue
                key = (pa, pb) if (pa, sa) < (pb, sb) else (pb, pa)
                # Overlapping windows of one run count once: keep the first start of each pair of files
                # per 6-line block.
                block = (key, sa // size, sb // size)
                pairs.setdefault(block, (pa, sa, ea, pb, sb, eb))
    # Merge windows that belong to one run (same files, starts close together).
    runs = []
    for pa, sa, ea, pb, sb, eb in sorted(pairs.values()):
        if runs and runs[-1][0] == pa and runs[-1][3] == pb and sa <= runs[-1][2] + 1 and sb <= runs[-1][5] + 1:
            last = runs[-1]
            runs[-1] = (pa, last[1], max(last[2], ea), pb, last[4], max(last[5], eb))
        else:
            runs.append((pa, sa, ea, pb, sb, eb))
    distinct = {}
    for pa, sa, ea, pb, sb, eb in runs:
        distinct.setdefault((pa, pb), []).append((sa, ea, sb, eb))
    return distinct


def tracked_sources():
    out = []
    for top in ["shared", "functions", "infra", "tests", "console"]:
        for dirpath, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d not in ("node_modules", "target", "fixtures")]
            for f in files:
                if f.endswith((".rs", ".js", ".py", ".sh")):
                    out.append(os.path.join(dirpath, f))
    return sorted(out)


def main():
    show_edges = "--edges" in sys.argv
    show_pairs = int(sys.argv[sys.argv.index("--pairs") + 1]) if "--pairs" in sys.argv else 10
    modules, edges = import_graph()
    found = circles(modules, edges)
    upward, unplaced = [], sorted(m for m in modules if floor_of(m) is None)
    for a in sorted(edges):
        for b in sorted(edges[a]):
            fa, fb = floor_of(a), floor_of(b)
            if fa is not None and fb is not None and fb > fa:
                upward.append((a, b))
    print(f"import graph of shared/src: {len(modules)} modules, {sum(len(v) for v in edges.values())} imports")
    print(f"  circles: {len(found)}")
    for c in found:
        print("    " + " <-> ".join(c))
    print(f"  imports that run back up a floor: {len(upward)}")
    for a, b in upward:
        print(f"    {a} (floor {floor_of(a)}) -> {b} (floor {floor_of(b)})")
    if unplaced:
        print(f"  modules on no floor of the plan: {', '.join(unplaced)}")
    if show_edges:
        for a in sorted(edges):
            print(f"    {a} -> {', '.join(sorted(edges[a]))}")
    pairs = shared_runs(tracked_sources())
    runs = sum(len(r) for r in pairs.values())
    print(f"places sharing 6 or more identical lines: {runs} runs in {len(pairs)} pairs of files "
          "(lines of the same shape with other names are not counted here)")
    ranked = sorted(pairs.items(), key=lambda kv: -sum(r[1] - r[0] for r in kv[1]))
    for (pa, pb), runs in ranked[:show_pairs]:
        sa, ea, sb, eb = runs[0]
        more = f" (+{len(runs) - 1} more runs)" if len(runs) > 1 else ""
        print(f"    {os.path.relpath(pa, ROOT)}:{sa}-{ea} ~ {os.path.relpath(pb, ROOT)}:{sb}-{eb}{more}")
    print("files of shared/src over 700 lines before their tests:")
    big = []
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            n = code_before_tests(f.read()).count("\n")
        if n > 700:
            big.append((n, os.path.relpath(path, ROOT)))
    for n, path in sorted(big, reverse=True):
        print(f"    {n:5d}  {path}")
    if not big:
        print("    none")
    console = []
    for dirpath, _, files in os.walk(os.path.join(ROOT, "console")):
        for name in files:
            if name.endswith(".js"):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    console.append((f.read().count(chr(10)), os.path.relpath(path, ROOT)))
    lines, path = max(console)
    print(f"console: {len(console)} scripts, the longest {path} with {lines} lines (goal: under 400)")


if __name__ == "__main__":
    main()
