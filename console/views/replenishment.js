// What to order now (GET /v1/replenishment), grouped by supplier: each row's forecast chart and
// plan, Accept (an incoming shipment, admin) and the loaded rows as CSV.

import { api, ApiError, session } from "../lib/api.js";
import { forecastChart } from "../lib/charts.js";
import { download, errorBox, h, keepingFocus, muted, skuLink, table } from "../lib/dom.js";
import { clearErrors, field, locationSelect, markFieldErrors, onInputSettled, submitWrite, values } from "../lib/forms.js";
import { pagedList } from "../lib/paging.js";
import { acceptBody, acceptKey, forecastSeries, groupBySupplier, perDay, positionOf, replenishmentPath, rowKey, toCsv } from "../lib/replenishment.js";
import { flash, locations, onScreen, render } from "../lib/shell.js";

const methodOf = (r) => String(r.method ?? "").replace(/_/g, " ");

/** A row's chart and plan: history and forecast with its band, and the terms the plan used. */
function replenishmentDetail(r) {
  const series = forecastSeries(r);
  const method = methodOf(r);
  const level = Math.round(Number(r.service_level) * 100);
  const sold = series.omitted ? `the last ${series.history.length} of ${r.history_days} days` : `${series.history.length} days`;
  return h("div", { class: "repl-detail-body" },
    forecastChart({
      title: `Units sold per day and the forecast from ${r.dt} (${r.sku} at ${r.location})`,
      ...series,
      caption: `Units sold per day (${sold}${r.history_last_day ? `, to ${r.history_last_day}` : ""}) and the ${method} forecast for the ${series.forecast.length} days from ${r.dt}, with its band (${level}% service level).`,
    }),
    h("dl", { class: "attrs" },
      h("dt", {}, "Method"), h("dd", {}, `${method}: ${r.method_note ?? ""}`),
      h("dt", {}, "Planned on"), h("dd", {}, `${r.dt}, from ${r.history_days} days of sales history`),
      h("dt", {}, "Lead time"), h("dd", {}, `${r.lead_time_days} days; reviewed every ${r.review_days} days`),
      h("dt", {}, "Ordered in"), h("dd", {}, `packs of ${r.pack_size}, at least ${r.min_order_qty}`),
      h("dt", {}, "Safety stock"), h("dd", {}, `${perDay(r.safety_stock)} (${level}% service level)`),
      h("dt", {}, "Order up to"), h("dd", {}, perDay(r.target)),
      r.planned ? [h("dt", {}, "When planned"), h("dd", {}, `available ${r.planned.available}, in transit ${r.planned.in_transit}, suggested ${r.planned.suggested}`)] : null,
      r.holdout_mae !== undefined && r.holdout_mae !== null ? [h("dt", {}, "Hold-out error"), h("dd", {}, `${perDay(r.holdout_mae)} units a day (mean absolute)`)] : null));
}

