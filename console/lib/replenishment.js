// The replenishment list (GET /v1/replenishment): the request path of a page, its rows grouped by
// supplier, accepting a suggestion (an incoming shipment, POST /v1/incoming), the CSV export of
// the loaded rows and the days of a row's chart. Pure functions, unit-tested in
// tests/console/replenishment.test.mjs.

/** Items a page of suggestions asks for (the API takes 1 to 100). */
export const REPL_PAGE_LIMIT = 50;
/** Days of sales history a row's chart shows (the API sends up to 180). */
export const HISTORY_SHOWN = 84;

/** The path of one page of the list, optionally of one supplier and/or one location. */
export function replenishmentPath({ supplier = "", location = "", cursor = null, limit = REPL_PAGE_LIMIT } = {}) {
  const q = new URLSearchParams();
  if (supplier) q.set("supplier", supplier);
  if (location) q.set("location", location);
  q.set("limit", String(limit));
  if (cursor) q.set("cursor", cursor);
  return `/v1/replenishment?${q}`;
}

/** The key of a row on the page (a level: SKU and location). */
export function rowKey(item) {
  return `${item.sku} ${item.location}`;
}

/** The stock position a row was listed at: available + in transit, live. */
export function positionOf(item) {
  const p = Number(item.position);
  return Number.isFinite(p) ? p : (Number(item.available) || 0) + (Number(item.in_transit) || 0);
}

/**
 * The rows by supplier, in the order the API lists them (by supplier, location, SKU), the rows
 * without a supplier last: [{ supplier, items }], `supplier` null for those without one.
 */
export function groupBySupplier(items) {
  const groups = new Map();
  for (const item of items) {
    const supplier = item.supplier ? String(item.supplier) : null;
    if (!groups.has(supplier)) groups.set(supplier, { supplier, items: [] });
    groups.get(supplier).items.push(item);
  }
  const named = [...groups.values()].filter((g) => g.supplier !== null);
  return groups.has(null) ? [...named, groups.get(null)] : named;
}

/**
 * The Idempotency-Key of accepting a row: the same for the same plan (day, SKU, location), so a
 * double click, a retry or a second tab orders once. 5 + 10 + 64 + 32 + 2 characters at most,
 * all of [A-Za-z0-9._:-].
 */
export function acceptKey(item) {
  return `repl-${item.dt}-${item.sku}-${item.location}`;
}

/** The incoming shipment that accepts a row's suggestion. */
export function acceptBody(item) {
  return { sku: item.sku, location: item.location, quantity: Number(item.suggested), reference: `REPL-${item.dt}` };
}

/**
 * One CSV cell: a number as it is; text that a spreadsheet would run as a formula (starting with
 * = + - @, a tab or a carriage return) gets a leading ' first, and text with a comma, quote or
 * line break is quoted.
 */
export function csvCell(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  let s = String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The export's columns: [header, value of a row]. */
export const CSV_COLUMNS = [
  ["supplier", (r) => r.supplier ?? ""],
  ["sku", (r) => r.sku],
  ["location", (r) => r.location],
  ["method", (r) => r.method],
  ["demand_per_day", (r) => r.demand_per_day],
  ["reorder_point", (r) => r.reorder_point],
  ["available", (r) => r.available],
  ["in_transit", (r) => r.in_transit],
  ["position", positionOf],
  ["suggested", (r) => r.suggested],
  ["pack_size", (r) => r.pack_size],
  ["min_order_qty", (r) => r.min_order_qty],
  ["lead_time_days", (r) => r.lead_time_days],
  ["dt", (r) => r.dt],
  // What was ordered through the console while the page was open (its reference), else empty.
  ["ordered", (r) => r.ordered?.reference ?? ""],
];

/** The loaded rows as CSV (a header line, then a line a row, each ending in a newline). */
export function toCsv(items) {
  const lines = [CSV_COLUMNS.map(([name]) => name).join(",")];
  for (const item of items) lines.push(CSV_COLUMNS.map(([, value]) => csvCell(value(item))).join(","));
  return lines.join("\n") + "\n";
}

/** The day `n` days after `date` (YYYY-MM-DD, UTC). */
export function addDays(date, n) {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/**
 * What a row's chart draws: the last `shown` days of sales history (each with its day, the last
 * on `history_last_day`) and the forecast per day from `dt` on, with its band.
 */
export function forecastSeries(item, shown = HISTORY_SHOWN) {
  const all = Array.isArray(item.history) ? item.history : [];
  const history = all.slice(Math.max(0, all.length - shown));
  const last = item.history_last_day ?? addDays(item.dt, -1);
  const forecast = Array.isArray(item.forecast) ? item.forecast : [];
  return {
    historyDays: history.map((_, i) => addDays(last, i - history.length + 1)),
    history,
    forecastDays: forecast.map((_, i) => addDays(item.dt, i)),
    forecast,
    low: forecast.map((v, i) => item.band_low?.[i] ?? v),
    high: forecast.map((v, i) => item.band_high?.[i] ?? v),
    omitted: all.length - history.length,
  };
}

/** A quantity per day for people: at most two decimals, no trailing zeros ("20", "2.35"). */
export function perDay(v) {
  const n = Number(v);
  return Number.isFinite(n) ? String(Math.round(n * 100) / 100) : "";
}
