// Unit tests of the console's pure modules: rule form validation (must agree with the API's),
// selector matching (as Selector::selects), problem+json messages, the chart data helpers and the
// SKU page's holds (their path and time left).
import { test } from "node:test";
import assert from "node:assert/strict";

import { bodyOfRule, describeSelector, formFromRule, ruleFromForm, selects, validEmail } from "../../console/lib/rules.js";
import { describeProblem } from "../../console/lib/api.js";
import { dailyFromCounters, dailyFromLedger, dailyFromTrends, lastDays, projectStockOut, stockFromCounters, stockFromLedger, stockFromTrends } from "../../console/lib/charts.js";
import { nextLink } from "../../console/lib/api.js";
import { HOLDS_PAGE_LIMIT, holdsPath, timeLeft } from "../../console/lib/holds.js";

const base = { name: "Low socks", kind: "low_stock", severity: "warning", selector_type: "all", inbox: true, enabled: true };

test("a valid low-stock form becomes the API's rule body", () => {
  const { body, errors } = ruleFromForm({ ...base, threshold: "10", clear_at: "20", email: "a@shop.example, b@shop.example", sms: true, repeat_minutes: "240", selector_type: "sku", selector_sku: "SOCK-BLK", selector_location: "WH-BERLIN" });
  assert.deepEqual(errors, []);
  assert.deepEqual(body, {
    name: "Low socks", kind: "low_stock", severity: "warning", threshold: 10, clear_at: 20,
    selector: { sku: "SOCK-BLK", location: "WH-BERLIN" },
    channels: { sms: true, email: ["a@shop.example", "b@shop.example"], inbox: true },
    repeat_minutes: 240, notify_on_resolve: false, enabled: true,
  });
});

test("bad values are named by the API's field names, with its messages", () => {
  const { errors } = ruleFromForm({ ...base, name: " ", threshold: "-1", clear_at: "x", repeat_minutes: "2", email: "nobody", quiet: true, quiet_start: "3", quiet_end: "3" });
  const byField = Object.fromEntries(errors.map((e) => [e.field, e.message]));
  assert.equal(byField.name, "must be 1 to 256 characters of text");
  assert.equal(byField.threshold, "must be an integer from 0 to 1000000000");
  assert.match(byField.clear_at, /^must be an integer from 1 to/);
  assert.match(byField.repeat_minutes, /5 to 10080/);
  assert.match(byField["channels.email[0]"], /not an email address/);
  assert.ok(byField.quiet_hours);
});

test("clear_at must be above the threshold so a low-stock alert cannot flap", () => {
  const { errors } = ruleFromForm({ ...base, threshold: "10", clear_at: "10" });
  assert.deepEqual(errors, [{ field: "clear_at", message: "must be above threshold, so an alert cannot flap" }]);
  assert.deepEqual(ruleFromForm({ ...base, threshold: "10" }).errors, [], "clear_at is optional");
});

test("each kind asks for its own parameters and ignores the others", () => {
  const v = ruleFromForm({ ...base, kind: "sales_velocity", threshold: "5", window_hours: "49", min_units: "" });
  assert.deepEqual(v.errors.map((e) => e.field).sort(), ["min_units", "window_hours"]);
  assert.equal(v.body.threshold, undefined, "a parameter of another kind is not sent");
  const cover = ruleFromForm({ ...base, kind: "days_of_cover", lookback_days: "7", max_days: "2.5" });
  assert.deepEqual(cover.errors, []);
  assert.equal(cover.body.max_days, 2.5);
  assert.equal(ruleFromForm({ ...base, kind: "days_of_cover", lookback_days: "30", max_days: "0" }).errors.length, 2);
  assert.deepEqual(ruleFromForm({ ...base, kind: "no_receipt", days: "14", below: "0" }).errors, []);
  assert.deepEqual(ruleFromForm({ ...base, kind: "out_of_stock" }).errors, []);
});

test("selectors are checked like the API checks them", () => {
  const f = (extra) => ruleFromForm({ ...base, threshold: "1", ...extra }).errors.map((e) => e.field);
  assert.deepEqual(f({ selector_type: "sku", selector_sku: "-bad" }), ["selector.sku"]);
  assert.deepEqual(f({ selector_type: "prefix", selector_prefix: "" }), ["selector.sku_prefix"]);
  assert.deepEqual(f({ selector_type: "attribute", selector_attr_name: "", selector_attr_value: "" }), ["selector.attribute.name", "selector.attribute.value"]);
  assert.deepEqual(f({ selector_location: "bad location" }), ["selector.location"]);
  assert.equal(ruleFromForm({ ...base, threshold: "1", email: Array.from({ length: 11 }, (_, i) => `o${i}@x.example`).join(",") }).errors[0].field, "channels.email");
});

