// A SKU's page: its levels and totals, its holds, its sales and stock charts, its ledger, and for
// admins the movement forms and its edit form.

import { api, session } from "../lib/api.js";
import { barChart, dailyFromCounters, lineChart, projectStockOut, stockFromCounters } from "../lib/charts.js";
import { emptyRow, errorBox, h, table, timeCell } from "../lib/dom.js";
import { locations, reload, render } from "../lib/shell.js";
import { holdsSection } from "./holds.js";
import { ledgerSection, movementForms } from "./movements.js";
import { skuEditor } from "./sku-editor.js";

function levelsTable(sku) {
  const num = (v) => h("td", { class: "num" }, v);
  return table(`Stock levels of ${sku.sku}`, ["Location", "On hand", "Reserved", "In transit", "Available", "Updated"],
    h("tbody", {},
      sku.levels.length ? sku.levels.map((l) => h("tr", {},
        h("th", { scope: "row" }, l.location), num(l.on_hand), num(l.reserved),
        num(l.in_transit), num(l.available), h("td", {}, timeCell(l.updated_at))))
        : emptyRow(6, "No stock recorded at any location yet.")),
    h("tfoot", {}, h("tr", {}, h("th", { scope: "row" }, "Total"), num(sku.totals.on_hand), num(sku.totals.reserved),
      num(sku.totals.in_transit), num(sku.totals.available), h("td", {}))));
}

export async function viewSku(seq, id) {
  const s = session();
  const path = `/v1/skus/${encodeURIComponent(id)}`;
  const [sku, locs] = await Promise.all([api("GET", path), locations()]);
  const chartSlot = h("div", { class: "chart-slot" });
  const stockSlot = h("div", { class: "chart-slot" });

  async function drawTrend() {
    // One request: the daily counters every level keeps (no ledger paging, nothing cut off).
    const daily = (await api("GET", `${path}/daily?days=14`)).days;
    const days = daily.map((d) => d.day);
    const t = dailyFromCounters(daily);
    chartSlot.replaceChildren(barChart({
      title: `Units sold, received and written off per day, last 14 days (${sku.sku})`,
      labels: days.map((d) => d.slice(5)),
      series: [
        { name: "sold", values: t.sold, cls: "s1" },
        { name: "received", values: t.received, cls: "s2" },
        { name: "written off", values: t.writtenOff, cls: "s3" },
      ],
      caption: `Units sold, received and written off per day, last 14 days (UTC), from the daily counters; ${t.writtenOff.reduce((a, b) => a + b, 0)} written off in all.`,
    }));
    const perDay = t.sold.slice(-7).reduce((a, b) => a + b, 0) / 7;
    stockSlot.replaceChildren(lineChart({
      title: `Units on hand at the end of each day, last 14 days (${sku.sku}, all locations)`,
      labels: days.map((d) => d.slice(5)),
      values: stockFromCounters(daily, sku.totals.on_hand),
      projection: projectStockOut(sku.totals.available, perDay, days.at(-1)),
      caption: "Units on hand at the end of each day (UTC), put back from today's stock by the units sold, received, refunded and written off each day (stocktakes and transfers are not in those counters); days of cover = available ÷ units sold per day over the last 7 days.",
    }));
  }

  const holds = holdsSection(seq, sku.sku);
  const ledger = ledgerSection(seq, sku.sku, path);
  const attrs = Object.entries(sku.attributes ?? {});
  render(seq,
    h("p", { class: "crumbs" }, h("a", { href: "#/stock" }, "Stock"), " / ", sku.sku),
    h("h1", {}, sku.name, " ", h("span", { class: "muted" }, `(${sku.sku})`)),
    attrs.length ? h("dl", { class: "attrs" }, attrs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])) : null,
    h("p", {}, h("a", { href: `#/alerts/sku/${encodeURIComponent(sku.sku)}` }, "Alerts for this SKU")),
    h("section", { "aria-labelledby": "levels-h" }, h("h2", { id: "levels-h" }, "Levels"), levelsTable(sku)),
    holds.section,
    s.canAdmin ? movementForms(sku, locs, () => reload()) : null,
    s.canAdmin ? h("details", { class: "panel" }, h("summary", {}, "Edit SKU"), skuEditor({ sku, onSaved: () => reload() })) : null,
    h("section", { "aria-labelledby": "trend-h" }, h("h2", { id: "trend-h" }, "Trend"), chartSlot),
    h("section", { "aria-labelledby": "stock-h" }, h("h2", { id: "stock-h" }, "Stock on hand"), stockSlot),
    ledger.section);
  await Promise.all([ledger.load(), holds.load(), drawTrend().catch((e) => {
    chartSlot.replaceChildren(errorBox(e));
    stockSlot.replaceChildren();
  })]);
}
