// The daily reports: pick a day; its charts (units per day, stock on hand, alerts by kind), the
// lowest days of cover, the alert episodes, and the files to download (presigned links).

import { api } from "../lib/api.js";
import { barChart, dailyFromTrends, lineChart, projectStockOut, stockFromTrends } from "../lib/charts.js";
import { errorBox, h, muted, severityTag, skuLink, table, timeCell } from "../lib/dom.js";
import { field } from "../lib/forms.js";
import { render } from "../lib/shell.js";

async function fetchJsonLines(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`The report file could not be downloaded (HTTP ${r.status}).`);
  const text = await r.text();
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function datasetOf(key) {
  return key.split("/")[1] ?? key;
}

/** Every row of a dataset's JSON Lines parts (one part per level-index shard). */
async function fetchDataset(urls) {
  const parts = await Promise.all(urls.map(fetchJsonLines));
  return parts.flat();
}

/** Fills `slot` with what `rows` (a promise) draw as, or with why they could not be read. */
function fill(slot, rows, draw) {
  rows.then((r) => slot.replaceChildren(draw(r))).catch((e) => slot.replaceChildren(errorBox(e)));
}

const minutes = (m) => (m === null || m === undefined ? "—" : m < 120 ? `${m} min` : `${(m / 60).toFixed(1)} h`);

function lowestCover(rows) {
  const low = rows.filter((r) => r.days_of_cover !== null && r.days_of_cover !== undefined).sort((a, b) => a.days_of_cover - b.days_of_cover).slice(0, 10);
  if (!low.length) return muted("No sales in the last 7 days, so no cover to compute.");
  return table("Lowest days of cover", ["SKU", "Location", "Available", "Sold per day (7 d)", "Days of cover"],
    h("tbody", {}, low.map((r) => h("tr", {},
      h("th", { scope: "row" }, skuLink(r.sku)),
      h("td", {}, r.location), h("td", { class: "num" }, r.available),
      h("td", { class: "num" }, Number(r.avg_daily_sales_7d).toFixed(1)), h("td", { class: "num" }, Number(r.days_of_cover).toFixed(1))))));
}

function episodesTable(rows) {
  if (!rows.length) return muted("No alert fired that day.");
  return table("Alert episodes fired that day", ["Fired", "Severity", "Rule", "SKU", "Location", "State", "To acknowledge", "To resolve"],
    h("tbody", {}, rows.map((r) => h("tr", {},
      h("td", {}, timeCell(r.fired_at)), h("td", {}, severityTag(r.severity)),
      h("th", { scope: "row" }, h("a", { href: `#/alerts/${encodeURIComponent(r.alert_id)}` }, r.rule_name)),
      h("td", {}, r.sku), h("td", {}, r.location), h("td", {}, r.state),
      h("td", { class: "num" }, minutes(r.minutes_to_acknowledge)), h("td", { class: "num" }, minutes(r.minutes_to_resolve))))));
}

function downloads(m) {
  return table("Report files", ["File", "Rows", "Size"],
    h("tbody", {}, m.objects.map((o) => h("tr", {},
      h("td", {}, h("a", { href: o.url, download: o.key.split("/").at(-1) }, o.key)),
      h("td", { class: "num" }, o.rows),
      h("td", { class: "num" }, `${(o.bytes / 1024).toFixed(1)} KiB`)))));
}

function section(id, title, ...content) {
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...content);
}

