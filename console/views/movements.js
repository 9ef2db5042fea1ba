// A SKU's stock movements: the forms ops record them with (admin) and the ledger that lists them,
// newest first, a page at a time.

import { api } from "../lib/api.js";
import { emptyRow, h, table, timeCell } from "../lib/dom.js";
import { checkbox, field, intOrNull, locationSelect, onSubmit, submitWrite } from "../lib/forms.js";
import { flash, onScreen } from "../lib/shell.js";
import { ledgerDelta } from "../lib/stock.js";

/** The reason codes of a write-off (the API's `ReasonCode`). */
const WRITE_OFF_REASONS = ["damaged", "expired", "lost", "theft", "other"];

/** The movement just recorded through a form, until the ledger shows it. */
let awaitedMovement = null;
const LEDGER_WAIT_MS = 5000;

/** The forms ops use to record stock movements for one SKU; `reload` draws the page again. */
export function movementForms(sku, locs, reload) {
  const loc = (name = "location", label = "Location") => field(label, locationSelect(name, locs, { required: true, value: sku.levels[0]?.location ?? "" }));
  const qty = () => field("Quantity", h("input", { name: "quantity", type: "number", min: 1, max: 1000000, required: true, inputmode: "numeric" }));
  const ref = () => field("Reference (optional)", h("input", { name: "reference", maxlength: 256 }), "A purchase order, shipment or note");
  const forms = [
    {
      title: "Record a receipt",
      path: "/v1/receipts",
      fields: [loc(), qty(), checkbox("Take it out of in transit", "from_in_transit", false), ref()],
      body: (v) => ({ sku: sku.sku, location: v.location, quantity: intOrNull(v.quantity), from_in_transit: v.from_in_transit, reference: v.reference.trim() || undefined }),
      done: "Receipt recorded.",
    },
    {
      title: "Record an incoming shipment",
      path: "/v1/incoming",
      fields: [loc(), qty(), ref()],
      body: (v) => ({ sku: sku.sku, location: v.location, quantity: intOrNull(v.quantity), reference: v.reference.trim() || undefined }),
      done: "Incoming shipment recorded.",
    },
    {
      title: "Stocktake (adjustment)",
      path: "/v1/adjustments",
      fields: [
        loc(),
        field("Counted on hand", h("input", { name: "counted", type: "number", min: 0, required: true, inputmode: "numeric" })),
        field("Expected on hand", h("input", { name: "expected", type: "number", min: 0, inputmode: "numeric" }), "The on-hand value you counted against; refused if stock changed meanwhile"),
        field("Reason", h("input", { name: "reason", required: true, maxlength: 256, value: "stocktake" })),
      ],
      body: (v) => ({ sku: sku.sku, location: v.location, counted: intOrNull(v.counted), expected: intOrNull(v.expected) ?? undefined, reason: v.reason.trim() }),
      done: "Stocktake recorded.",
      setup: (form) => {
        const fill = () => {
          const level = sku.levels.find((l) => l.location === form.elements.location.value);
          form.elements.expected.value = level ? level.on_hand : "";
        };
        form.elements.location.addEventListener("change", fill);
        fill();
      },
    },
    {
      title: "Write off stock",
      path: "/v1/writeoffs",
      fields: [
        loc(),
        qty(),
        field("Reason", h("select", { name: "reason_code", required: true },
          h("option", { value: "" }, "Choose…"),
          WRITE_OFF_REASONS.map((r) => h("option", { value: r }, r)))),
        field("Note (optional)", h("input", { name: "note", maxlength: 256 }), "What happened, for the ledger"),
      ],
      body: (v) => ({ sku: sku.sku, location: v.location, quantity: intOrNull(v.quantity), reason_code: v.reason_code, note: v.note.trim() || undefined }),
      done: "Write-off recorded.",
    },
    {
      title: "Transfer between locations",
      path: "/v1/transfers",
      fields: [loc("from", "From"), field("To", locationSelect("to", locs, { required: true })), qty(), ref()],
      body: (v) => ({ sku: sku.sku, from: v.from, to: v.to, quantity: intOrNull(v.quantity), reference: v.reference.trim() || undefined }),
      done: "Transfer recorded.",
    },
  ];
  return h("section", { class: "movements", "aria-labelledby": "movements-h" },
    h("h2", { id: "movements-h" }, "Record a movement"),
    forms.map((spec) => {
      const form = h("form", { class: "stack" }, spec.fields, h("button", { type: "submit" }, spec.title));
      spec.setup?.(form);
      onSubmit(form, {
        send: async (v) => {
          const result = await submitWrite(form, "POST", spec.path, spec.body(v));
          // The ledger is written from the table's stream a moment after the movement: the SKU
          // page waits for this one to appear.
          awaitedMovement = result?.movement_id ?? null;
          flash(spec.done);
          await reload();
        },
        refused: "Not recorded",
      });
      return h("details", { class: "panel" }, h("summary", {}, spec.title), form);
    }));
}

