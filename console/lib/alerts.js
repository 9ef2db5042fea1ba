// The alert inbox's pure parts: the requests of a filter, the order alerts are listed in and what
// an alert observed, for people. Unit-tested in tests/console/unit.test.mjs.

const SEVERITY_RANK = { critical: 3, warning: 2, info: 1 };

/**
 * The list requests of the inbox's filter form values: one for each state it shows ("open" is
 * firing and acknowledged; "all" is every state in one list).
 */
export function alertPaths(f) {
  const q = new URLSearchParams();
  if (f.severity) q.set("severity", f.severity);
  if (f.sku.trim()) q.set("sku", f.sku.trim());
  if (f.location) q.set("location", f.location);
  const states = f.state === "open" ? ["firing", "acknowledged"] : f.state === "all" ? [null] : [f.state];
  return states.map((st) => {
    const p = new URLSearchParams(q);
    if (st) p.set("state", st);
    const qs = p.toString();
    return `/v1/alerts${qs ? `?${qs}` : ""}`;
  });
}

/** Whether the filter lists exactly the open alerts (those the navigation counts). */
export function onlyOpen(f) {
  return f.state === "open" && !f.severity && !f.sku.trim() && !f.location;
}

/** Open alerts first, then by severity, firing before acknowledged, newest first. */
export function sortAlerts(alerts) {
  const open = (a) => (a.state === "resolved" ? 0 : 1);
  return alerts.sort((a, b) =>
    open(b) - open(a) ||
    (SEVERITY_RANK[b.severity] ?? 0) - (SEVERITY_RANK[a.severity] ?? 0) ||
    (a.state === "firing" ? 0 : 1) - (b.state === "firing" ? 0 : 1) ||
    String(b.fired_at).localeCompare(String(a.fired_at)));
}

export function observationText(a) {
  const o = a.observation ?? {};
  const parts = [];
  if (o.available !== undefined) parts.push(`available ${o.available}`);
  if (o.sold !== undefined) parts.push(`sold ${o.sold}`);
  if (o.days_of_cover !== undefined) parts.push(`${Number(o.days_of_cover).toFixed(1)} days of cover`);
  if (o.idle_days !== undefined) parts.push(`${o.idle_days} days idle`);
  return parts.join(", ");
}
