// The form that creates a SKU (on the stock page) or edits one (on its page).

import { api, ApiError } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { field, onSubmit, showErrors } from "../lib/forms.js";
import { flash } from "../lib/shell.js";
import { parseAttributes } from "../lib/stock.js";

const SKU_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function skuEditor({ sku = null, onSaved }) {
  const attrs = sku ? Object.entries(sku.attributes ?? {}).map(([k, v]) => `${k}=${v}`).join("\n") : "";
  const form = h("form", { class: "stack" },
    sku ? null : field("SKU id", h("input", { name: "sku", required: true, maxlength: 64, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}", autocomplete: "off" }), "Letters, digits, . _ - (up to 64)"),
    field("SKU name", h("input", { name: "name", required: true, maxlength: 256, value: sku?.name ?? "" })),
    field("Attributes", h("textarea", { name: "attributes", rows: 3, value: attrs }), "One name=value per line, e.g. brand=Acme"),
    field("Unit cost", h("input", { name: "unit_cost", inputmode: "decimal", pattern: "\\d{1,10}(\\.\\d{1,4})?", value: sku?.unit_cost ?? "", autocomplete: "off" }), "What one unit cost (up to 4 decimals), for the report's inventory value; empty for none"),
    field("Currency", h("input", { name: "currency", maxlength: 3, pattern: "[A-Z]{3}", value: sku?.currency ?? "", autocomplete: "off" }), "ISO 4217, e.g. EUR; with the unit cost"),
    h("button", { type: "submit" }, sku ? "Save SKU" : "Create SKU"));
  const idOf = (v) => (sku ? sku.sku : v.sku.trim());
  onSubmit(form, {
    check: (v) => {
      const { errors } = parseAttributes(v.attributes);
      if (errors.length) return errors.map((m) => ({ field: "attributes", message: m }));
      if (!SKU_ID.test(idOf(v))) return [{ field: "sku", label: "SKU id", message: "must be 1–64 of letters, digits, . _ - starting with a letter or digit" }];
      return [];
    },
    send: async (v) => {
      const id = idOf(v);
      if (!sku) {
        // PUT creates or replaces: a new SKU must not silently replace an existing one.
        const existing = await api("GET", `/v1/skus/${encodeURIComponent(id)}`).catch((e) => {
          if (e instanceof ApiError && e.status === 404) return null;
          throw e;
        });
        if (existing) {
          showErrors(form, [{ field: "sku", label: "SKU id", message: `${id} already exists (${existing.name}); open it to edit it` }]);
          return;
        }
      }
      // A PUT replaces the SKU: the cost goes with it, so the form always sends what it shows.
      const body = { name: v.name, attributes: parseAttributes(v.attributes).attrs };
      const cost = (v.unit_cost ?? "").trim(), currency = (v.currency ?? "").trim();
      if (cost !== "") body.unit_cost = Number(cost);
      if (currency !== "") body.currency = currency;
      // The form does not edit supply facts yet: they are sent back as they were.
      if (sku?.supply) body.supply = sku.supply;
      await api("PUT", `/v1/skus/${encodeURIComponent(id)}`, { body });
      flash(sku ? `SKU ${id} saved.` : `SKU ${id} created.`);
      onSaved(id);
    },
    refused: "Not saved",
    fix: (errors) => errors.map((x) => ({ ...x, field: x.field.startsWith("attributes") ? "attributes" : x.field })),
  });
  return form;
}

export function newSkuForm() {
  return h("details", { class: "panel" }, h("summary", {}, "New SKU"),
    skuEditor({ onSaved: (id) => (location.hash = `#/stock/${encodeURIComponent(id)}`) }));
}