export async function viewReports(seq, dt) {
  const { items } = await api("GET", "/v1/reports");
  if (!items.length) {
    render(seq, h("h1", {}, "Reports"), h("p", {}, "No reports yet. The scheduled function writes one a day (locally every five minutes, or now with ", h("code", {}, "cargo run -q -p local-stack --bin local-stack -- report"), ")."));
    return;
  }
  const day = dt ?? items[0].dt;
  const m = await api("GET", `/v1/reports/${day}`);
  const picker = h("select", { name: "dt", onchange: (e) => (location.hash = `#/reports/${e.target.value}`) },
    items.map((i) => h("option", { value: i.dt, selected: i.dt === day }, i.dt)));
  const urls = (dataset) => m.objects.filter((o) => datasetOf(o.key) === dataset).map((o) => o.url);
  const trendSlot = h("div", { class: "chart-slot" }, muted("Loading…"));
  const stockSlot = h("div", { class: "chart-slot" }, muted("Loading…"));
  const coverSlot = h("div", {}, muted("Loading…"));
  const episodesSlot = h("div", {}, muted("Loading…"));
  const kinds = Object.entries(m.alerts_by_kind ?? {});
  const summary = urls("summary")[0];
  render(seq,
    h("h1", {}, "Reports"),
    h("div", { class: "filters" }, field("Day", picker)),
    h("dl", { class: "attrs" },
      h("dt", {}, "Stock levels"), h("dd", {}, m.levels),
      h("dt", {}, "Alerts fired"), h("dd", {}, m.alerts)),
    summary ? h("p", {}, h("a", { href: summary, target: "_blank", rel: "noopener" }, "Open the HTML summary"), " (link valid ", Math.round(m.url_expires_in_seconds / 60), " minutes)") : null,
    section("rtrend-h", "Units per day", trendSlot),
    section("rstock-h", "Stock on hand", stockSlot),
    section("rkind-h", "Alerts by kind",
      kinds.length
        ? barChart({ title: `Alerts fired on ${day} by kind`, labels: kinds.map(([k]) => k.replace(/_/g, " ")), series: [{ name: "alerts", values: kinds.map(([, n]) => n), cls: "s3" }], caption: `Alerts fired on ${day}, by kind.` })
        : muted("No alerts fired that day.")),
    section("rcover-h", "Lowest days of cover", coverSlot),
    section("ralerts-h", "Alert episodes fired that day", episodesSlot),
    section("rdl-h", "Downloads", downloads(m)));
  const trends = urls("trends-jsonl");
  const snapshot = urls("snapshot-jsonl");
  const snapshotRows = snapshot.length ? fetchDataset(snapshot) : Promise.resolve(null);
  if (trends.length) {
    const trendRows = fetchDataset(trends);
    fill(stockSlot, Promise.all([trendRows, snapshotRows]), ([rows, levels]) => {
      const stock = stockFromTrends(rows);
      const sum = (k) => (levels ?? []).reduce((a, r) => a + (Number(r[k]) || 0), 0);
      return lineChart({
        title: `Units on hand at the end of each day, all SKUs, to ${day}`,
        labels: stock.labels.map((l) => l.slice(5)),
        values: stock.values,
        projection: projectStockOut(sum("available"), sum("avg_daily_sales_7d"), day),
        caption: `Units on hand at the end of each day across all SKUs and locations (trend report of ${day}); days of cover = available ÷ the 7-day average of units sold per day.`,
      });
    });
    fill(trendSlot, trendRows, (rows) => {
      const t = dailyFromTrends(rows);
      return barChart({
        title: `Units sold and received per day, all SKUs, to ${day}`,
        labels: t.labels.map((l) => l.slice(5)),
        series: [{ name: "sold", values: t.sold, cls: "s1" }, { name: "received", values: t.received, cls: "s2" }],
        caption: `Units sold and received per day across all SKUs and locations (trend report of ${day}).`,
      });
    });
  } else {
    trendSlot.replaceChildren(muted("No trend report that day."));
    stockSlot.replaceChildren(muted("No trend report that day."));
  }
  if (snapshot.length) fill(coverSlot, snapshotRows, lowestCover);
  else coverSlot.replaceChildren(muted("No snapshot that day."));
  const episodes = urls("alerts-jsonl");
  if (episodes.length) fill(episodesSlot, fetchDataset(episodes), episodesTable);
  else episodesSlot.replaceChildren(muted("No alert report that day."));
}