/** The ledger of the SKU at `path` on the view `seq`: its section, and `load` for its first page. */
export function ledgerSection(seq, sku, path) {
  const cursors = [null];
  let page = 0;
  const body = h("tbody");
  const newer = h("button", { type: "button" }, "Newer");
  const older = h("button", { type: "button" }, "Older");
  const pageInfo = h("span", { class: "muted", "aria-live": "polite" });

  async function load(target = page) {
    newer.disabled = older.disabled = true;
    const c = cursors[target];
    let data;
    try {
      const url = `${path}/ledger?limit=20${c ? `&cursor=${encodeURIComponent(c)}` : ""}`;
      // The movement this page was drawn for: a later one recorded meanwhile is its own page's
      // to wait for, and stays awaited when this wait ends.
      const awaited = target === 0 ? awaitedMovement : null;
      data = await api("GET", url);
      const started = Date.now();
      while (awaited && !data.items.some((e) => e.movement_id === awaited)
        && Date.now() - started < LEDGER_WAIT_MS && onScreen(seq)) {
        pageInfo.textContent = "Recording the new movement…";
        await new Promise((r) => setTimeout(r, 250));
        data = await api("GET", url);
      }
      if (awaited && awaitedMovement === awaited) awaitedMovement = null;
    } catch (e) {
      newer.disabled = page === 0;
      older.disabled = !cursors[page + 1];
      throw e;
    }
    page = target;
    cursors[page + 1] = data.next_cursor;
    body.replaceChildren(...data.items.map((e) => h("tr", {},
      h("td", {}, timeCell(e.at)),
      h("td", {}, e.kind.replace("_", " ")),
      h("td", {}, e.location),
      h("td", { class: "num" }, e.quantity),
      h("td", {}, ledgerDelta(e)),
      h("td", {}, [e.reason_code, e.reference, e.reason, e.order_id && `order ${e.order_id}`].filter(Boolean).join(" · ")),
      h("td", {}, e.actor))));
    if (!data.items.length) body.append(emptyRow(7, "No movements yet."));
    newer.disabled = page === 0;
    older.disabled = !data.next_cursor;
    pageInfo.textContent = `Page ${page + 1}`;
  }
  newer.addEventListener("click", () => load(page - 1).catch((e) => flash(e.message, "bad")));
  older.addEventListener("click", () => load(page + 1).catch((e) => flash(e.message, "bad")));

  const section = h("section", { "aria-labelledby": "ledger-h" }, h("h2", { id: "ledger-h" }, "Ledger (newest first)"),
    table(`Ledger of ${sku}`, ["When", "Movement", "Location", "Quantity", "Change", "Reference", "By"], body),
    h("div", { class: "pager" }, newer, pageInfo, older));
  return { section, load: () => load() };
}