test("a stored rule round-trips through the form", () => {
  const rule = {
    rule_id: "r1", created_at: "t", updated_at: "t", name: "Acme cover", kind: "days_of_cover", lookback_days: 7, max_days: 3,
    selector: { attribute: { name: "brand", value: "Acme" }, location: "FR" }, severity: "critical",
    channels: { sms: false, email: ["ops@shop.example"], inbox: true }, notify_on_resolve: true, enabled: false,
    quiet_hours: { start_hour: 22, end_hour: 6 },
  };
  const { body, errors } = ruleFromForm(formFromRule(rule));
  assert.deepEqual(errors, []);
  assert.deepEqual(body, bodyOfRule(rule));
});

test("selector matching follows the evaluator's", () => {
  const attrs = { brand: "Acme" };
  assert.ok(selects({}, "A-1", attrs, "WH"));
  assert.ok(selects({ sku_prefix: "A-" }, "A-1", attrs, "WH"));
  assert.ok(!selects({ sku_prefix: "B-" }, "A-1", attrs, "WH"));
  assert.ok(selects({ attribute: { name: "brand", value: "Acme" } }, "A-1", attrs, "WH"));
  assert.ok(!selects({ attribute: { name: "brand", value: "Other" } }, "A-1", attrs, "WH"));
  assert.ok(!selects({ location: "FR" }, "A-1", attrs, "WH"));
  assert.ok(selects({ location: "FR" }, "A-1", attrs, undefined), "without a location only the SKU decides");
  assert.equal(describeSelector({ sku_prefix: "TSHIRT-", location: "FR" }), "SKUs starting TSHIRT- at FR");
});

test("email addresses are accepted and refused as the API does", () => {
  for (const ok of ["ops@shop.example", "a.b+c@x.co"]) assert.ok(validEmail(ok), ok);
  for (const bad of ["ops", "@x.example", "a@x", "a@.x", "a@x.", "a b@x.example", "a<b@x.example"]) assert.ok(!validEmail(bad), bad);
});

test("problems read as sentences", () => {
  assert.equal(
    describeProblem(422, { type: "/problems/validation", detail: "The request has invalid fields.", errors: [{ field: "quantity", message: "must be from 1 to 1000000" }] }),
    "The request has invalid fields. quantity: must be from 1 to 1000000.");
  assert.equal(describeProblem(403, { type: "/problems/forbidden", detail: "x", required_scope: "inventory/admin" }), "You are not allowed to do this (it needs inventory/admin).");
  assert.match(describeProblem(401, null), /Sign in again/);
  assert.match(describeProblem(503, { detail: "Busy." }), /nothing was changed/);
});

test("daily series from the ledger and from trend rows", () => {
  const days = lastDays(3, new Date("2026-11-28T10:00:00Z"));
  assert.deepEqual(days, ["2026-11-26", "2026-11-27", "2026-11-28"]);
  const t = dailyFromLedger([
    { kind: "sale", quantity: 2, at: "2026-11-28T09:00:00Z" },
    { kind: "sale", quantity: 3, at: "2026-11-26T09:00:00Z" },
    { kind: "receipt", quantity: 10, at: "2026-11-27T09:00:00Z" },
    { kind: "refund", quantity: 1, restocked: false, at: "2026-11-28T09:00:00Z" },
    { kind: "sale", quantity: 99, at: "2026-11-01T09:00:00Z" },
  ], days);
  assert.deepEqual(t, { sold: [3, 0, 2], received: [0, 10, 0], refunded: [0, 0, 0] });
  const r = dailyFromTrends([
    { day: "2026-11-28", sold: 1, received: 0, refunded: 0 },
    { day: "2026-11-27", sold: 2, received: 5, refunded: 1 },
    { day: "2026-11-28", sold: 4, received: 1, refunded: 0 },
  ]);
  assert.deepEqual(r, { labels: ["2026-11-27", "2026-11-28"], sold: [2, 5], received: [5, 1], refunded: [1, 0] });
});

