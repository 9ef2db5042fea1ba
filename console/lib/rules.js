// Alert rule forms: the same validation the API applies (shared/src/alerts/rules.rs), so the
// console can name a bad field before sending, and the selector semantics for the preview.
// Pure functions; unit-tested with node:test (tests/console/unit.test.mjs).

export const KINDS = [
  { id: "low_stock", label: "Low stock", params: ["threshold", "clear_at"] },
  { id: "out_of_stock", label: "Out of stock", params: ["clear_at"] },
  { id: "sales_velocity", label: "Sales velocity", params: ["window_hours", "min_units", "clear_below"] },
  { id: "stock_drop", label: "Stock drop", params: ["window_hours", "drop_percent", "clear_below_percent"] },
  { id: "days_of_cover", label: "Days of cover", params: ["lookback_days", "max_days"] },
  { id: "no_sale", label: "No sale (dead stock)", params: ["days"] },
  { id: "no_receipt", label: "No receipt", params: ["days", "below"] },
  { id: "stock_age", label: "Stock age", params: ["days"] },
  { id: "reorder_point", label: "Reorder point (from the demand forecast)", params: [] },
  { id: "holds_short", label: "Holds cut short by a stocktake", params: [] },
];

export const PARAMS = {
  threshold: { label: "Threshold (fires at available ≤)", min: 0, max: 1_000_000_000 },
  clear_at: { label: "Clear at (resolves at available ≥)", min: 1, max: 1_000_000_001, optional: true },
  window_hours: { label: "Window (hours)", min: 1, max: 48 },
  min_units: { label: "Units sold in the window (≥)", min: 1, max: 1_000_000_000 },
  drop_percent: { label: "Drop (% of stock at the window's start)", min: 1, max: 100 },
  clear_below: { label: "Clear below (resolves at fewer sold; default half)", min: 1, max: 1_000_000_000, optional: true },
  clear_below_percent: { label: "Clear below % (resolves under it; default half)", min: 1, max: 100, optional: true },
  lookback_days: { label: "Look back (days of sales)", min: 1, max: 29 },
  max_days: { label: "Days of cover (fires at ≤)", decimal: true },
  days: { label: "Days", min: 1, max: 3650 },
  below: { label: "While available ≤", min: 0, max: 1_000_000_000 },
};

export const SEVERITIES = ["info", "warning", "critical"];

const SKU_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SKU_PREFIX_RE = /^[A-Za-z0-9._-]{1,63}$/;
const LOCATION_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

export function kindOf(id) {
  return KINDS.find((k) => k.id === id);
}

// A character that shows as something (the API's `visible`, shared/src/domain.rs): not white
// space, not a control, not a format or blank-filler character.
const VISIBLE_RE = /[^\s\p{Cc}\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\u{1d159}\u{1d173}-\u{1d17a}\u{e0000}-\u{e0fff}]/u;

function text(errors, field, value) {
  const v = (value ?? "").trim();
  if (v.length < 1 || v.length > 256) errors.push({ field, message: "must be 1 to 256 characters of text" });
  else if (CONTROL_RE.test(v)) errors.push({ field, message: "must not contain control characters" });
  else if (!VISIBLE_RE.test(v)) errors.push({ field, message: "must contain a visible character" });
  return v;
}

