// Unit tests of the console's pure modules: rule form validation (must agree with the API's),
// selector matching (as Selector::selects), problem+json messages, the chart data helpers, the
// SKU page's holds (their path and time left), the stock pages' queries and forms, and the alert
// inbox's requests and order.
import { test } from "node:test";
import assert from "node:assert/strict";

import { bodyOfRule, describeSelector, formFromRule, ruleFormField, ruleFromForm, selectorQuery, selects, validEmail } from "../../console/lib/rules.js";
import { describeProblem, nextLink } from "../../console/lib/api.js";
import { dailyFromCounters, dailyFromLedger, dailyFromTrends, lastDays, projectStockOut, stockFromCounters, stockFromLedger, stockFromTrends } from "../../console/lib/charts.js";
import { HOLDS_PAGE_LIMIT, holdsPath, timeLeft } from "../../console/lib/holds.js";
import { ledgerDelta, levelsExportPath, levelsQuery, parseAttributes } from "../../console/lib/stock.js";
import { alertPaths, observationText, onlyOpen, sortAlerts } from "../../console/lib/alerts.js";

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
    { day: "2026-11-28", sold: 2, received: 0, refunded: 1, written_off: 3 },
  ];
  assert.deepEqual(dailyFromCounters(daily), { sold: [1, 0, 2], received: [0, 10, 0], writtenOff: [0, 0, 3] });
  // 8 now: the 28th sold 2, took 1 back and wrote 3 off (12 before it), the 27th received 10 (so
  // 2 before: the counters hold no stocktake, as the caption says). A day from before write-offs
  // has no `written_off`: none.
  assert.deepEqual(stockFromCounters(daily, 8), [2, 12, 8]);
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

test("the stock listing's filters become its query, and the export asks for CSV pages", () => {
  const all = { q: "", location: "", max: "", below: false };
  assert.equal(levelsQuery(all).toString(), "");
  assert.equal(levelsQuery({ q: " mug ", location: "WH-1", max: " 3 ", below: true }).toString(), "q=mug&location=WH-1&available_max=3&below_threshold=true");
  assert.equal(levelsQuery({ ...all, max: "0" }).toString(), "available_max=0", "0 is a filter, not none");
  assert.equal(levelsExportPath(levelsQuery(all)), "/v1/levels?format=csv&limit=1000");
  assert.equal(levelsExportPath(levelsQuery({ ...all, max: "3" })), "/v1/levels?available_max=3&format=csv&limit=1000");
});

test("a SKU form's attributes are name=value lines; other lines are named", () => {
  assert.deepEqual(parseAttributes("brand=Acme\n  category = kitchen \n\nsize=a=b"), { attrs: { brand: "Acme", category: "kitchen", size: "a=b" }, errors: [] });
  assert.deepEqual(parseAttributes("=x\nnope\nok=1"), { attrs: { ok: "1" }, errors: ['"=x" is not name=value', '"nope" is not name=value'] });
  assert.deepEqual(parseAttributes(""), { attrs: {}, errors: [] });
});

test("a ledger entry's change reads as what moved", () => {
  assert.equal(ledgerDelta({ kind: "receipt", delta: { on_hand: 12, available: 12 } }), "on hand +12, available +12");
  assert.equal(ledgerDelta({ kind: "sale", delta: { on_hand: -2, available: -2, in_transit: 0 } }), "on hand -2, available -2");
  assert.equal(ledgerDelta({ kind: "incoming", delta: { in_transit: 5 } }), "in transit +5");
  assert.equal(ledgerDelta({ kind: "adjustment", counted: 12, expected: 17 }), "counted 12 (expected 17)");
  assert.equal(ledgerDelta({ kind: "adjustment", quantity: 5 }), "counted 5");
  assert.equal(ledgerDelta({ kind: "refund", restocked: false, delta: {} }), "not restocked");
});

test("the inbox's filter is one request a state, and only the unfiltered open list keeps the count", () => {
  const open = { state: "open", severity: "", sku: " ", location: "" };
  assert.deepEqual(alertPaths(open), ["/v1/alerts?state=firing", "/v1/alerts?state=acknowledged"]);
  assert.deepEqual(alertPaths({ state: "all", severity: "critical", sku: " MUG ", location: "WH-1" }), ["/v1/alerts?severity=critical&sku=MUG&location=WH-1"]);
  assert.deepEqual(alertPaths({ ...open, state: "all" }), ["/v1/alerts"]);
  assert.deepEqual(alertPaths({ ...open, state: "resolved", location: "WH 1" }), ["/v1/alerts?location=WH+1&state=resolved"]);
  assert.equal(onlyOpen(open), true);
  assert.equal(onlyOpen({ ...open, sku: "MUG" }), false);
  assert.equal(onlyOpen({ ...open, severity: "info" }), false);
  assert.equal(onlyOpen({ ...open, state: "firing" }), false);
});

test("the inbox lists open alerts first, by severity, firing first, newest first; observations read", () => {
  const alert = (alert_id, state, severity, fired_at) => ({ alert_id, state, severity, fired_at });
  const sorted = sortAlerts([
    alert("r", "resolved", "critical", "2026-12-03"),
    alert("w-ack", "acknowledged", "warning", "2026-12-02"),
    alert("w-fire-old", "firing", "warning", "2026-12-01"),
    alert("w-fire-new", "firing", "warning", "2026-12-02"),
    alert("c", "acknowledged", "critical", "2026-11-30"),
    alert("i", "firing", "info", "2026-12-04"),
  ]);
  assert.deepEqual(sorted.map((a) => a.alert_id), ["c", "w-fire-new", "w-fire-old", "w-ack", "i", "r"]);
  assert.equal(observationText({ observation: { available: 4, sold: 8, days_of_cover: 2.5, idle_days: 3 } }), "available 4, sold 8, 2.5 days of cover, 3 days idle");
  assert.equal(observationText({}), "");
});

test("a refused rule's API fields map to the form's, and a selector's preview asks the listing", () => {
  const fields = [
    ["channels.email[1]", "email"],
    ["selector.sku", "selector_sku"],
    ["selector.attribute.value", "selector_attr_value"],
    ["selector", "selector_type"],
    ["quiet_hours", "quiet_start"],
    ["threshold", "threshold"],
  ];
  for (const [api, form] of fields) assert.equal(ruleFormField(api), form, api);
  const queries = [
    [{ sku: "MUG", location: "WH-1" }, "sku_prefix=MUG&location=WH-1"],
    [{ sku_prefix: "SOCK-" }, "sku_prefix=SOCK-"],
    [{ attribute: { name: "brand", value: "Acme" } }, "attribute=brand%3AAcme"],
    [{}, ""],
  ];
  for (const [selector, query] of queries) assert.equal(selectorQuery(selector).toString(), query, JSON.stringify(selector));
});