test("the stock line is put back from the ledger or the trend rows, and stock-out is projected from days of cover", () => {
  const days = ["2026-11-26", "2026-11-27", "2026-11-28"];
  // 8 on hand now. The 28th sold 2; the 27th received 10 and a stocktake found one missing.
  const entries = [
    { kind: "sale", delta: { on_hand: -2 }, at: "2026-11-28T09:00:00Z" },
    { kind: "adjustment", before: { on_hand: 11 }, after: { on_hand: 10 }, at: "2026-11-27T12:00:00Z" },
    { kind: "receipt", delta: { on_hand: 10 }, at: "2026-11-27T09:00:00Z" },
  ];
  assert.deepEqual(stockFromLedger(entries, days, 8), [1, 10, 8]);
  const s = stockFromTrends([
    { day: "2026-11-28", on_hand: 3 }, { day: "2026-11-27", on_hand: 5 }, { day: "2026-11-28", on_hand: 4 },
  ]);
  assert.deepEqual(s, { labels: ["2026-11-27", "2026-11-28"], values: [5, 7] });
  assert.deepEqual(projectStockOut(20, 4, "2026-11-28"), { days: 5, date: "2026-12-03" });
  assert.deepEqual(projectStockOut(7, 2, "2026-11-28"), { days: 3.5, date: "2026-12-01" });
  assert.equal(projectStockOut(20, 0, "2026-11-28"), null);
  assert.equal(projectStockOut(1e12, 1e-3, "2026-11-28"), null, "no date beyond ten years");
});

test("the SKU chart and stock line come from the daily counters; an export follows Link", () => {
  const daily = [
    { day: "2026-11-26", sold: 1, received: 0, refunded: 0 },
    { day: "2026-11-27", sold: 0, received: 10, refunded: 0 },
    { day: "2026-11-28", sold: 2, received: 0, refunded: 1 },
  ];
  assert.deepEqual(dailyFromCounters(daily), { sold: [1, 0, 2], received: [0, 10, 0] });
  // 8 now: the 28th sold 2 and took 1 back (9 before it), the 27th received 10 (so -1 before:
  // the counters hold no stocktake, as the caption says).
  assert.deepEqual(stockFromCounters(daily, 8), [-1, 9, 8]);
  assert.equal(nextLink('</v1/levels?format=csv&cursor=abc>; rel="next"'), "/v1/levels?format=csv&cursor=abc");
  assert.equal(nextLink(null), null);
  assert.equal(nextLink('</x>; rel="prev"'), null);
});

test("a hold's time left reads in whole units, rounded down", () => {
  assert.equal(timeLeft(45), "45 s");
  assert.equal(timeLeft(0), "0 s");
  assert.equal(timeLeft(59.9), "59 s");
  assert.equal(timeLeft(60), "1 min");
  assert.equal(timeLeft(14 * 60 + 59), "14 min", "never longer than it is");
  assert.equal(timeLeft(899), "14 min", "a 15-minute hold a moment after it was placed");
  assert.equal(timeLeft(3599), "59 min");
  assert.equal(timeLeft(3600), "1 h");
  assert.equal(timeLeft(2 * 3600 + 5 * 60 + 30), "2 h 5 min");
  assert.equal(timeLeft(1440 * 60), "24 h", "the longest hold the API grants");
  assert.equal(timeLeft(-1), "expired");
  assert.equal(timeLeft(-0.5), "expired", "a hold past its expiry by less than a second");
  for (const bad of [null, undefined, "", "soon", NaN, Infinity]) assert.equal(timeLeft(bad), "", String(bad));
  assert.equal(timeLeft("90"), "1 min", "a number in a string still reads");
});

test("the holds of a SKU are read page by page, optionally at one location", () => {
  assert.ok(HOLDS_PAGE_LIMIT >= 1 && HOLDS_PAGE_LIMIT <= 100, "within the API's limit");
  assert.equal(holdsPath("SOCK-BLK"), `/v1/skus/SOCK-BLK/reservations?limit=${HOLDS_PAGE_LIMIT}`);
  assert.equal(holdsPath("A B/1", { cursor: "eyJ+/=", location: "WH-1", limit: 10 }),
    "/v1/skus/A%20B%2F1/reservations?limit=10&location=WH-1&cursor=eyJ%2B%2F%3D");
  assert.equal(holdsPath("X", { cursor: null }), `/v1/skus/X/reservations?limit=${HOLDS_PAGE_LIMIT}`);
});

test("the form refuses exactly what the API refuses (cases shared with tests/contract.rs)", async () => {
  const { readFile } = await import("node:fs/promises");
  const cases = JSON.parse(await readFile(new URL("../fixtures/rule-validation.json", import.meta.url), "utf8"));
  assert.ok(cases.length >= 15);
  for (const c of cases) {
    const { errors } = ruleFromForm(formFromRule(c.body));
    assert.deepEqual(errors.map((e) => e.field).sort(), c.errors, c.why);
  }
});
