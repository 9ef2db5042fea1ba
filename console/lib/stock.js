// The stock pages' pure parts: the listing's query, the attributes field of a SKU form and how a
// ledger entry's change reads. Unit-tested in tests/console/unit.test.mjs.

/** The listing query of a filter form's values (the API filters on the server). */
export function levelsQuery(f) {
  const q = new URLSearchParams();
  if (f.q.trim()) q.set("q", f.q.trim());
  if (f.location) q.set("location", f.location);
  if (f.max.trim() !== "") q.set("available_max", f.max.trim());
  if (f.below) q.set("below_threshold", "true");
  return q;
}

/** The first page of the CSV export of a listing query (1,000 rows a request). */
export function levelsExportPath(query) {
  return `/v1/levels?${query}${query.toString() ? "&" : ""}format=csv&limit=1000`;
}

/** A SKU form's attributes, one name=value a line: the attributes and the lines that are not. */
export function parseAttributes(text) {
  const attrs = {};
  const errors = [];
  for (const line of text.split(/\n/).map((l) => l.trim()).filter(Boolean)) {
    const i = line.indexOf("=");
    if (i < 1) {
      errors.push(`"${line}" is not name=value`);
      continue;
    }
    attrs[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return { attrs, errors };
}

/** What a ledger entry changed, for people ("on hand +12, available +12"). */
export function ledgerDelta(e) {
  if (e.kind === "adjustment") return `counted ${e.counted ?? e.quantity}${e.expected !== undefined ? ` (expected ${e.expected})` : ""}`;
  const d = e.delta ?? {};
  const parts = [];
  for (const k of ["on_hand", "available", "in_transit"]) if (d[k]) parts.push(`${k.replace("_", " ")} ${d[k] > 0 ? "+" : ""}${d[k]}`);
  if (e.kind === "refund" && e.restocked === false) parts.push("not restocked");
  return parts.join(", ");
}