export function validEmail(e) {
  const at = e.indexOf("@");
  if (at < 1) return false;
  const domain = e.slice(at + 1);
  return (
    e.length <= 254 &&
    domain.includes(".") &&
    !domain.startsWith(".") &&
    !domain.endsWith(".") &&
    /^[\x21-\x7e]+$/.test(e) &&
    !/[<>,;"\\]/.test(e)
  );
}

/** Parses a whole number from a form field: returns a number, or undefined when empty, or NaN. */
export function parseInteger(raw) {
  const v = String(raw ?? "").trim();
  if (v === "") return undefined;
  return /^-?\d+$/.test(v) ? Number(v) : NaN;
}

/**
 * Builds the API's rule body from form values and validates it as the API does.
 * `form` holds strings/booleans: name, kind, severity, the kind's parameters, selector_type
 * (all|sku|prefix|attribute), selector_sku, selector_prefix, selector_attr_name,
 * selector_attr_value, selector_location, sms, inbox, email (comma/newline separated),
 * repeat_minutes, notify_on_resolve, enabled, quiet (bool), quiet_start, quiet_end.
 * Returns { body, errors } where errors is [{field, message}] with the API's field names.
 */
export function ruleFromForm(form) {
  const errors = [];
  const body = { name: text(errors, "name", form.name), kind: form.kind, severity: form.severity };
  const kind = kindOf(form.kind);
  if (!kind) errors.push({ field: "kind", message: `must be one of ${KINDS.map((k) => k.id).join(", ")}` });
  if (!SEVERITIES.includes(form.severity)) errors.push({ field: "severity", message: "must be info, warning or critical" });
  for (const p of kind ? kind.params : []) {
    const spec = PARAMS[p];
    const raw = form[p];
    if (spec.decimal) {
      const s = String(raw ?? "").trim();
      const v = s === "" ? undefined : Number(s);
      if (v === undefined) errors.push({ field: p, message: "is required for this kind" });
      else if (!Number.isFinite(v) || v <= 0 || v > 365) errors.push({ field: p, message: "must be above 0 and at most 365" });
      else body[p] = v;
      continue;
    }
    const v = parseInteger(raw);
    if (v === undefined) {
      if (!spec.optional) errors.push({ field: p, message: "is required for this kind" });
      continue;
    }
    const max = form.kind === "out_of_stock" && p === "clear_at" ? 1_000_000_000 : spec.max;
    if (Number.isNaN(v) || v < spec.min || v > max) {
      errors.push({ field: p, message: `must be an integer from ${spec.min} to ${max}` });
      continue;
    }
    body[p] = v;
  }
  if (form.kind === "low_stock" && body.threshold !== undefined && body.clear_at !== undefined && body.clear_at <= body.threshold) {
    errors.push({ field: "clear_at", message: "must be above threshold, so an alert cannot flap" });
  }
  // A rate rule resolves at or under its threshold, never above it.
  for (const [clear, limit] of [["clear_below", "min_units"], ["clear_below_percent", "drop_percent"]]) {
    if (body[clear] !== undefined && body[limit] !== undefined && body[clear] > body[limit]) {
      errors.push({ field: clear, message: `must be an integer from 1 to ${body[limit]}` });
      delete body[clear];
    }
  }

  const selector = {};
  switch (form.selector_type) {
    case "sku": {
      const s = (form.selector_sku ?? "").trim();
      if (!SKU_RE.test(s)) errors.push({ field: "selector.sku", message: "must be 1–64 of A–Z a–z 0–9 . _ - starting with a letter or digit" });
      selector.sku = s;
      break;
    }
    case "prefix": {
      const p = (form.selector_prefix ?? "").trim();
      if (!SKU_PREFIX_RE.test(p)) errors.push({ field: "selector.sku_prefix", message: "must be the start of a SKU id" });
      selector.sku_prefix = p;
      break;
    }
    case "attribute": {
      const name = (form.selector_attr_name ?? "").trim();
      if (name.length < 1 || name.length > 64) errors.push({ field: "selector.attribute.name", message: "must be 1 to 64 characters" });
      const value = text(errors, "selector.attribute.value", form.selector_attr_value);
      selector.attribute = { name, value };
      break;
    }
    default:
      break;
  }
  const loc = (form.selector_location ?? "").trim();
  if (loc) {
    if (!LOCATION_RE.test(loc)) errors.push({ field: "selector.location", message: "must be a location id" });
    selector.location = loc;
  }
  body.selector = selector;

  const email = String(form.email ?? "")
    .split(/[\s,;]+/)
    .map((e) => e.trim())
    .filter(Boolean);
  if (email.length > 10) errors.push({ field: "channels.email", message: "at most 10 recipients" });
  email.forEach((e, i) => {
    if (!validEmail(e)) errors.push({ field: `channels.email[${i}]`, message: `${e} is not an email address` });
  });
  body.channels = { sms: !!form.sms, email, inbox: form.inbox !== false };

  const repeat = parseInteger(form.repeat_minutes);
  if (repeat !== undefined) {
    if (Number.isNaN(repeat) || repeat < 5 || repeat > 10080) errors.push({ field: "repeat_minutes", message: "must be an integer from 5 to 10080 (a week)" });
    else body.repeat_minutes = repeat;
  }
  body.notify_on_resolve = !!form.notify_on_resolve;
  body.enabled = form.enabled !== false;
  if (form.quiet) {
    const s = parseInteger(form.quiet_start);
    const e = parseInteger(form.quiet_end);
    const ok = (h) => Number.isInteger(h) && h >= 0 && h <= 23;
    if (!ok(s) || !ok(e) || s === e) errors.push({ field: "quiet_hours", message: "start and end are different hours from 0 to 23 (UTC)" });
    else body.quiet_hours = { start_hour: s, end_hour: e };
  }
  return { body, errors };
}

/** The form values of a stored rule (the inverse of ruleFromForm). */
export function formFromRule(rule) {
  const sel = rule.selector ?? {};
  const form = {
    name: rule.name,
    kind: rule.kind,
    severity: rule.severity,
    selector_type: sel.sku !== undefined ? "sku" : sel.sku_prefix !== undefined ? "prefix" : sel.attribute !== undefined ? "attribute" : "all",
    selector_sku: sel.sku ?? "",
    selector_prefix: sel.sku_prefix ?? "",
    selector_attr_name: sel.attribute?.name ?? "",
    selector_attr_value: sel.attribute?.value ?? "",
    selector_location: sel.location ?? "",
    sms: !!rule.channels?.sms,
    inbox: rule.channels?.inbox !== false,
    email: (rule.channels?.email ?? []).join(", "),
    repeat_minutes: rule.repeat_minutes ?? "",
    notify_on_resolve: !!rule.notify_on_resolve,
    enabled: rule.enabled !== false,
    quiet: !!rule.quiet_hours,
    quiet_start: rule.quiet_hours?.start_hour ?? "",
    quiet_end: rule.quiet_hours?.end_hour ?? "",
  };
  for (const p of Object.keys(PARAMS)) form[p] = rule[p] ?? "";
  return form;
}

/** The body to PUT for a stored rule (drops the server's fields). */
export function bodyOfRule(rule) {
  const { rule_id, created_at, updated_at, ...body } = rule;
  return body;
}

/** Whether a selector picks a SKU (with its attributes) at a location; as Selector::selects. */
export function selects(selector, sku, attributes, location) {
  const s = selector ?? {};
  return (
    (s.sku === undefined || s.sku === sku) &&
    (s.sku_prefix === undefined || sku.startsWith(s.sku_prefix)) &&
    (s.location === undefined || location === undefined || s.location === location) &&
    (s.attribute === undefined || (attributes ?? {})[s.attribute.name] === s.attribute.value)
  );
}

/** A short description of what a rule watches. */
export function describeCondition(rule) {
  switch (rule.kind) {
    case "low_stock":
      return `available ≤ ${rule.threshold}, clears at ≥ ${rule.clear_at}`;
    case "out_of_stock":
      return `available = 0, clears at ≥ ${rule.clear_at ?? 1}`;
    case "sales_velocity":
      return `≥ ${rule.min_units} sold in ${rule.window_hours} h, clears under ${rule.clear_below ?? Math.ceil(rule.min_units / 2)}`;
    case "stock_drop":
      return `≥ ${rule.drop_percent} % of stock sold in ${rule.window_hours} h, clears under ${rule.clear_below_percent ?? Math.ceil(rule.drop_percent / 2)} %`;
    case "days_of_cover":
      return `≤ ${rule.max_days} days of cover (${rule.lookback_days}-day sales)`;
    case "no_sale":
      return `no sale for ${rule.days} days while in stock`;
    case "no_receipt":
      return `no receipt for ${rule.days} days while available ≤ ${rule.below}`;
    case "stock_age":
      return `stock not replenished for ${rule.days} days`;
    case "reorder_point":
      return "available + in transit ≤ the nightly reorder point";
    case "holds_short":
      return "carts hold units a stocktake did not find, until those holds close";
    default:
      return rule.kind;
  }
}

export function describeSelector(selector) {
  const s = selector ?? {};
  const what = s.sku
    ? `SKU ${s.sku}`
    : s.sku_prefix
      ? `SKUs starting ${s.sku_prefix}`
      : s.attribute
        ? `SKUs with ${s.attribute.name} = ${s.attribute.value}`
        : "every SKU";
  return s.location ? `${what} at ${s.location}` : `${what}, every location`;
}

/** The rule form's field that an API field name (of a refused rule) stands for. */
export function ruleFormField(apiField) {
  if (apiField.startsWith("channels.email")) return "email";
  return {
    "selector.sku": "selector_sku",
    "selector.sku_prefix": "selector_prefix",
    "selector.attribute.name": "selector_attr_name",
    "selector.attribute.value": "selector_attr_value",
    "selector.location": "selector_location",
    selector: "selector_type",
    quiet_hours: "quiet_start",
  }[apiField] ?? apiField;
}

/**
 * The stock listing's query of the levels a selector picks (the server filters the whole
 * catalogue by SKU, id prefix, attribute and location; one SKU is a prefix the preview narrows).
 */
export function selectorQuery(sel) {
  const q = new URLSearchParams();
  if (sel.sku || sel.sku_prefix) q.set("sku_prefix", sel.sku ?? sel.sku_prefix);
  if (sel.attribute) q.set("attribute", `${sel.attribute.name}:${sel.attribute.value}`);
  if (sel.location) q.set("location", sel.location);
  return q;
}
