// A rule's form, new or to edit: every kind's parameters, what it applies to, how it notifies;
// checked like the API checks it before sending, with a preview of the SKUs it selects.

import { api, listAll, session } from "../lib/api.js";
import { errorBox, h, muted, skuLink } from "../lib/dom.js";
import { checkbox, field, locationSelect, onSubmit, submitWrite, values } from "../lib/forms.js";
import { describeSelector, formFromRule, KINDS, kindOf, PARAMS, ruleFormField, ruleFromForm, selectorQuery, SEVERITIES } from "../lib/rules.js";
import { flash, locations, render } from "../lib/shell.js";

/** The selector's fields that show for each choice of what the rule applies to. */
const SELECTOR_FIELDS = { selector_sku: "sku", selector_prefix: "prefix", selector_attr_name: "attribute", selector_attr_value: "attribute" };

/** The SKUs a valid selector picks, for the preview. */
async function previewOf(sel) {
  // The server filters the whole catalogue (SKU, prefix, attribute, location); up to 500 levels
  // are shown.
  const { items, more } = await listAll(`/v1/levels?${selectorQuery(sel)}`, { max: 500 });
  const seen = new Map();
  for (const r of items) {
    if (!sel.sku || r.sku === sel.sku) seen.set(r.sku, r.name);
  }
  const hits = [...seen];
  const where = sel.location ? ` at ${sel.location}` : " at every location";
  return [
    h("p", {}, `${describeSelector(sel)}: ${hits.length}${more ? "+" : ""} SKUs${where}.`),
    hits.length ? h("ul", { class: "columns" }, hits.slice(0, 200).map(([k, name]) => h("li", {}, skuLink(k), ` — ${name}`))) : null,
    hits.length > 200 ? muted(`and ${hits.length - 200} more.`) : null,
  ].filter(Boolean);
}