export async function viewReplenishment(seq) {
  const s = session();
  const locs = await locations();
  const state = { filter: {}, open: new Set() };
  const groupsBox = h("div", { class: "repl-groups" });
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const listError = h("div", { class: "list-error" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More");
  const exportButton = h("button", { type: "button", class: "secondary", disabled: true }, "Export CSV");
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter suggestions" },
    field("Supplier", h("input", { name: "supplier", type: "search", maxlength: 64, autocomplete: "off", placeholder: "e.g. ACME" })),
    field("Location", locationSelect("location", locs, { all: true })));

  /** A suggestion's row and the row under it that opens to its chart. */
  function rowOf(r) {
    const key = rowKey(r);
    const detailId = `repl-d-${list.rows.indexOf(r)}`;
    const open = state.open.has(key);
    const slot = h("div", { class: "row-status" });
    const toggle = h("button", { type: "button", class: "secondary", "aria-expanded": open ? "true" : "false", "aria-controls": detailId, "aria-label": `Forecast of ${r.sku} at ${r.location}` }, "Forecast");
    const accept = s.canAdmin && !r.ordered
      ? h("button", { type: "button", "aria-label": `Accept: order ${r.suggested} of ${r.sku} at ${r.location}` }, "Accept")
      : null;
    const ordered = r.ordered ? h("span", { class: "tag ok", tabindex: "-1" }, `Ordered ${r.ordered.quantity} (${r.ordered.reference})`) : null;
    const main = h("tr", { "data-key": key, class: r.ordered ? "ordered" : null },
      h("th", { scope: "row" }, skuLink(r.sku)),
      h("td", {}, r.location),
      h("td", {}, methodOf(r)),
      h("td", { class: "num" }, perDay(r.demand_per_day)),
      h("td", { class: "num" }, r.reorder_point),
      h("td", { class: "num" }, positionOf(r), h("span", { class: "muted" }, ` (${r.available} + ${r.in_transit})`)),
      h("td", { class: "num" }, r.suggested),
      h("td", {}, h("span", { class: "actions" }, toggle, accept, ordered), slot));
    const detail = h("tr", { id: detailId, class: "repl-detail", hidden: !open }, h("td", { colspan: 8 }, open ? replenishmentDetail(r) : null));
    toggle.addEventListener("click", () => {
      const opening = !state.open.has(key);
      if (opening) state.open.add(key);
      else state.open.delete(key);
      toggle.setAttribute("aria-expanded", String(opening));
      detail.hidden = !opening;
      detail.firstChild.replaceChildren(...(opening ? [replenishmentDetail(r)] : []));
    });
    accept?.addEventListener("click", async () => {
      if (accept.disabled) return;
      accept.disabled = true;
      slot.replaceChildren(h("span", { class: "muted" }, "Ordering…"));
      const body = acceptBody(r);
      try {
        // The plan's own key: a second click, a retry or another tab records the shipment once.
        await submitWrite(accept, "POST", "/v1/incoming", body, acceptKey(r));
        r.position = positionOf(r) + body.quantity;
        r.in_transit = (Number(r.in_transit) || 0) + body.quantity;
        r.ordered = { quantity: body.quantity, reference: body.reference };
        flash(`Ordered ${body.quantity} of ${r.sku} at ${r.location}: incoming shipment ${body.reference}, in transit now ${r.in_transit}.`);
        const [newMain, newDetail] = rowOf(r);
        main.replaceWith(newMain);
        detail.replaceWith(newDetail);
        newMain.querySelector(".tag.ok")?.focus();
      } catch (e) {
        slot.replaceChildren(errorBox(`Not ordered: ${e.message}`));
        accept.disabled = false;
      }
    });
    return [main, detail];
  }

  function groupSection(g, i) {
    const id = `repl-g${i}`;
    const n = g.items.length;
    return h("section", { class: "repl-group", "aria-labelledby": id },
      h("h2", { id }, g.supplier ?? "No supplier", " ", h("span", { class: "muted" }, `(${n} ${n === 1 ? "order" : "orders"})`)),
      table(g.supplier ? `Orders to place with ${g.supplier}` : "Orders without a supplier",
        ["SKU", "Location", "Method", "Demand / day", "Reorder point", "Position (available + in transit)", "Suggested", "Actions"],
        h("tbody", {}, g.items.map(rowOf))));
  }

  function draw() {
    const filtered = !!(state.filter.supplier || state.filter.location);
    keepingFocus(groupsBox, () => {
      groupsBox.replaceChildren(...groupBySupplier(list.rows).map(groupSection));
      if (!list.rows.length) {
        groupsBox.append(muted(list.done
          ? `Nothing to order${filtered ? " here" : ""}: no level is at or below its reorder point.`
          : "None on this page of the list: More reads on."));
      }
    });
    const n = list.rows.length;
    status.textContent = `${n} ${n === 1 ? "suggestion" : "suggestions"}${list.done ? "" : " (more available)"}.`;
    more.hidden = list.done;
    exportButton.disabled = n === 0;
  }

  const list = pagedList({
    seq,
    more,
    read: (cursor) => api("GET", replenishmentPath({ ...state.filter, cursor })),
    // A level listed again on a later page (its stock moved meanwhile) is shown once.
    add: (rows, items) => {
      const known = new Set(rows.map(rowKey));
      return items.filter((r) => !known.has(rowKey(r)));
    },
    draw: () => {
      listError.replaceChildren();
      draw();
    },
  });

  /** Reads the list afresh for the filters' values (the API filters on the server). */
  async function restart() {
    try {
      await list.restart(() => {
        const v = values(filters);
        state.filter = { supplier: v.supplier.trim(), location: v.location };
        state.open.clear();
        clearErrors(filters);
        return JSON.stringify(state.filter);
      });
    } catch (e) {
      if (!onScreen(seq)) return;
      groupsBox.replaceChildren();
      status.textContent = "";
      more.hidden = true;
      exportButton.disabled = true;
      listError.replaceChildren(errorBox(e));
      if (e instanceof ApiError) markFieldErrors(filters, e.fieldErrors());
    }
  }
  const cancelTyped = onInputSettled(filters, () => restart());
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    cancelTyped();
    restart();
  });
  more.addEventListener("click", () => list.loadPage().catch((e) => listError.replaceChildren(errorBox(e))));
  exportButton.addEventListener("click", () => {
    // The rows loaded so far, as shown (More first for the rest of the list).
    download(`replenishment-${list.rows[0]?.dt ?? "list"}.csv`, toCsv(list.rows));
  });

  render(seq,
    h("h1", {}, "Replenishment"),
    muted(
      "What to order now: the levels whose stock position (available + in transit) is at or below the reorder point of their latest daily plan, with the order it suggests at the stock as it is now. ",
      s.canAdmin ? "Accept records the order as an incoming shipment (in transit)." : "Accepting a suggestion needs the admin scope."),
    filters,
    h("p", { class: "buttons" }, exportButton),
    listError,
    groupsBox,
    status,
    more);
  await restart();
}
