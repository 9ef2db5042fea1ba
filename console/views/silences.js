// Silences: the form that silences an alert's rule or SKU for a while (alert page), and the
// silences in force with a button to end each (inbox).

import { api, session } from "../lib/api.js";
import { fmtTime, h } from "../lib/dom.js";
import { field, intOrNull, onSubmit } from "../lib/forms.js";
import { flash } from "../lib/shell.js";

export function silenceForm({ ruleId, sku, after }) {
  const form = h("form", { class: "stack" },
    h("fieldset", {}, h("legend", {}, "Silence"),
      ruleId ? h("div", { class: "field check" }, h("input", { type: "radio", name: "target", value: "rule", id: "sil-rule", checked: true }), h("label", { for: "sil-rule" }, "this rule (every SKU)")) : null,
      sku ? h("div", { class: "field check" }, h("input", { type: "radio", name: "target", value: "sku", id: "sil-sku", checked: !ruleId }), h("label", { for: "sil-sku" }, `SKU ${sku} (every rule)`)) : null),
    field("For (minutes)", h("input", { name: "minutes", type: "number", min: 1, max: 10080, value: 60, required: true, inputmode: "numeric" }), "1 to 10080 (a week)"),
    field("Reason", h("input", { name: "reason", required: true, maxlength: 256, placeholder: "e.g. stocktake" })),
    h("button", { type: "submit" }, "Silence"));
  onSubmit(form, {
    send: async (v) => {
      const body = { minutes: intOrNull(v.minutes), reason: v.reason.trim() };
      if (v.target === "rule") body.rule_id = ruleId;
      else body.sku = sku;
      const sil = await api("POST", "/v1/silences", { body });
      flash(`Silenced until ${fmtTime(sil.until)}.`);
      await after();
    },
    refused: "Not silenced",
  });
  return form;
}

export async function silencesSection() {
  const s = session();
  const { items } = await api("GET", "/v1/silences");
  const list = h("ul", { class: "plain" });
  const section = h("section", { "aria-labelledby": "sil-h" }, h("h2", { id: "sil-h", tabindex: "-1" }, "Silences in force"), list);
  if (!items.length) list.append(h("li", { class: "muted" }, "None."));
  for (const sil of items) {
    list.append(h("li", {},
      `${sil.silence_id.replace(":", " ")} until ${fmtTime(sil.until)} — ${sil.reason} (by ${sil.created_by}) `,
      s.canAdmin ? h("button", { type: "button", class: "secondary", "aria-label": `End silence ${sil.silence_id}`, onclick: async () => {
        try {
          await api("DELETE", `/v1/silences/${encodeURIComponent(sil.silence_id)}`);
          flash("Silence ended.");
          const next = await silencesSection();
          section.replaceWith(next);
          next.querySelector("h2").focus();
        } catch (e) {
          flash(e.message, "bad");
        }
      } }, "End") : null));
  }
  return section;
}