export async function viewRuleForm(seq, id) {
  const s = session();
  const [rule, locs] = await Promise.all([id ? api("GET", `/v1/rules/${encodeURIComponent(id)}`) : null, locations()]);
  const f = rule ? formFromRule(rule) : { kind: "low_stock", severity: "warning", selector_type: "all", inbox: true, enabled: true };
  const num = (name, attrs = {}) => h("input", { name, type: "number", inputmode: "numeric", value: f[name] ?? "", ...attrs });
  const paramFields = Object.entries(PARAMS).map(([p, spec]) =>
    field(spec.label, num(p, spec.decimal ? { step: "any", min: 0 } : { min: spec.min, max: spec.max, step: 1 })));
  const selType = (value, label) => h("div", { class: "field check" },
    h("input", { type: "radio", name: "selector_type", value, id: `sel-${value}`, checked: (f.selector_type ?? "all") === value }),
    h("label", { for: `sel-${value}` }, label));
  const form = h("form", { class: "stack rule-form", novalidate: true },
    field("Name", h("input", { name: "name", maxlength: 256, value: f.name ?? "", required: true })),
    field("Kind", h("select", { name: "kind" }, KINDS.map((k) => h("option", { value: k.id, selected: k.id === f.kind }, k.label)))),
    h("fieldset", { class: "params" }, h("legend", {}, "Fires when"), paramFields),
    h("fieldset", {}, h("legend", {}, "Applies to"),
      h("div", { "data-field": "selector_type", class: "radios" },
        selType("all", "Every SKU"), selType("sku", "One SKU"), selType("prefix", "SKUs whose id starts with"), selType("attribute", "SKUs with an attribute"),
        h("span", { class: "field-error" })),
      field("SKU", h("input", { name: "selector_sku", value: f.selector_sku ?? "", autocomplete: "off" })),
      field("SKU id prefix", h("input", { name: "selector_prefix", value: f.selector_prefix ?? "", autocomplete: "off" })),
      field("Attribute name", h("input", { name: "selector_attr_name", value: f.selector_attr_name ?? "", placeholder: "brand" })),
      field("Attribute value", h("input", { name: "selector_attr_value", value: f.selector_attr_value ?? "", placeholder: "Acme" })),
      field("Location", locationSelect("selector_location", locs, { all: true, value: f.selector_location ?? "" }))),
    field("Severity", h("select", { name: "severity" }, SEVERITIES.map((x) => h("option", { value: x, selected: x === f.severity }, x)))),
    h("fieldset", {}, h("legend", {}, "Notify"),
      checkbox("SMS (the ops SNS topic)", "sms", f.sms),
      checkbox("Inbox", "inbox", f.inbox !== false),
      field("Email recipients", h("textarea", { name: "email", rows: 2, value: f.email ?? "" }), "Up to 10 addresses, separated by commas or new lines"),
      field("Remind every (minutes)", num("repeat_minutes", { min: 5, max: 10080 }), "5 to 10080; empty: no reminders"),
      checkbox("Notify when it resolves", "notify_on_resolve", f.notify_on_resolve),
      checkbox("Quiet hours (SMS and email wait; UTC)", "quiet", f.quiet),
      field("Quiet from hour (UTC)", num("quiet_start", { min: 0, max: 23 })),
      field("Quiet until hour (UTC)", num("quiet_end", { min: 0, max: 23 }))),
    checkbox("Enabled", "enabled", f.enabled !== false),
    h("div", { class: "buttons" },
      s.canAdmin ? h("button", { type: "submit" }, rule ? "Save rule" : "Create rule") : null,
      h("button", { type: "button", class: "secondary", name: "preview" }, "Preview which SKUs it selects"),
      h("a", { href: "#/rules" }, "Cancel")));
  const preview = h("section", { "aria-labelledby": "prev-h", class: "preview", hidden: true }, h("h2", { id: "prev-h" }, "Selected SKUs"), h("div", { "aria-live": "polite" }));

  const sync = () => {
    const v = values(form);
    const kind = kindOf(v.kind);
    for (const p of Object.keys(PARAMS)) form.querySelector(`[data-field="${p}"]`).hidden = !kind?.params.includes(p);
    for (const [name, t] of Object.entries(SELECTOR_FIELDS)) form.querySelector(`[data-field="${name}"]`).hidden = v.selector_type !== t;
    for (const name of ["quiet_start", "quiet_end"]) form.querySelector(`[data-field="${name}"]`).hidden = !v.quiet;
  };
  form.addEventListener("change", sync);
  sync();

  form.elements.preview.addEventListener("click", async () => {
    const { body, errors } = ruleFromForm(values(form));
    const out = preview.lastChild;
    preview.hidden = false;
    const selErrors = errors.filter((e) => e.field.startsWith("selector"));
    if (selErrors.length) {
      out.replaceChildren(errorBox(selErrors.map((e) => `${e.field}: ${e.message}`).join("; ")));
      return;
    }
    out.replaceChildren(h("p", {}, "Looking through the catalogue…"));
    try {
      out.replaceChildren(...(await previewOf(body.selector)));
    } catch (e) {
      out.replaceChildren(errorBox(e));
    }
  });

  const labelOf = (fieldName) => form.querySelector(`[data-field="${ruleFormField(fieldName)}"] label, [data-field="${ruleFormField(fieldName)}"] legend`)?.textContent ?? fieldName;
  const labelled = (errors) => errors.map((e) => ({ ...e, label: labelOf(e.field) }));
  onSubmit(form, {
    check: (v) => labelled(ruleFromForm(v).errors),
    send: async (v) => {
      const { body } = ruleFromForm(v);
      const saved = rule
        ? await api("PUT", `/v1/rules/${encodeURIComponent(rule.rule_id)}`, { body })
        : await submitWrite(form, "POST", "/v1/rules", body);
      flash(`Rule "${saved.name}" ${rule ? "saved" : "created"}. It applies within a minute.`);
      location.hash = "#/rules";
    },
    refused: "Not saved",
    // The API's field errors get the form's labels; a refusal without them stays one sentence.
    fix: (errors) => errors.map((e) => (e.label ? e : { ...e, label: labelOf(e.field) })),
    nameOf: ruleFormField,
  });

  render(seq,
    h("p", { class: "crumbs" }, h("a", { href: "#/rules" }, "Rules"), " / ", rule ? rule.name : "New"),
    h("h1", {}, rule ? `Rule: ${rule.name}` : "New rule"),
    s.canAdmin ? null : muted("You can read rules; changing them needs the admin scope."),
    form,
    preview);
}
