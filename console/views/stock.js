// The stock listing: every level with its SKU's name, filtered on the server, a page at a time,
// and its CSV export; for admins the panels that add SKUs, locations and stocktakes.

import { api, apiRaw, nextLink, session } from "../lib/api.js";
import { download, h, keepingFocus, skuLink, table } from "../lib/dom.js";
import { checkbox, field, locationSelect, onInputSettled, values } from "../lib/forms.js";
import { pagedList } from "../lib/paging.js";
import { flash, locations, render } from "../lib/shell.js";
import { levelsExportPath, levelsQuery } from "../lib/stock.js";
import { locationsPanel } from "./locations.js";
import { newSkuForm } from "./sku-editor.js";
import { stocktakePanel } from "./stocktakes.js";

/** Every page of a filtered CSV export, following the API's `Link: rel="next"`. */
async function exportLevels(query) {
  const parts = [];
  let path = levelsExportPath(query);
  for (let n = 0; path && n < 500; n++) {
    const r = await apiRaw("GET", path);
    parts.push(await r.text());
    path = nextLink(r.headers.get("link"));
  }
  return parts.join("");
}

function levelRow(r) {
  const link = skuLink(r.sku);
  if (r.location === null) {
    return h("tr", {}, h("th", { scope: "row" }, link), h("td", {}, r.name), h("td", { colspan: 5, class: "muted" }, "no stock recorded"));
  }
  const low = r.below_threshold;
  return h("tr", { class: low ? "low" : null },
    h("th", { scope: "row" }, link),
    h("td", {}, r.name),
    h("td", {}, r.location),
    h("td", { class: "num" }, r.on_hand),
    h("td", { class: "num" }, r.reserved),
    h("td", { class: "num" }, r.in_transit),
    h("td", { class: "num" }, r.available, low ? h("span", { class: "tag warn" }, ` ≤ ${r.alert_threshold}`) : null));
}

export async function viewStock(seq) {
  const s = session();
  const locs = await locations();
  const body = h("tbody");
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const exportButton = h("button", { type: "button", class: "secondary" }, "Download as CSV");
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter stock" },
    field("Search", h("input", { name: "q", type: "search", placeholder: "SKU id or name" })),
    field("Location", locationSelect("location", locs, { all: true })),
    field("Available at or below", h("input", { name: "max", type: "number", min: 0, inputmode: "numeric" })),
    checkbox("Only below an alert threshold", "below", false));

  const list = pagedList({
    seq,
    more,
    read: (cursor) => {
      const q = new URLSearchParams(list.query);
      q.set("limit", "50");
      if (cursor) q.set("cursor", cursor);
      return api("GET", `/v1/levels?${q}`);
    },
    draw: () => {
      keepingFocus(body, () => body.replaceChildren(...list.rows.map(levelRow)));
      status.textContent = `${list.rows.length} rows${list.done ? "" : " (more available)"}.`;
      more.hidden = list.done;
    },
  });
  const restart = () => list.restart(() => levelsQuery(values(filters)).toString());
  onInputSettled(filters, () => restart().catch((e) => flash(e.message, "bad")));
  filters.addEventListener("submit", (e) => e.preventDefault());
  more.addEventListener("click", () => list.loadPage().catch((e) => flash(e.message, "bad")));
  exportButton.addEventListener("click", async () => {
    exportButton.disabled = true;
    try {
      download("stock.csv", await exportLevels(levelsQuery(values(filters))));
    } catch (e) {
      flash(e.message, "bad");
    } finally {
      exportButton.disabled = false;
    }
  });

  const parts = [h("h1", {}, "Stock")];
  if (s.canAdmin) parts.push(newSkuForm(), locationsPanel(locs), stocktakePanel());
  parts.push(
    filters,
    h("p", {}, exportButton),
    table("Stock levels", ["SKU", "Name", "Location", "On hand", "Reserved", "In transit", "Available"], body),
    status,
    more,
  );
  render(seq, ...parts);
  await restart();
}
