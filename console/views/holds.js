// A SKU's active checkout holds, on its page. They are read alongside the charts: a failure shows
// in this section only. The list comes from an index the table's stream writes, so a hold placed
// a second ago may not be in it yet ("Refresh holds").

import { api } from "../lib/api.js";
import { emptyRow, errorBox, h, muted, table, timeCell } from "../lib/dom.js";
import { HOLDS_PAGES, holdsPath, timeLeft } from "../lib/holds.js";
import { every, onScreen } from "../lib/shell.js";

function holdRow(r) {
  const left = h("td", { class: "time-left" }, timeLeft(r.secondsLeft()));
  const row = h("tr", { "data-key": r.reservation_id },
    h("th", { scope: "row" }, h("code", {}, r.reservation_id)),
    h("td", {}, r.location),
    h("td", { class: "num" }, r.quantity),
    h("td", {}, timeCell(r.expires_at)),
    left,
    h("td", {}, r.reference ?? ""),
    h("td", {}, r.created_by));
  r.refresh = () => {
    const secs = r.secondsLeft();
    left.textContent = timeLeft(secs);
    row.classList.toggle("expired", secs < 0);
  };
  return row;
}

/** The holds on `sku` on the view `seq`: its section, and `load` that reads them. */
export function holdsSection(seq, sku) {
  const body = h("tbody", {}, emptyRow(7, "Loading holds…"));
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const error = h("div", { class: "holds-error" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More holds");
  const refresh = h("button", { type: "button", class: "secondary" }, "Refresh holds");
  const holds = { rows: [], cursor: null };

  function draw() {
    body.replaceChildren(...holds.rows.map(holdRow));
    if (!holds.rows.length) body.append(emptyRow(7, "No active holds."));
    const units = holds.rows.reduce((a, r) => a + r.quantity, 0);
    status.textContent = holds.rows.length
      ? `${holds.rows.length} active ${holds.rows.length === 1 ? "hold" : "holds"}, ${units} ${units === 1 ? "unit" : "units"}${holds.cursor ? " shown; there are more" : ""}.`
      : "";
    more.hidden = !holds.cursor;
  }

  /** Reads up to HOLDS_PAGES pages: from the start, or (`further`) on from where the last read ended. */
  async function load(further = false) {
    more.disabled = refresh.disabled = true;
    try {
      let cursor = further ? holds.cursor : null;
      const rows = further ? [...holds.rows] : [];
      for (let i = 0; i < HOLDS_PAGES; i++) {
        const data = await api("GET", holdsPath(sku, { cursor }));
        const readAt = Date.now();
        for (const item of data.items) {
          rows.push({ ...item, secondsLeft: () => item.expires_in_seconds - (Date.now() - readAt) / 1000 });
        }
        cursor = data.next_cursor ?? null;
        if (!cursor) break;
      }
      if (!onScreen(seq)) return;
      holds.rows = rows;
      holds.cursor = cursor;
      error.replaceChildren();
      draw();
    } catch (e) {
      error.replaceChildren(errorBox(`The holds could not be read: ${e.message}`));
      if (!further) {
        body.replaceChildren(emptyRow(7, "Holds not available."));
        status.textContent = "";
        more.hidden = true;
      }
    } finally {
      more.disabled = refresh.disabled = false;
    }
  }
  more.addEventListener("click", () => load(true));
  refresh.addEventListener("click", () => load(false));
  // The time left counts down while the page is open (no request: from the API's answer).
  every(seq, 15_000, () => holds.rows.forEach((r) => r.refresh?.()));

  const section = h("section", { "aria-labelledby": "holds-h" }, h("h2", { id: "holds-h" }, "Holds"),
    muted("Active checkout holds on this SKU: their units count as reserved until they are committed, released or run out."),
    error,
    table(`Active holds on ${sku}`, ["Reservation", "Location", "Quantity", "Expires at", "Time left", "Reference", "Created by"], body),
    h("div", { class: "pager" }, refresh, status, more));
  return { section, load: () => load(false) };
}
