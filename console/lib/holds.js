// A SKU's active checkout holds (GET /v1/skus/{sku}/reservations): the request path and how the
// time a hold has left reads. Pure functions, unit-tested in tests/console/unit.test.mjs.

/** Items a page of holds asks for (the API takes 1 to 100). */
export const HOLDS_PAGE_LIMIT = 50;
/** Pages of holds the SKU page reads in one go before it offers "More holds". */
export const HOLDS_PAGES = 4;

/** The path of one page of a SKU's active holds, optionally at one location. */
export function holdsPath(sku, { cursor = null, location = null, limit = HOLDS_PAGE_LIMIT } = {}) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (location) q.set("location", location);
  if (cursor) q.set("cursor", cursor);
  return `/v1/skus/${encodeURIComponent(sku)}/reservations?${q}`;
}

/**
 * The time a hold has left, for people: "45 s", "14 min", "2 h 5 min", "24 h" (whole units,
 * rounded down, so it never reads longer than it is); "expired" once it has run out, and "" for
 * a value that is not a number.
 */
export function timeLeft(seconds) {
  if (seconds === null || seconds === undefined || seconds === "" || !Number.isFinite(Number(seconds))) return "";
  const s = Math.floor(Number(seconds));
  if (s < 0) return "expired";
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}
