// The warehouses and countries stock is kept at, and a form to add or rename one (stock page).

import { api } from "../lib/api.js";
import { h, muted } from "../lib/dom.js";
import { field, onSubmit } from "../lib/forms.js";
import { flash, forgetLocations, reload } from "../lib/shell.js";

export function locationsPanel(locs) {
  const form = h("form", { class: "stack" },
    field("Location id", h("input", { name: "location", required: true, maxlength: 32, autocomplete: "off" }), "Letters, digits, _ - (up to 32), e.g. WH-BERLIN or FR"),
    field("Location name", h("input", { name: "name", required: true, maxlength: 256 })),
    field("Kind", h("select", { name: "kind" }, h("option", { value: "warehouse" }, "warehouse"), h("option", { value: "country" }, "country (cross-border sales)"))),
    field("Country code", h("input", { name: "country", maxlength: 2, autocomplete: "off" }), "ISO 3166-1 alpha-2, for a country location"),
    h("button", { type: "submit" }, "Save location"));
  onSubmit(form, {
    check: (v) => {
      const errors = [];
      if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/.test(v.location.trim())) errors.push({ field: "location", label: "Location id", message: "must be 1–32 of letters, digits, _ - starting with a letter or digit" });
      if (v.kind === "country" && !/^[A-Z]{2}$/.test(v.country.trim())) errors.push({ field: "country", label: "Country code", message: "two capital letters, e.g. FR" });
      return errors;
    },
    send: async (v) => {
      const id = v.location.trim();
      const body = { name: v.name, kind: v.kind };
      if (v.kind === "country") body.country = v.country.trim();
      await api("PUT", `/v1/locations/${encodeURIComponent(id)}`, { body });
      forgetLocations();
      flash(`Location ${id} saved.`);
      reload();
    },
    refused: "Not saved",
  });
  return h("details", { class: "panel" }, h("summary", {}, `Locations (${locs.length})`),
    locs.length
      ? h("ul", { class: "plain" }, locs.map((l) => h("li", {}, h("strong", {}, l.location), ` — ${l.name} (${l.kind}${l.country ? `, ${l.country}` : ""})`)))
      : muted("No locations yet: add one to receive stock into."),
    form);
}
