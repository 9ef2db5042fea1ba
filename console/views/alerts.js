// The alert inbox: open alerts first, by severity; filters; refreshed every few seconds (new
// alerts announced); acknowledge and resolve one at a time or ticked ones at once; the silences in
// force.

import { api, listAll, session } from "../lib/api.js";
import { alertPaths, observationText, onlyOpen, sortAlerts } from "../lib/alerts.js";
import { emptyRow, h, keepingFocus, severityTag, skuLink, table, timeCell } from "../lib/dom.js";
import { field, locationSelect, values } from "../lib/forms.js";
import { SEVERITIES } from "../lib/rules.js";
import { every, flash, keepCount, locations, onScreen, POLL_MS, render, showOpenCount } from "../lib/shell.js";
import { alertButtons } from "./alert.js";
import { silencesSection } from "./silences.js";

const STATES = [["open", "Open (firing or acknowledged)"], ["firing", "Firing"], ["acknowledged", "Acknowledged"], ["resolved", "Resolved"], ["all", "All"]];
const BULK = [["acknowledge", "Acknowledge selected"], ["resolve", "Resolve selected"], ["silence_sku", "Silence their SKUs for an hour"]];

async function fetchAlerts(f) {
  const lists = await Promise.all(alertPaths(f).map((path) => listAll(path, { max: 300 })));
  return { items: sortAlerts(lists.flatMap((l) => l.items)), more: lists.some((l) => l.more) };
}

export async function viewAlerts(seq, presetSku) {
  const locs = await locations();
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter alerts" },
    field("State", h("select", { name: "state" }, STATES.map(([v, l]) => h("option", { value: v }, l)))),
    field("Severity", h("select", { name: "severity" }, h("option", { value: "" }, "Any"), SEVERITIES.map((x) => h("option", { value: x }, x)))),
    field("SKU", h("input", { name: "sku", type: "search", value: presetSku, autocomplete: "off" })),
    field("Location", locationSelect("location", locs, { all: true })));
  const body = h("tbody");
  const status = h("p", { class: "muted", "aria-live": "polite" });
  let known = null;
  let shown = null;
  let latest = 0;
  // Alerts ticked for a bulk action (kept across refreshes).
  const picked = new Set();
  const canAdmin = session().canAdmin;
  const pickedCount = h("span", { "aria-live": "polite" }, "");
  const bulk = h("div", { class: "bulk", hidden: !canAdmin },
    pickedCount,
    ...BULK.map(([action, label]) => {
      const b = h("button", { type: "button", class: "secondary", "data-action": action }, label);
      b.addEventListener("click", () => bulkAction(action).catch((e) => flash(e.message, "bad")));
      return b;
    }));
  function showPicked() {
    pickedCount.textContent = picked.size ? `${picked.size} selected. ` : "Tick alerts to act on many at once. ";
    for (const b of bulk.querySelectorAll("button")) b.disabled = picked.size === 0;
  }
  async function bulkAction(action) {
    const ids = [...picked];
    const results = [];
    // 100 alerts a request.
    for (let i = 0; i < ids.length; i += 100) {
      const body = { action, alert_ids: ids.slice(i, i + 100) };
      if (action === "silence_sku") Object.assign(body, { minutes: 60, reason: "silenced from the inbox" });
      results.push(...(await api("POST", "/v1/alerts/bulk", { body })).results);
    }
    const refused = results.filter((x) => x.status !== 200);
    const why = refused.slice(0, 3).map((x) => `${x.alert_id}: ${x.problem?.detail ?? x.status}`).join("; ");
    flash(`${results.length - refused.length} done, ${refused.length} refused${why ? ` (${why})` : ""}.`, refused.length ? "warn" : "ok");
    picked.clear();
    showPicked();
    shown = null;
    await refresh(false);
  }

  async function refresh(announce) {
    // Only the answer to the latest request is drawn: a slow poll never overwrites the result of
    // a filter chosen after it started.
    const mine = ++latest;
    const f = values(filters);
    const { items, more } = await fetchAlerts(f);
    if (!onScreen(seq) || mine !== latest) return;
    const unfiltered = onlyOpen(f);
    keepCount(unfiltered ? seq : 0);
    if (unfiltered) showOpenCount(items.length, more);
    const ids = new Set(items.map((a) => a.alert_id));
    if (announce && known) {
      const fresh = items.filter((a) => !known.has(a.alert_id)).length;
      if (fresh) flash(`${fresh} new alert${fresh > 1 ? "s" : ""}.`, "warn");
    }
    known = ids;
    const text = `${items.length}${more ? "+" : ""} alert${items.length === 1 ? "" : "s"}; updates every ${POLL_MS / 1000} s.`;
    if (status.textContent !== text) status.textContent = text;
    const snapshot = JSON.stringify(items);
    if (snapshot === shown) return; // nothing changed: leave the rows (and the focus) alone
    shown = snapshot;
    keepingFocus(body, () => drawRows(items));
  }

  function pickBox(a) {
    const box = h("input", { type: "checkbox", "aria-label": `Select ${a.rule_name}, ${a.sku} at ${a.location}` });
    box.checked = picked.has(a.alert_id);
    box.addEventListener("change", () => {
      if (box.checked) picked.add(a.alert_id);
      else picked.delete(a.alert_id);
      showPicked();
    });
    return box;
  }

  function drawRows(items) {
    body.replaceChildren(...items.map((a) => h("tr", { class: `state-${a.state}`, "data-alert": a.alert_id, "data-key": a.alert_id },
      canAdmin ? h("td", {}, pickBox(a)) : null,
      h("td", {}, severityTag(a.severity)),
      h("th", { scope: "row" }, h("a", { href: `#/alerts/${encodeURIComponent(a.alert_id)}` }, a.rule_name)),
      h("td", {}, skuLink(a.sku)),
      h("td", {}, a.location),
      h("td", {}, a.state),
      h("td", {}, timeCell(a.fired_at)),
      h("td", {}, observationText(a)),
      h("td", {}, alertButtons(a, () => refresh(false))))));
    if (!items.length) body.append(emptyRow(canAdmin ? 9 : 8, "No alerts match."));
  }
  filters.addEventListener("change", () => {
    known = null;
    // Ticks are for the alerts shown: a new filter starts without any.
    picked.clear();
    showPicked();
    refresh(false).catch((e) => flash(e.message, "bad"));
  });
  filters.addEventListener("submit", (e) => e.preventDefault());

  const silences = await silencesSection();
  const drawn = render(seq,
    h("h1", {}, "Alerts"),
    filters,
    bulk,
    table("Alert inbox", [...(canAdmin ? ["Select"] : []), "Severity", "Rule", "SKU", "Location", "State", "Fired", "Observed", "Actions"], body),
    status,
    silences);
  if (!drawn) return;
  showPicked();
  await refresh(false);
  every(seq, POLL_MS, () => refresh(true).catch(() => {}));
}
