// The admin console: stock, replenishment, the alert inbox, rules and reports, on the inventory
// HTTP API.
// Plain ES modules, no build step; every element is built with the DOM (no HTML from data).

import {
  api,
  apiRaw,
  ApiError,
  completeOidcSignIn,
  config,
  listAll,
  loadConfig,
  newIdempotencyKey,
  nextLink,
  session,
  signIn,
  signOut,
  startOidcSignIn,
} from "./lib/api.js";
import { HOLDS_PAGES, holdsPath, timeLeft } from "./lib/holds.js";
import { barChart, dailyFromCounters, dailyFromTrends, forecastChart, lineChart, projectStockOut, stockFromCounters, stockFromTrends } from "./lib/charts.js";
import { acceptBody, acceptKey, forecastSeries, groupBySupplier, perDay, positionOf, replenishmentPath, rowKey, toCsv } from "./lib/replenishment.js";
import {
  bodyOfRule,
  describeCondition,
  describeSelector,
  formFromRule,
  KINDS,
  kindOf,
  PARAMS,
  ruleFromForm,
  selects,
  SEVERITIES,
} from "./lib/rules.js";

const main = document.getElementById("main");
const flashBox = document.getElementById("flash");
const SEVERITY_RANK = { critical: 3, warning: 2, info: 1 };
const POLL_MS = 5000;
let viewTimers = [];
let viewSeq = 0;

// ---------------------------------------------------------------------------------------------
// DOM helpers

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "for") e.htmlFor = v;
    else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "value") e.value = v;
    else if (k === "checked") e.checked = !!v;
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, String(v));
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function timeCell(iso) {
  return h("time", { datetime: iso, title: iso }, fmtTime(iso));
}

function flash(message, kind = "ok") {
  flash.at = Date.now();
  flashBox.hidden = false;
  flashBox.className = `flash ${kind}`;
  flashBox.textContent = message;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => (flashBox.hidden = true), 8000);
}

function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, err instanceof Error ? err.message : String(err));
}

function tableWrap(table) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": table.getAttribute("aria-label") ?? "table" }, table);
}

function field(label, input, hint) {
  const id = input.id || (input.id = `f-${input.name}-${Math.random().toString(36).slice(2, 8)}`);
  const err = h("span", { class: "field-error", id: `${id}-err` });
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  input.setAttribute("aria-describedby", [hintEl ? `${id}-hint` : null, `${id}-err`].filter(Boolean).join(" "));
  return h("div", { class: "field", "data-field": input.name }, h("label", { for: id }, label), input, hintEl, err);
}

function checkbox(label, name, checked) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 8)}`;
  return h("div", { class: "field check", "data-field": name }, h("input", { type: "checkbox", id, name, checked }), h("label", { for: id }, label));
}

function locationSelect(name, locations, { all = false, value = "", required = false } = {}) {
  return h(
    "select",
    { name, required },
    all ? h("option", { value: "" }, "All locations") : h("option", { value: "" }, "Choose…"),
    locations.map((l) => h("option", { value: l.location, selected: l.location === value }, `${l.location} — ${l.name}`)),
  );
}

function setBusy(form, busy) {
  for (const b of form.querySelectorAll("button")) b.disabled = busy;
  form.setAttribute("aria-busy", busy ? "true" : "false");
}

function clearErrors(form) {
  for (const e of form.querySelectorAll(".field-error")) e.textContent = "";
  for (const e of form.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
  form.querySelector(".form-errors")?.remove();
}

/** Shows errors next to their fields (by form field name) and a summary at the top. */
function showErrors(form, errors, nameOf = (f) => f) {
  const summary = h("div", { class: "form-errors error", role: "alert", tabindex: "-1" },
    h("p", {}, errors.length === 1 ? "Please correct this:" : `Please correct these ${errors.length} things:`),
    h("ul", {}, errors.map((e) => h("li", {}, `${e.label ?? e.field}: ${e.message}`))));
  form.prepend(summary);
  for (const e of errors) {
    const wrap = form.querySelector(`[data-field="${nameOf(e.field)}"]`);
    const input = wrap?.querySelector("input,select,textarea");
    if (input) input.setAttribute("aria-invalid", "true");
    const slot = wrap?.querySelector(".field-error");
    if (slot) slot.textContent = e.message;
  }
  summary.focus();
}

/**
 * Submits a write with an Idempotency-Key that the form keeps until the API has answered: a
 * retry after a network failure or any 5xx (a gateway timeout may come after the write has
 * committed) reuses it, so stock changes once; a refusal (4xx) or a success ends it, so the next
 * submission is a new request. `key` gives the key instead of a new random one (a write that must
 * happen once however often it is sent, such as accepting a replenishment suggestion).
 */
async function submitWrite(form, method, path, body, key = null) {
  form.dataset.key ||= key ?? newIdempotencyKey();
  try {
    const result = await api(method, path, { body, idempotencyKey: form.dataset.key });
    delete form.dataset.key;
    return result;
  } catch (e) {
    if (e instanceof ApiError && e.status < 500) delete form.dataset.key;
    throw e;
  }
}

/** What to show for a refused or failed write: the API's field errors, else one sentence. */
function problemErrors(e, label) {
  return e instanceof ApiError && e.fieldErrors().length ? e.fieldErrors() : [{ field: "form", label, message: e.message }];
}

function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "radio") {
      if (el.checked) out[el.name] = el.value;
    } else out[el.name] = el.value;
  }
  return out;
}

function intOrNull(v) {
  const s = String(v ?? "").trim();
  return s === "" ? null : Number(s);
}

// ---------------------------------------------------------------------------------------------
// Shell: sign-in, navigation, the open-alert count

let locationsCache = null;
async function locations() {
  locationsCache ??= listAll("/v1/locations").then((r) => r.items);
  try {
    return await locationsCache;
  } catch (e) {
    locationsCache = null;
    throw e;
  }
}

function renderWho() {
  const who = document.getElementById("who");
  who.replaceChildren();
  const s = session();
  if (!s) return;
  const role = s.canAdmin ? "admin" : s.canSell ? "storefront" : "read-only";
  who.append(
    h("span", {}, "Signed in as ", h("strong", {}, s.subject), ` (${role})`),
    h("button", { type: "button", class: "link", onclick: () => { signOut(); location.hash = "#/signin"; route(); } }, "Sign out"),
  );
}

let countTimer = null;
/** The view whose inbox lists exactly the open alerts (no filter) and so keeps the count itself. */
let countKeptBy = 0;

function showOpenCount(n, more) {
  const badge = document.getElementById("open-count");
  badge.hidden = false;
  badge.textContent = `${n}${more ? "+" : ""}`;
  badge.setAttribute("aria-label", `${n} open alerts`);
  badge.classList.toggle("zero", n === 0);
}

async function refreshOpenCount() {
  const badge = document.getElementById("open-count");
  if (!session()) {
    badge.hidden = true;
    return;
  }
  if (countKeptBy === viewSeq) return; // the inbox on screen already reads the same alerts
  try {
    const [firing, acked] = await Promise.all([
      listAll("/v1/alerts?state=firing", { max: 1000 }),
      listAll("/v1/alerts?state=acknowledged", { max: 1000 }),
    ]);
    showOpenCount(firing.items.length + acked.items.length, firing.more || acked.more);
  } catch {
    badge.hidden = true;
  }
}

function startCountPolling() {
  clearInterval(countTimer);
  refreshOpenCount();
  countTimer = setInterval(refreshOpenCount, POLL_MS);
}

/** Runs `fn` every `ms` while the view `seq` is on screen. */
function every(seq, ms, fn) {
  if (seq === viewSeq) viewTimers.push(setInterval(fn, ms));
}

const routes = [
  [/^#\/signin$/, viewSignIn, "Sign in"],
  [/^#\/stock$/, viewStock, "Stock"],
  [/^#\/stock\/([^/]+)$/, viewSku, "SKU"],
  [/^#\/replenishment$/, viewReplenishment, "Replenishment"],
  [/^#\/alerts$/, (seq) => viewAlerts(seq, ""), "Alerts"],
  [/^#\/alerts\/sku\/([^/]+)$/, viewAlerts, "Alerts"],
  [/^#\/alerts\/([^/]+)$/, viewAlert, "Alert"],
  [/^#\/rules$/, viewRules, "Rules"],
  [/^#\/rules\/new$/, (seq) => viewRuleForm(seq, null), "New rule"],
  [/^#\/rules\/([^/]+)$/, viewRuleForm, "Edit rule"],
  [/^#\/reports$/, (seq) => viewReports(seq, null), "Reports"],
  [/^#\/reports\/(\d{4}-\d{2}-\d{2})$/, viewReports, "Reports"],
];

async function route() {
  // A message from the page before stays for the page it led to, not for pages after that.
  if (Date.now() - (flash.at ?? 0) > 1500) flashBox.hidden = true;
  for (const t of viewTimers) clearInterval(t);
  viewTimers = [];
  const seq = ++viewSeq;
  let hash = location.hash || "#/stock";
  if (!session() && hash !== "#/signin") {
    sessionStorage.setItem("inventory-console-after", hash);
    hash = "#/signin";
    history.replaceState(null, "", hash);
  }
  renderWho();
  const section = hash.split("/")[1] ?? "";
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const match = routes.find(([re]) => re.test(hash));
  main.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  if (!match) {
    main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/stock" }, "Go to stock")));
    return;
  }
  const [re, view, title] = match;
  document.title = `${title} · Inventory console`;
  try {
    const args = hash.match(re).slice(1).map(decodeURIComponent);
    await view(seq, ...args);
  } catch (e) {
    render(seq, h("h1", {}, title), errorBox(e));
  }
}

/**
 * Replaces the page's content unless the person has moved on to another page meanwhile. The new
 * page's heading takes the focus (screen readers announce it), at once, so what is typed next
 * goes where the person puts it; on the first load the focus stays at the top, at the skip link.
 */
function render(seq, ...children) {
  if (seq !== viewSeq) return false;
  main.replaceChildren();
  append(main, children);
  const h1 = main.querySelector("h1");
  if (h1) {
    h1.tabIndex = -1;
    if (seq > 1) h1.focus();
  }
  return true;
}

/**
 * Re-renders part of a page (`update` replaces `container`'s rows) and keeps the keyboard focus:
 * back on the same control of the same row (rows carry `data-key`), else on the container.
 */
function keepingFocus(container, update) {
  const active = document.activeElement;
  const inside = active && container.contains(active) && active !== container;
  const row = inside ? active.closest("[data-key]")?.dataset.key : null;
  const label = inside ? active.getAttribute("aria-label") ?? active.textContent : null;
  update();
  if (!inside || container.contains(active)) return;
  const candidates = row ? [...container.querySelectorAll(`[data-key="${CSS.escape(row)}"] a, [data-key="${CSS.escape(row)}"] button`)] : [];
  const same =
    candidates.find((el) => (el.getAttribute("aria-label") ?? el.textContent) === label) ??
    candidates.find((el) => el.tagName === "BUTTON") ??
    candidates[0];
  (same ?? container.closest("[tabindex]") ?? container).focus();
}

// ---------------------------------------------------------------------------------------------
// Sign-in

async function viewSignIn(seq) {
  const after = () => {
    const next = sessionStorage.getItem("inventory-console-after") || "#/stock";
    sessionStorage.removeItem("inventory-console-after");
    location.hash = next;
    startCountPolling();
  };
  const parts = [h("h1", {}, "Sign in")];
  const auth = config.auth ?? {};
  if (auth.mode === "local" && auth.tokens) {
    const labels = { ops: "Ops (admin)", storefront: "Storefront", readonly: "Read-only analyst" };
    parts.push(
      h("p", {}, "Local stack: sign in with one of its development tokens."),
      h("div", { class: "buttons" },
        Object.entries(auth.tokens).map(([role, token]) =>
          h("button", { type: "button", onclick: () => { signIn(token); after(); } }, `Sign in as ${labels[role] ?? role}`))),
    );
  }
  if (auth.mode === "oidc" && auth.authorize_url) {
    parts.push(h("p", {}, h("button", { type: "button", onclick: () => startOidcSignIn() }, "Sign in with your organisation")));
  }
  const tokenForm = h("form", { class: "stack" },
    field("Access token (JWT)", h("textarea", { name: "token", rows: 4, required: true, autocomplete: "off", spellcheck: "false" }),
      "A bearer token with the inventory/read scope (and inventory/admin to make changes)."),
    h("button", { type: "submit" }, "Sign in with this token"));
  tokenForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    clearErrors(tokenForm);
    try {
      signIn(tokenForm.elements.token.value);
      after();
    } catch (e) {
      showErrors(tokenForm, [{ field: "token", label: "Access token", message: e.message }]);
    }
  });
  parts.push(h("details", { open: auth.mode === "token" }, h("summary", {}, "Use an access token"), tokenForm));
  render(seq, ...parts);
}

// ---------------------------------------------------------------------------------------------
// Stock

/** The listing query of a filter form's values (the API filters on the server). */
function levelsQuery(f) {
  const q = new URLSearchParams();
  if (f.q.trim()) q.set("q", f.q.trim());
  if (f.location) q.set("location", f.location);
  if (f.max.trim() !== "") q.set("available_max", f.max.trim());
  if (f.below) q.set("below_threshold", "true");
  return q;
}

/** Saves `text` as a file named `name` in the browser. */
function download(name, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Every page of a filtered CSV export, following the API's `Link: rel="next"`. */
async function exportLevels(query) {
  const parts = [];
  let path = `/v1/levels?${query}${query.toString() ? "&" : ""}format=csv&limit=1000`;
  for (let n = 0; path && n < 500; n++) {
    const r = await apiRaw("GET", path);
    parts.push(await r.text());
    path = nextLink(r.headers.get("link"));
  }
  return parts.join("");
}

async function viewStock(seq) {
  const s = session();
  const locs = await locations();
  const state = { cursor: null, done: false, loading: null, rows: [], query: "" };
  const body = h("tbody");
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const exportButton = h("button", { type: "button", class: "secondary" }, "Download as CSV");
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter stock" },
    field("Search", h("input", { name: "q", type: "search", placeholder: "SKU id or name" })),
    field("Location", locationSelect("location", locs, { all: true })),
    field("Available at or below", h("input", { name: "max", type: "number", min: 0, inputmode: "numeric" })),
    checkbox("Only below an alert threshold", "below", false));
  let debounce = null;
  filters.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => restart().catch((e) => flash(e.message, "bad")), 300);
  });
  filters.addEventListener("submit", (e) => e.preventDefault());

  function draw() {
    const rows = state.rows.map((r) => {
      const link = h("a", { href: `#/stock/${encodeURIComponent(r.sku)}` }, r.sku);
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
    });
    keepingFocus(body, () => body.replaceChildren(...rows));
    status.textContent = `${state.rows.length} rows${state.done ? "" : " (more available)"}.`;
    more.hidden = state.done;
  }

  /** Loads the next page of the current filter (one request; one load at a time). */
  function loadPage() {
    state.loading ??= (async () => {
      more.disabled = true;
      const query = state.query;
      try {
        const q = new URLSearchParams(query);
        q.set("limit", "50");
        if (state.cursor) q.set("cursor", state.cursor);
        const page = await api("GET", `/v1/levels?${q}`);
        if (query !== state.query || seq !== viewSeq) return;
        state.rows.push(...page.items);
        state.cursor = page.next_cursor;
        state.done = !page.next_cursor;
        draw();
      } finally {
        more.disabled = false;
        state.loading = null;
      }
    })();
    return state.loading;
  }

  async function restart() {
    await state.loading;
    state.query = levelsQuery(values(filters)).toString();
    state.rows = [];
    state.cursor = null;
    state.done = false;
    await loadPage();
  }
  more.addEventListener("click", () => loadPage().catch((e) => flash(e.message, "bad")));
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
    tableWrap(h("table", { "aria-label": "Stock levels" },
      h("thead", {}, h("tr", {}, ["SKU", "Name", "Location", "On hand", "Reserved", "In transit", "Available"].map((c) => h("th", { scope: "col" }, c)))),
      body)),
    status,
    more,
  );
  render(seq, ...parts);
  await restart();
}

/** Uploading a stocktake CSV, then its progress and result (admin). */
function stocktakePanel() {
  const file = h("input", { type: "file", name: "file", accept: ".csv,text/csv" });
  const progress = h("div", { "aria-live": "polite" });
  let key = null;
  file.addEventListener("change", () => (key = newIdempotencyKey()));
  const form = h("form", { novalidate: true },
    h("p", { class: "muted" }, "A CSV with the columns sku, location, counted and optionally expected and reason (UTF-8). Each line is applied as a stocktake; lines that fail are listed with their line number."),
    field("Stocktake file", file),
    h("button", { type: "submit" }, "Upload stocktake"),
    progress);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return flash("Choose a CSV file first.", "bad");
    key ??= newIdempotencyKey();
    setBusy(form, true);
    try {
      // The file's own bytes (the API says which lines are not UTF-8).
      const r = await apiRaw("POST", "/v1/stocktakes", { body: chosen, contentType: "text/csv", idempotencyKey: key });
      let job = await r.json();
      const mine = viewSeq;
      for (;;) {
        progress.replaceChildren(h("p", {}, `Import ${job.import_id}: ${job.status}, ${job.processed} of ${job.lines} lines (${job.applied} applied, ${job.failed} failed).`));
        if (job.status === "done") break;
        // Left the page: the import goes on without us (its page: GET /v1/stocktakes/{id}).
        if (mine !== viewSeq) return;
        await new Promise((res) => setTimeout(res, 1000));
        job = await api("GET", `/v1/stocktakes/${job.import_id}`);
      }
      const result = h("button", { type: "button", class: "secondary" }, "Download the result (CSV)");
      result.addEventListener("click", async () => {
        const res = await apiRaw("GET", `/v1/stocktakes/${job.import_id}/result`);
        download(`${job.import_id}-result.csv`, await res.text());
      });
      const failures = (job.failures ?? []).map((f) => h("tr", {}, h("td", { class: "num" }, f.line), h("td", {}, f.sku), h("td", {}, f.location), h("td", {}, f.detail)));
      progress.append(h("p", {}, result),
        failures.length ? tableWrap(h("table", { "aria-label": "Lines that failed" },
          h("thead", {}, h("tr", {}, ["Line", "SKU", "Location", "Why"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, failures))) : h("p", {}, "Every line was applied."));
      key = null;
    } catch (err) {
      progress.replaceChildren(errorBox(err));
      // A refusal is final for this file; a network failure keeps the key for a safe retry.
      if (err instanceof ApiError && err.status < 500) key = null;
    } finally {
      setBusy(form, false);
    }
  });
  return h("details", { class: "panel" }, h("summary", {}, "Import a stocktake (CSV)"), form);
}

function parseAttributes(text) {
  const attrs = {};
  const errors = [];
  for (const line of text.split(/\n/).map((l) => l.trim()).filter(Boolean)) {
    const i = line.indexOf("=");
    if (i < 1) {
      errors.push(`"${line}" is not name=value`);
      continue;
    }
    attrs[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return { attrs, errors };
}

function skuEditor({ sku = null, onSaved }) {
  const attrs = sku ? Object.entries(sku.attributes ?? {}).map(([k, v]) => `${k}=${v}`).join("\n") : "";
  const form = h("form", { class: "stack" },
    sku ? null : field("SKU id", h("input", { name: "sku", required: true, maxlength: 64, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}", autocomplete: "off" }), "Letters, digits, . _ - (up to 64)"),
    field("SKU name", h("input", { name: "name", required: true, maxlength: 256, value: sku?.name ?? "" })),
    field("Attributes", h("textarea", { name: "attributes", rows: 3, value: attrs }), "One name=value per line, e.g. brand=Acme"),
    field("Unit cost", h("input", { name: "unit_cost", inputmode: "decimal", pattern: "\\d{1,10}(\\.\\d{1,4})?", value: sku?.unit_cost ?? "", autocomplete: "off" }), "What one unit cost (up to 4 decimals), for the report's inventory value; empty for none"),
    field("Currency", h("input", { name: "currency", maxlength: 3, pattern: "[A-Z]{3}", value: sku?.currency ?? "", autocomplete: "off" }), "ISO 4217, e.g. EUR; with the unit cost"),
    h("button", { type: "submit" }, sku ? "Save SKU" : "Create SKU"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const v = values(form);
    const id = sku ? sku.sku : v.sku.trim();
    const { attrs: attributes, errors } = parseAttributes(v.attributes);
    if (errors.length) return showErrors(form, errors.map((m) => ({ field: "attributes", message: m })));
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id)) return showErrors(form, [{ field: "sku", label: "SKU id", message: "must be 1–64 of letters, digits, . _ - starting with a letter or digit" }]);
    setBusy(form, true);
    try {
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
      const body = { name: v.name, attributes };
      const cost = (v.unit_cost ?? "").trim(), currency = (v.currency ?? "").trim();
      if (cost !== "") body.unit_cost = Number(cost);
      if (currency !== "") body.currency = currency;
      // The form does not edit supply facts yet: they are sent back as they were.
      if (sku?.supply) body.supply = sku.supply;
      await api("PUT", `/v1/skus/${encodeURIComponent(id)}`, { body });
      flash(sku ? `SKU ${id} saved.` : `SKU ${id} created.`);
      onSaved(id);
    } catch (e) {
      showErrors(form, problemErrors(e, "Not saved").map((x) => ({ ...x, field: x.field.startsWith("attributes") ? "attributes" : x.field })));
    } finally {
      setBusy(form, false);
    }
  });
  return form;
}

function newSkuForm() {
  return h("details", { class: "panel" }, h("summary", {}, "New SKU"),
    skuEditor({ onSaved: (id) => (location.hash = `#/stock/${encodeURIComponent(id)}`) }));
}

/** The warehouses and countries stock is kept at, and a form to add or rename one. */
function locationsPanel(locs) {
  const form = h("form", { class: "stack" },
    field("Location id", h("input", { name: "location", required: true, maxlength: 32, autocomplete: "off" }), "Letters, digits, _ - (up to 32), e.g. WH-BERLIN or FR"),
    field("Location name", h("input", { name: "name", required: true, maxlength: 256 })),
    field("Kind", h("select", { name: "kind" }, h("option", { value: "warehouse" }, "warehouse"), h("option", { value: "country" }, "country (cross-border sales)"))),
    field("Country code", h("input", { name: "country", maxlength: 2, autocomplete: "off" }), "ISO 3166-1 alpha-2, for a country location"),
    h("button", { type: "submit" }, "Save location"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const v = values(form);
    const id = v.location.trim();
    const errors = [];
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/.test(id)) errors.push({ field: "location", label: "Location id", message: "must be 1–32 of letters, digits, _ - starting with a letter or digit" });
    if (v.kind === "country" && !/^[A-Z]{2}$/.test(v.country.trim())) errors.push({ field: "country", label: "Country code", message: "two capital letters, e.g. FR" });
    if (errors.length) return showErrors(form, errors);
    const body = { name: v.name, kind: v.kind };
    if (v.kind === "country") body.country = v.country.trim();
    setBusy(form, true);
    try {
      await api("PUT", `/v1/locations/${encodeURIComponent(id)}`, { body });
      locationsCache = null;
      flash(`Location ${id} saved.`);
      route();
    } catch (e) {
      showErrors(form, problemErrors(e, "Not saved"));
    } finally {
      setBusy(form, false);
    }
  });
  return h("details", { class: "panel" }, h("summary", {}, `Locations (${locs.length})`),
    locs.length
      ? h("ul", { class: "plain" }, locs.map((l) => h("li", {}, h("strong", {}, l.location), ` — ${l.name} (${l.kind}${l.country ? `, ${l.country}` : ""})`)))
      : h("p", { class: "muted" }, "No locations yet: add one to receive stock into."),
    form);
}

/** The forms ops use to record stock movements for one SKU. */
/** The movement just recorded through a form, until the ledger shows it. */
let awaitedMovement = null;
const LEDGER_WAIT_MS = 5000;

function movementForms(sku, locs, reload) {
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
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        clearErrors(form);
        setBusy(form, true);
        try {
          const result = await submitWrite(form, "POST", spec.path, spec.body(values(form)));
          // The ledger is written from the table's stream a moment after the movement: the SKU
          // page waits for this one to appear.
          awaitedMovement = result?.movement_id ?? null;
          flash(spec.done);
          await reload();
        } catch (e) {
          showErrors(form, problemErrors(e, "Not recorded"));
        } finally {
          setBusy(form, false);
        }
      });
      return h("details", { class: "panel" }, h("summary", {}, spec.title), form);
    }));
}

function ledgerDelta(e) {
  if (e.kind === "adjustment") return `counted ${e.counted ?? e.quantity}${e.expected !== undefined ? ` (expected ${e.expected})` : ""}`;
  const d = e.delta ?? {};
  const parts = [];
  for (const k of ["on_hand", "available", "in_transit"]) if (d[k]) parts.push(`${k.replace("_", " ")} ${d[k] > 0 ? "+" : ""}${d[k]}`);
  if (e.kind === "refund" && e.restocked === false) parts.push("not restocked");
  return parts.join(", ");
}

async function viewSku(seq, id) {
  const s = session();
  const path = `/v1/skus/${encodeURIComponent(id)}`;
  const [sku, locs] = await Promise.all([api("GET", path), locations()]);
  const cursors = [null];
  let page = 0;
  const ledgerBody = h("tbody");
  const newer = h("button", { type: "button" }, "Newer");
  const older = h("button", { type: "button" }, "Older");
  const pageInfo = h("span", { class: "muted", "aria-live": "polite" });
  const chartSlot = h("div", { class: "chart-slot" });
  const stockSlot = h("div", { class: "chart-slot" });

  async function loadLedger(target = page) {
    newer.disabled = older.disabled = true;
    const c = cursors[target];
    let data;
    try {
      const url = `${path}/ledger?limit=20${c ? `&cursor=${encodeURIComponent(c)}` : ""}`;
      data = await api("GET", url);
      const started = Date.now();
      while (target === 0 && awaitedMovement && !data.items.some((e) => e.movement_id === awaitedMovement)
        && Date.now() - started < LEDGER_WAIT_MS && seq === viewSeq) {
        pageInfo.textContent = "Recording the new movement…";
        await new Promise((r) => setTimeout(r, 250));
        data = await api("GET", url);
      }
      if (target === 0) awaitedMovement = null;
    } catch (e) {
      newer.disabled = page === 0;
      older.disabled = !cursors[page + 1];
      throw e;
    }
    page = target;
    cursors[page + 1] = data.next_cursor;
    ledgerBody.replaceChildren(...data.items.map((e) => h("tr", {},
      h("td", {}, timeCell(e.at)),
      h("td", {}, e.kind.replace("_", " ")),
      h("td", {}, e.location),
      h("td", { class: "num" }, e.quantity),
      h("td", {}, ledgerDelta(e)),
      h("td", {}, [e.reference, e.reason, e.order_id && `order ${e.order_id}`].filter(Boolean).join(" · ")),
      h("td", {}, e.actor))));
    if (!data.items.length) ledgerBody.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No movements yet.")));
    newer.disabled = page === 0;
    older.disabled = !data.next_cursor;
    pageInfo.textContent = `Page ${page + 1}`;
  }
  newer.addEventListener("click", () => loadLedger(page - 1).catch((e) => flash(e.message, "bad")));
  older.addEventListener("click", () => loadLedger(page + 1).catch((e) => flash(e.message, "bad")));

  async function drawTrend() {
    // One request: the daily counters every level keeps (no ledger paging, nothing cut off).
    const daily = (await api("GET", `${path}/daily?days=14`)).days;
    const days = daily.map((d) => d.day);
    const t = dailyFromCounters(daily);
    chartSlot.replaceChildren(barChart({
      title: `Units sold and received per day, last 14 days (${sku.sku})`,
      labels: days.map((d) => d.slice(5)),
      series: [{ name: "sold", values: t.sold, cls: "s1" }, { name: "received", values: t.received, cls: "s2" }],
      caption: "Units sold and received per day, last 14 days (UTC), from the daily counters.",
    }));
    const perDay = t.sold.slice(-7).reduce((a, b) => a + b, 0) / 7;
    stockSlot.replaceChildren(lineChart({
      title: `Units on hand at the end of each day, last 14 days (${sku.sku}, all locations)`,
      labels: days.map((d) => d.slice(5)),
      values: stockFromCounters(daily, sku.totals.on_hand),
      projection: projectStockOut(sku.totals.available, perDay, days.at(-1)),
      caption: "Units on hand at the end of each day (UTC), put back from today's stock by the units sold, received and refunded each day (stocktakes and transfers are not in those counters); days of cover = available ÷ units sold per day over the last 7 days.",
    }));
  }

  // The SKU's active checkout holds, read alongside the charts: a failure shows in this section
  // only. The list comes from an index the table's stream writes, so a hold placed a second ago
  // may not be in it yet ("Refresh holds").
  const holdsBody = h("tbody", {}, h("tr", {}, h("td", { colspan: 7, class: "muted" }, "Loading holds…")));
  const holdsStatus = h("p", { class: "muted", "aria-live": "polite" });
  const holdsError = h("div", { class: "holds-error" });
  const moreHolds = h("button", { type: "button", class: "secondary", hidden: true }, "More holds");
  const refreshHolds = h("button", { type: "button", class: "secondary" }, "Refresh holds");
  const holds = { rows: [], cursor: null };

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

  function drawHolds() {
    holdsBody.replaceChildren(...holds.rows.map(holdRow));
    if (!holds.rows.length) holdsBody.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No active holds.")));
    const units = holds.rows.reduce((a, r) => a + r.quantity, 0);
    holdsStatus.textContent = holds.rows.length
      ? `${holds.rows.length} active ${holds.rows.length === 1 ? "hold" : "holds"}, ${units} ${units === 1 ? "unit" : "units"}${holds.cursor ? " shown; there are more" : ""}.`
      : "";
    moreHolds.hidden = !holds.cursor;
  }

  /** Reads up to HOLDS_PAGES pages: from the start, or (`more`) on from where the last read ended. */
  async function loadHolds(more = false) {
    moreHolds.disabled = refreshHolds.disabled = true;
    try {
      let cursor = more ? holds.cursor : null;
      const rows = more ? [...holds.rows] : [];
      for (let i = 0; i < HOLDS_PAGES; i++) {
        const data = await api("GET", holdsPath(sku.sku, { cursor }));
        const readAt = Date.now();
        for (const item of data.items) {
          rows.push({ ...item, secondsLeft: () => item.expires_in_seconds - (Date.now() - readAt) / 1000 });
        }
        cursor = data.next_cursor ?? null;
        if (!cursor) break;
      }
      if (seq !== viewSeq) return;
      holds.rows = rows;
      holds.cursor = cursor;
      holdsError.replaceChildren();
      drawHolds();
    } catch (e) {
      holdsError.replaceChildren(errorBox(`The holds could not be read: ${e.message}`));
      if (!more) {
        holdsBody.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "Holds not available.")));
        holdsStatus.textContent = "";
        moreHolds.hidden = true;
      }
    } finally {
      moreHolds.disabled = refreshHolds.disabled = false;
    }
  }
  moreHolds.addEventListener("click", () => loadHolds(true));
  refreshHolds.addEventListener("click", () => loadHolds(false));
  // The time left counts down while the page is open (no request: from the API's answer).
  every(seq, 15_000, () => holds.rows.forEach((r) => r.refresh?.()));

  const levels = h("table", { "aria-label": `Stock levels of ${sku.sku}` },
    h("thead", {}, h("tr", {}, ["Location", "On hand", "Reserved", "In transit", "Available", "Updated"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {},
      sku.levels.length ? sku.levels.map((l) => h("tr", {},
        h("th", { scope: "row" }, l.location), h("td", { class: "num" }, l.on_hand), h("td", { class: "num" }, l.reserved),
        h("td", { class: "num" }, l.in_transit), h("td", { class: "num" }, l.available), h("td", {}, timeCell(l.updated_at))))
        : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No stock recorded at any location yet."))),
    h("tfoot", {}, h("tr", {}, h("th", { scope: "row" }, "Total"), h("td", { class: "num" }, sku.totals.on_hand), h("td", { class: "num" }, sku.totals.reserved),
      h("td", { class: "num" }, sku.totals.in_transit), h("td", { class: "num" }, sku.totals.available), h("td", {}))));

  const attrs = Object.entries(sku.attributes ?? {});
  render(seq,
    h("p", { class: "crumbs" }, h("a", { href: "#/stock" }, "Stock"), " / ", sku.sku),
    h("h1", {}, sku.name, " ", h("span", { class: "muted" }, `(${sku.sku})`)),
    attrs.length ? h("dl", { class: "attrs" }, attrs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])) : null,
    h("p", {}, h("a", { href: `#/alerts/sku/${encodeURIComponent(sku.sku)}` }, "Alerts for this SKU")),
    h("section", { "aria-labelledby": "levels-h" }, h("h2", { id: "levels-h" }, "Levels"), tableWrap(levels)),
    h("section", { "aria-labelledby": "holds-h" }, h("h2", { id: "holds-h" }, "Holds"),
      h("p", { class: "muted" }, "Active checkout holds on this SKU: their units count as reserved until they are committed, released or run out."),
      holdsError,
      tableWrap(h("table", { "aria-label": `Active holds on ${sku.sku}` },
        h("thead", {}, h("tr", {}, ["Reservation", "Location", "Quantity", "Expires at", "Time left", "Reference", "Created by"].map((c) => h("th", { scope: "col" }, c)))),
        holdsBody)),
      h("div", { class: "pager" }, refreshHolds, holdsStatus, moreHolds)),
    s.canAdmin ? movementForms(sku, locs, () => route()) : null,
    s.canAdmin ? h("details", { class: "panel" }, h("summary", {}, "Edit SKU"), skuEditor({ sku, onSaved: () => route() })) : null,
    h("section", { "aria-labelledby": "trend-h" }, h("h2", { id: "trend-h" }, "Trend"), chartSlot),
    h("section", { "aria-labelledby": "stock-h" }, h("h2", { id: "stock-h" }, "Stock on hand"), stockSlot),
    h("section", { "aria-labelledby": "ledger-h" }, h("h2", { id: "ledger-h" }, "Ledger (newest first)"),
      tableWrap(h("table", { "aria-label": `Ledger of ${sku.sku}` },
        h("thead", {}, h("tr", {}, ["When", "Movement", "Location", "Quantity", "Change", "Reference", "By"].map((c) => h("th", { scope: "col" }, c)))),
        ledgerBody)),
      h("div", { class: "pager" }, newer, pageInfo, older)));
  await Promise.all([loadLedger(), loadHolds(), drawTrend().catch((e) => {
    chartSlot.replaceChildren(errorBox(e));
    stockSlot.replaceChildren();
  })]);
}

// ---------------------------------------------------------------------------------------------
// Replenishment

/** Shows the API's field errors next to the filter fields (no summary: the list says it). */
function markFieldErrors(form, errors) {
  for (const e of errors) {
    const wrap = form.querySelector(`[data-field="${CSS.escape(e.field)}"]`);
    wrap?.querySelector("input,select")?.setAttribute("aria-invalid", "true");
    const slot = wrap?.querySelector(".field-error");
    if (slot) slot.textContent = e.message;
  }
}

/** A row's chart and plan: history and forecast with its band, and the terms the plan used. */
function replenishmentDetail(r) {
  const series = forecastSeries(r);
  const method = String(r.method ?? "").replace(/_/g, " ");
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

async function viewReplenishment(seq) {
  const s = session();
  const locs = await locations();
  const state = { cursor: null, done: false, loading: null, rows: [], filter: {}, query: "", open: new Set() };
  const groupsBox = h("div", { class: "repl-groups" });
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const listError = h("div", { class: "list-error" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More");
  const exportButton = h("button", { type: "button", class: "secondary", disabled: true }, "Export CSV");
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter suggestions" },
    field("Supplier", h("input", { name: "supplier", type: "search", maxlength: 64, autocomplete: "off", placeholder: "e.g. ACME" })),
    field("Location", locationSelect("location", locs, { all: true })));
  let debounce = null;
  filters.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => restart(), 300);
  });
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    clearTimeout(debounce);
    restart();
  });

  /** A suggestion's row and the row under it that opens to its chart. */
  function rowOf(r) {
    const key = rowKey(r);
    const detailId = `repl-d-${state.rows.indexOf(r)}`;
    const open = state.open.has(key);
    const slot = h("div", { class: "row-status" });
    const toggle = h("button", { type: "button", class: "secondary", "aria-expanded": open ? "true" : "false", "aria-controls": detailId, "aria-label": `Forecast of ${r.sku} at ${r.location}` }, "Forecast");
    const accept = s.canAdmin && !r.ordered
      ? h("button", { type: "button", "aria-label": `Accept: order ${r.suggested} of ${r.sku} at ${r.location}` }, "Accept")
      : null;
    const ordered = r.ordered ? h("span", { class: "tag ok", tabindex: "-1" }, `Ordered ${r.ordered.quantity} (${r.ordered.reference})`) : null;
    const main = h("tr", { "data-key": key, class: r.ordered ? "ordered" : null },
      h("th", { scope: "row" }, h("a", { href: `#/stock/${encodeURIComponent(r.sku)}` }, r.sku)),
      h("td", {}, r.location),
      h("td", {}, String(r.method ?? "").replace(/_/g, " ")),
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
      tableWrap(h("table", { "aria-label": g.supplier ? `Orders to place with ${g.supplier}` : "Orders without a supplier" },
        h("thead", {}, h("tr", {}, ["SKU", "Location", "Method", "Demand / day", "Reorder point", "Position (available + in transit)", "Suggested", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, g.items.map(rowOf)))));
  }

  function draw() {
    const filtered = !!(state.filter.supplier || state.filter.location);
    keepingFocus(groupsBox, () => {
      groupsBox.replaceChildren(...groupBySupplier(state.rows).map(groupSection));
      if (!state.rows.length) {
        groupsBox.append(h("p", { class: "muted" }, state.done
          ? `Nothing to order${filtered ? " here" : ""}: no level is at or below its reorder point.`
          : "None on this page of the list: More reads on."));
      }
    });
    const n = state.rows.length;
    status.textContent = `${n} ${n === 1 ? "suggestion" : "suggestions"}${state.done ? "" : " (more available)"}.`;
    more.hidden = state.done;
    exportButton.disabled = n === 0;
  }

  /** Loads the next page of the current filter (one request; one load at a time). */
  function loadPage() {
    state.loading ??= (async () => {
      more.disabled = true;
      const query = state.query;
      try {
        const page = await api("GET", replenishmentPath({ ...state.filter, cursor: state.cursor }));
        if (query !== state.query || seq !== viewSeq) return;
        // A level listed again on a later page (its stock moved meanwhile) is shown once.
        const known = new Set(state.rows.map(rowKey));
        state.rows.push(...page.items.filter((r) => !known.has(rowKey(r))));
        state.cursor = page.next_cursor ?? null;
        state.done = !state.cursor;
        listError.replaceChildren();
        draw();
      } catch (e) {
        if (query !== state.query || seq !== viewSeq) return;
        throw e;
      } finally {
        more.disabled = false;
        state.loading = null;
      }
    })();
    return state.loading;
  }

  /** Reads the list afresh for the filters' values (the API filters on the server). */
  async function restart() {
    await state.loading?.catch(() => {});
    const v = values(filters);
    state.filter = { supplier: v.supplier.trim(), location: v.location };
    state.query = JSON.stringify(state.filter);
    state.rows = [];
    state.cursor = null;
    state.done = false;
    state.open.clear();
    clearErrors(filters);
    try {
      await loadPage();
    } catch (e) {
      if (seq !== viewSeq) return;
      groupsBox.replaceChildren();
      status.textContent = "";
      more.hidden = true;
      exportButton.disabled = true;
      listError.replaceChildren(errorBox(e));
      if (e instanceof ApiError) markFieldErrors(filters, e.fieldErrors());
    }
  }
  more.addEventListener("click", () => loadPage().catch((e) => listError.replaceChildren(errorBox(e))));
  exportButton.addEventListener("click", () => {
    // The rows loaded so far, as shown (More first for the rest of the list).
    download(`replenishment-${state.rows[0]?.dt ?? "list"}.csv`, toCsv(state.rows));
  });

  render(seq,
    h("h1", {}, "Replenishment"),
    h("p", { class: "muted" },
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

// ---------------------------------------------------------------------------------------------
// Alerts

function severityTag(sev) {
  return h("span", { class: `sev ${sev}` }, sev);
}

function observationText(a) {
  const o = a.observation ?? {};
  const parts = [];
  if (o.available !== undefined) parts.push(`available ${o.available}`);
  if (o.sold !== undefined) parts.push(`sold ${o.sold}`);
  if (o.days_of_cover !== undefined) parts.push(`${Number(o.days_of_cover).toFixed(1)} days of cover`);
  if (o.idle_days !== undefined) parts.push(`${o.idle_days} days idle`);
  return parts.join(", ");
}

function sortAlerts(alerts) {
  const open = (a) => (a.state === "resolved" ? 0 : 1);
  return alerts.sort((a, b) =>
    open(b) - open(a) ||
    (SEVERITY_RANK[b.severity] ?? 0) - (SEVERITY_RANK[a.severity] ?? 0) ||
    (a.state === "firing" ? 0 : 1) - (b.state === "firing" ? 0 : 1) ||
    String(b.fired_at).localeCompare(String(a.fired_at)));
}

async function alertAction(alert, action) {
  const updated = await api("POST", `/v1/alerts/${encodeURIComponent(alert.alert_id)}/${action}`);
  flash(`Alert ${action === "acknowledge" ? "acknowledged" : "resolved"}: ${alert.rule_name}, ${alert.sku} at ${alert.location}.`);
  await refreshOpenCount();
  return updated;
}

function alertButtons(alert, after) {
  if (!session()?.canAdmin) return null;
  const run = (action) => async (ev) => {
    ev.target.disabled = true;
    try {
      await alertAction(alert, action);
      await after();
    } catch (e) {
      flash(e.message, "bad");
      ev.target.disabled = false;
    }
  };
  return h("span", { class: "actions" },
    alert.state === "firing" ? h("button", { type: "button", onclick: run("acknowledge"), "aria-label": `Acknowledge ${alert.rule_name} for ${alert.sku} at ${alert.location}` }, "Acknowledge") : null,
    alert.state !== "resolved" ? h("button", { type: "button", class: "secondary", onclick: run("resolve"), "aria-label": `Resolve ${alert.rule_name} for ${alert.sku} at ${alert.location}` }, "Resolve") : null);
}

async function fetchAlerts(f) {
  const q = new URLSearchParams();
  if (f.severity) q.set("severity", f.severity);
  if (f.sku.trim()) q.set("sku", f.sku.trim());
  if (f.location) q.set("location", f.location);
  const states = f.state === "open" ? ["firing", "acknowledged"] : f.state === "all" ? [null] : [f.state];
  const lists = await Promise.all(states.map((st) => {
    const p = new URLSearchParams(q);
    if (st) p.set("state", st);
    const qs = p.toString();
    return listAll(`/v1/alerts${qs ? `?${qs}` : ""}`, { max: 300 });
  }));
  return { items: sortAlerts(lists.flatMap((l) => l.items)), more: lists.some((l) => l.more) };
}

function silenceForm({ ruleId, sku, after }) {
  const form = h("form", { class: "stack" },
    h("fieldset", {}, h("legend", {}, "Silence"),
      ruleId ? h("div", { class: "field check" }, h("input", { type: "radio", name: "target", value: "rule", id: "sil-rule", checked: true }), h("label", { for: "sil-rule" }, "this rule (every SKU)")) : null,
      sku ? h("div", { class: "field check" }, h("input", { type: "radio", name: "target", value: "sku", id: "sil-sku", checked: !ruleId }), h("label", { for: "sil-sku" }, `SKU ${sku} (every rule)`)) : null),
    field("For (minutes)", h("input", { name: "minutes", type: "number", min: 1, max: 10080, value: 60, required: true, inputmode: "numeric" }), "1 to 10080 (a week)"),
    field("Reason", h("input", { name: "reason", required: true, maxlength: 256, placeholder: "e.g. stocktake" })),
    h("button", { type: "submit" }, "Silence"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const v = values(form);
    const body = { minutes: intOrNull(v.minutes), reason: v.reason.trim() };
    if (v.target === "rule") body.rule_id = ruleId;
    else body.sku = sku;
    setBusy(form, true);
    try {
      const sil = await api("POST", "/v1/silences", { body });
      flash(`Silenced until ${fmtTime(sil.until)}.`);
      await after();
    } catch (e) {
      showErrors(form, problemErrors(e, "Not silenced"));
    } finally {
      setBusy(form, false);
    }
  });
  return form;
}

async function silencesSection() {
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

async function viewAlerts(seq, presetSku) {
  const locs = await locations();
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter alerts" },
    field("State", h("select", { name: "state" },
      [["open", "Open (firing or acknowledged)"], ["firing", "Firing"], ["acknowledged", "Acknowledged"], ["resolved", "Resolved"], ["all", "All"]].map(([v, l]) => h("option", { value: v }, l)))),
    field("Severity", h("select", { name: "severity" }, h("option", { value: "" }, "Any"), SEVERITIES.map((x) => h("option", { value: x }, x)))),
    field("SKU", h("input", { name: "sku", type: "search", value: presetSku, autocomplete: "off" })),
    field("Location", locationSelect("location", locs, { all: true })));
  const body = h("tbody");
  const status = h("p", { class: "muted", "aria-live": "polite" });
  let known = null;
  let shown = null;
  let latest = 0;
  // Alerts ticked for a bulk action (kept across refreshes).
  const picked = new Set();
  const canAdmin = session().canAdmin;
  const pickedCount = h("span", { "aria-live": "polite" }, "");
  const bulk = h("div", { class: "bulk", hidden: !canAdmin },
    pickedCount,
    ...[["acknowledge", "Acknowledge selected"], ["resolve", "Resolve selected"], ["silence_sku", "Silence their SKUs for an hour"]].map(([action, label]) => {
      const b = h("button", { type: "button", class: "secondary", "data-action": action }, label);
      b.addEventListener("click", () => bulkAction(action).catch((e) => flash(e.message, "bad")));
      return b;
    }));
  function showPicked() {
    pickedCount.textContent = picked.size ? `${picked.size} selected. ` : "Tick alerts to act on many at once. ";
    for (const b of bulk.querySelectorAll("button")) b.disabled = picked.size === 0;
  }
  async function bulkAction(action) {
    const ids = [...picked];
    const results = [];
    // 100 alerts a request.
    for (let i = 0; i < ids.length; i += 100) {
      const body = { action, alert_ids: ids.slice(i, i + 100) };
      if (action === "silence_sku") Object.assign(body, { minutes: 60, reason: "silenced from the inbox" });
      results.push(...(await api("POST", "/v1/alerts/bulk", { body })).results);
    }
    const refused = results.filter((x) => x.status !== 200);
    const why = refused.slice(0, 3).map((x) => `${x.alert_id}: ${x.problem?.detail ?? x.status}`).join("; ");
    flash(`${results.length - refused.length} done, ${refused.length} refused${why ? ` (${why})` : ""}.`, refused.length ? "warn" : "ok");
    picked.clear();
    showPicked();
    shown = null;
    await refresh(false);
  }

  async function refresh(announce) {
    // Only the answer to the latest request is drawn: a slow poll never overwrites the result of
    // a filter chosen after it started.
    const mine = ++latest;
    const f = values(filters);
    const { items, more } = await fetchAlerts(f);
    if (seq !== viewSeq || mine !== latest) return;
    const unfiltered = f.state === "open" && !f.severity && !f.sku.trim() && !f.location;
    countKeptBy = unfiltered ? seq : 0;
    if (unfiltered) showOpenCount(items.length, more);
    const ids = new Set(items.map((a) => a.alert_id));
    if (announce && known) {
      const fresh = items.filter((a) => !known.has(a.alert_id)).length;
      if (fresh) flash(`${fresh} new alert${fresh > 1 ? "s" : ""}.`, "warn");
    }
    known = ids;
    const text = `${items.length}${more ? "+" : ""} alert${items.length === 1 ? "" : "s"}; updates every ${POLL_MS / 1000} s.`;
    if (status.textContent !== text) status.textContent = text;
    const snapshot = JSON.stringify(items);
    if (snapshot === shown) return; // nothing changed: leave the rows (and the focus) alone
    shown = snapshot;
    keepingFocus(body, () => drawRows(items));
  }

  function drawRows(items) {
    body.replaceChildren(...items.map((a) => h("tr", { class: `state-${a.state}`, "data-alert": a.alert_id, "data-key": a.alert_id },
      canAdmin ? h("td", {}, (() => {
        const box = h("input", { type: "checkbox", "aria-label": `Select ${a.rule_name}, ${a.sku} at ${a.location}` });
        box.checked = picked.has(a.alert_id);
        box.addEventListener("change", () => {
          if (box.checked) picked.add(a.alert_id);
          else picked.delete(a.alert_id);
          showPicked();
        });
        return box;
      })()) : null,
      h("td", {}, severityTag(a.severity)),
      h("th", { scope: "row" }, h("a", { href: `#/alerts/${encodeURIComponent(a.alert_id)}` }, a.rule_name)),
      h("td", {}, h("a", { href: `#/stock/${encodeURIComponent(a.sku)}` }, a.sku)),
      h("td", {}, a.location),
      h("td", {}, a.state),
      h("td", {}, timeCell(a.fired_at)),
      h("td", {}, observationText(a)),
      h("td", {}, alertButtons(a, () => refresh(false))))));
    if (!items.length) body.append(h("tr", {}, h("td", { colspan: canAdmin ? 9 : 8, class: "muted" }, "No alerts match.")));
  }
  filters.addEventListener("change", () => {
    known = null;
    // Ticks are for the alerts shown: a new filter starts without any.
    picked.clear();
    showPicked();
    refresh(false).catch((e) => flash(e.message, "bad"));
  });
  filters.addEventListener("submit", (e) => e.preventDefault());

  const silences = await silencesSection();
  const drawn = render(seq,
    h("h1", {}, "Alerts"),
    filters,
    bulk,
    tableWrap(h("table", { "aria-label": "Alert inbox" },
      h("thead", {}, h("tr", {}, [...(canAdmin ? ["Select"] : []), "Severity", "Rule", "SKU", "Location", "State", "Fired", "Observed", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      body)),
    status,
    silences);
  if (!drawn) return;
  showPicked();
  await refresh(false);
  every(seq, POLL_MS, () => refresh(true).catch(() => {}));
}

async function viewAlert(seq, id) {
  const a = await api("GET", `/v1/alerts/${encodeURIComponent(id)}`);
  const again = () => route();
  render(seq,
    h("p", { class: "crumbs" }, h("a", { href: "#/alerts" }, "Alerts"), " / ", a.alert_id),
    h("h1", {}, a.rule_name),
    h("dl", { class: "attrs" },
      h("dt", {}, "Severity"), h("dd", {}, severityTag(a.severity)),
      h("dt", {}, "State"), h("dd", { "data-testid": "alert-state" }, a.state),
      h("dt", {}, "Kind"), h("dd", {}, a.kind.replace(/_/g, " ")),
      h("dt", {}, "SKU"), h("dd", {}, h("a", { href: `#/stock/${encodeURIComponent(a.sku)}` }, a.sku)),
      h("dt", {}, "Location"), h("dd", {}, a.location),
      h("dt", {}, "Observed"), h("dd", {}, observationText(a) || "—"),
      h("dt", {}, "Fired"), h("dd", {}, timeCell(a.fired_at)),
      a.acknowledged_at ? [h("dt", {}, "Acknowledged"), h("dd", {}, timeCell(a.acknowledged_at), ` by ${a.acknowledged_by}`)] : null,
      a.resolved_at ? [h("dt", {}, "Resolved"), h("dd", {}, timeCell(a.resolved_at), ` by ${a.resolved_by}`)] : null,
      h("dt", {}, "Reminders"), h("dd", {}, a.reminders, a.last_reminded_at ? [", last ", timeCell(a.last_reminded_at)] : null),
      h("dt", {}, "Rule"), h("dd", {}, h("a", { href: `#/rules/${encodeURIComponent(a.rule_id)}` }, a.rule_id))),
    h("p", {}, alertButtons(a, again)),
    h("section", { "aria-labelledby": "hist-h" }, h("h2", { id: "hist-h" }, "History"),
      h("ol", { class: "history" }, a.history.map((e) => h("li", {}, timeCell(e.at), ` ${e.event} by ${e.by}`)))),
    h("section", { "aria-labelledby": "deliv-h" }, h("h2", { id: "deliv-h" }, "Notifications"),
      Object.keys(a.deliveries ?? {}).length
        ? tableWrap(h("table", { "aria-label": "Notifications of this alert" },
          h("thead", {}, h("tr", {}, ["Notice", "Channel", "Status", "When", "Reason"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, Object.entries(a.deliveries).map(([key, d]) => {
            const [notice, channel] = key.split(":");
            return h("tr", {},
              h("td", {}, { fire: "fired", remind: "reminder", resolve: "resolved" }[notice] ?? notice),
              h("td", {}, channel === "sms" ? "SMS (ops topic)" : "email"),
              h("td", { "data-status": d.status }, d.status),
              h("td", {}, timeCell(d.at ?? d.since)),
              h("td", {}, d.reason ?? ""));
          }))))
        : h("p", { class: "muted" }, "This rule sends no SMS or email; the alert is in the inbox only.")),
    session().canAdmin ? h("details", { class: "panel" }, h("summary", {}, "Silence"), silenceForm({ ruleId: a.rule_id, sku: a.sku, after: again })) : null);
}

// ---------------------------------------------------------------------------------------------
// Rules

async function viewRules(seq) {
  const s = session();
  const { items } = await listAll("/v1/rules", { max: 1000 });
  const body = h("tbody");
  const draw = (rules) => keepingFocus(body, () => {
    body.replaceChildren(...rules.map((r) => h("tr", { class: r.enabled ? null : "disabled", "data-key": r.rule_id },
      h("th", { scope: "row" }, h("a", { href: `#/rules/${encodeURIComponent(r.rule_id)}` }, r.name)),
      h("td", {}, kindOf(r.kind)?.label ?? r.kind),
      h("td", {}, describeCondition(r)),
      h("td", {}, describeSelector(r.selector)),
      h("td", {}, severityTag(r.severity)),
      h("td", {}, [r.channels?.sms && "SMS", r.channels?.email?.length && `email (${r.channels.email.length})`, r.channels?.inbox !== false && "inbox"].filter(Boolean).join(", ")),
      h("td", {}, r.enabled ? "enabled" : "disabled"),
      h("td", {}, s.canAdmin ? h("span", { class: "actions" },
        h("button", { type: "button", class: "secondary", "aria-label": `${r.enabled ? "Disable" : "Enable"} ${r.name}`, onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const updated = await api("PUT", `/v1/rules/${encodeURIComponent(r.rule_id)}`, { body: { ...bodyOfRule(r), enabled: !r.enabled } });
            Object.assign(r, updated);
            flash(`${r.name} ${r.enabled ? "enabled" : "disabled"}.`);
            draw(rules);
          } catch (e) {
            flash(e.message, "bad");
            ev.target.disabled = false;
          }
        } }, r.enabled ? "Disable" : "Enable"),
        h("button", { type: "button", class: "danger", "aria-label": `Delete ${r.name}`, onclick: async () => {
          if (!confirm(`Delete the rule "${r.name}"? Its alerts stay in the inbox.`)) return;
          try {
            await api("DELETE", `/v1/rules/${encodeURIComponent(r.rule_id)}`);
            flash(`${r.name} deleted.`);
            draw(rules.filter((x) => x !== r));
            rules.splice(rules.indexOf(r), 1);
          } catch (e) {
            flash(e.message, "bad");
          }
        } }, "Delete")) : null))));
    if (!rules.length) body.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No rules yet.")));
  });
  draw(items);
  render(seq,
    h("h1", {}, "Rules"),
    s.canAdmin ? h("p", {}, h("a", { href: "#/rules/new", class: "button" }, "New rule")) : null,
    tableWrap(h("table", { "aria-label": "Alert rules" },
      h("thead", {}, h("tr", {}, ["Name", "Kind", "Fires when", "Applies to", "Severity", "Channels", "Status", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      body)));
}

/** Maps an API field name to the rule form's field. */
function ruleFormField(apiField) {
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

async function viewRuleForm(seq, id) {
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
    const show = { selector_sku: "sku", selector_prefix: "prefix", selector_attr_name: "attribute", selector_attr_value: "attribute" };
    for (const [name, t] of Object.entries(show)) form.querySelector(`[data-field="${name}"]`).hidden = v.selector_type !== t;
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
      // The server filters the whole catalogue (SKU, prefix, attribute, location); up to 500
      // levels are shown.
      const sel = body.selector;
      const q = new URLSearchParams();
      if (sel.sku || sel.sku_prefix) q.set("sku_prefix", sel.sku ?? sel.sku_prefix);
      if (sel.attribute) q.set("attribute", `${sel.attribute.name}:${sel.attribute.value}`);
      if (sel.location) q.set("location", sel.location);
      const { items, more } = await listAll(`/v1/levels?${q}`, { max: 500 });
      const seen = new Map();
      for (const r of items) {
        if (!sel.sku || r.sku === sel.sku) seen.set(r.sku, r.name);
      }
      const hits = [...seen];
      const where = sel.location ? ` at ${sel.location}` : " at every location";
      out.replaceChildren(...[
        h("p", {}, `${describeSelector(sel)}: ${hits.length}${more ? "+" : ""} SKUs${where}.`),
        hits.length ? h("ul", { class: "columns" }, hits.slice(0, 200).map(([k, name]) => h("li", {}, h("a", { href: `#/stock/${encodeURIComponent(k)}` }, k), ` — ${name}`))) : null,
        hits.length > 200 ? h("p", { class: "muted" }, `and ${hits.length - 200} more.`) : null,
      ].filter(Boolean));
    } catch (e) {
      out.replaceChildren(errorBox(e));
    }
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const { body, errors } = ruleFromForm(values(form));
    const labelOf = (fieldName) => form.querySelector(`[data-field="${ruleFormField(fieldName)}"] label, [data-field="${ruleFormField(fieldName)}"] legend`)?.textContent ?? fieldName;
    if (errors.length) {
      return showErrors(form, errors.map((e) => ({ ...e, label: labelOf(e.field) })), ruleFormField);
    }
    setBusy(form, true);
    try {
      const saved = rule
        ? await api("PUT", `/v1/rules/${encodeURIComponent(rule.rule_id)}`, { body })
        : await submitWrite(form, "POST", "/v1/rules", body);
      flash(`Rule "${saved.name}" ${rule ? "saved" : "created"}. It applies within a minute.`);
      location.hash = "#/rules";
    } catch (e) {
      const fieldErrors = e instanceof ApiError ? e.fieldErrors() : [];
      showErrors(form, fieldErrors.length ? fieldErrors.map((x) => ({ ...x, label: labelOf(x.field) })) : [{ field: "form", label: "Not saved", message: e.message }], ruleFormField);
    } finally {
      setBusy(form, false);
    }
  });

  render(seq,
    h("p", { class: "crumbs" }, h("a", { href: "#/rules" }, "Rules"), " / ", rule ? rule.name : "New"),
    h("h1", {}, rule ? `Rule: ${rule.name}` : "New rule"),
    s.canAdmin ? null : h("p", { class: "muted" }, "You can read rules; changing them needs the admin scope."),
    form,
    preview);
}

// ---------------------------------------------------------------------------------------------
// Reports

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

async function viewReports(seq, dt) {
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
  const url = (dataset) => urls(dataset)[0];
  const trendSlot = h("div", { class: "chart-slot" }, h("p", { class: "muted" }, "Loading…"));
  const stockSlot = h("div", { class: "chart-slot" }, h("p", { class: "muted" }, "Loading…"));
  const coverSlot = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const episodesSlot = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const kinds = Object.entries(m.alerts_by_kind ?? {});
  const summary = url("summary");
  render(seq,
    h("h1", {}, "Reports"),
    h("div", { class: "filters" }, field("Day", picker)),
    h("dl", { class: "attrs" },
      h("dt", {}, "Stock levels"), h("dd", {}, m.levels),
      h("dt", {}, "Alerts fired"), h("dd", {}, m.alerts)),
    summary ? h("p", {}, h("a", { href: summary, target: "_blank", rel: "noopener" }, "Open the HTML summary"), " (link valid ", Math.round(m.url_expires_in_seconds / 60), " minutes)") : null,
    h("section", { "aria-labelledby": "rtrend-h" }, h("h2", { id: "rtrend-h" }, "Units per day"), trendSlot),
    h("section", { "aria-labelledby": "rstock-h" }, h("h2", { id: "rstock-h" }, "Stock on hand"), stockSlot),
    h("section", { "aria-labelledby": "rkind-h" }, h("h2", { id: "rkind-h" }, "Alerts by kind"),
      kinds.length
        ? barChart({ title: `Alerts fired on ${day} by kind`, labels: kinds.map(([k]) => k.replace(/_/g, " ")), series: [{ name: "alerts", values: kinds.map(([, n]) => n), cls: "s3" }], caption: `Alerts fired on ${day}, by kind.` })
        : h("p", { class: "muted" }, "No alerts fired that day.")),
    h("section", { "aria-labelledby": "rcover-h" }, h("h2", { id: "rcover-h" }, "Lowest days of cover"), coverSlot),
    h("section", { "aria-labelledby": "ralerts-h" }, h("h2", { id: "ralerts-h" }, "Alert episodes fired that day"), episodesSlot),
    h("section", { "aria-labelledby": "rdl-h" }, h("h2", { id: "rdl-h" }, "Downloads"),
      tableWrap(h("table", { "aria-label": "Report files" },
        h("thead", {}, h("tr", {}, ["File", "Rows", "Size"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, m.objects.map((o) => h("tr", {},
          h("td", {}, h("a", { href: o.url, download: o.key.split("/").at(-1) }, o.key)),
          h("td", { class: "num" }, o.rows),
          h("td", { class: "num" }, `${(o.bytes / 1024).toFixed(1)} KiB`))))))));
  const trends = urls("trends-jsonl");
  const snapshot = urls("snapshot-jsonl");
  const snapshotRows = snapshot.length ? fetchDataset(snapshot) : Promise.resolve(null);
  if (trends.length) {
    const trendRows = fetchDataset(trends);
    Promise.all([trendRows, snapshotRows]).then(([rows, levels]) => {
      const stock = stockFromTrends(rows);
      const sum = (k) => (levels ?? []).reduce((a, r) => a + (Number(r[k]) || 0), 0);
      stockSlot.replaceChildren(lineChart({
        title: `Units on hand at the end of each day, all SKUs, to ${day}`,
        labels: stock.labels.map((l) => l.slice(5)),
        values: stock.values,
        projection: projectStockOut(sum("available"), sum("avg_daily_sales_7d"), day),
        caption: `Units on hand at the end of each day across all SKUs and locations (trend report of ${day}); days of cover = available ÷ the 7-day average of units sold per day.`,
      }));
    }).catch((e) => stockSlot.replaceChildren(errorBox(e)));
    trendRows.then((rows) => {
      const t = dailyFromTrends(rows);
      trendSlot.replaceChildren(barChart({
        title: `Units sold and received per day, all SKUs, to ${day}`,
        labels: t.labels.map((l) => l.slice(5)),
        series: [{ name: "sold", values: t.sold, cls: "s1" }, { name: "received", values: t.received, cls: "s2" }],
        caption: `Units sold and received per day across all SKUs and locations (trend report of ${day}).`,
      }));
    }).catch((e) => trendSlot.replaceChildren(errorBox(e)));
  } else {
    trendSlot.replaceChildren(h("p", { class: "muted" }, "No trend report that day."));
    stockSlot.replaceChildren(h("p", { class: "muted" }, "No trend report that day."));
  }
  if (snapshot.length) {
    snapshotRows.then((rows) => {
      const low = rows.filter((r) => r.days_of_cover !== null && r.days_of_cover !== undefined).sort((a, b) => a.days_of_cover - b.days_of_cover).slice(0, 10);
      coverSlot.replaceChildren(low.length
        ? tableWrap(h("table", { "aria-label": "Lowest days of cover" },
          h("thead", {}, h("tr", {}, ["SKU", "Location", "Available", "Sold per day (7 d)", "Days of cover"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, low.map((r) => h("tr", {},
            h("th", { scope: "row" }, h("a", { href: `#/stock/${encodeURIComponent(r.sku)}` }, r.sku)),
            h("td", {}, r.location), h("td", { class: "num" }, r.available),
            h("td", { class: "num" }, Number(r.avg_daily_sales_7d).toFixed(1)), h("td", { class: "num" }, Number(r.days_of_cover).toFixed(1)))))))
        : h("p", { class: "muted" }, "No sales in the last 7 days, so no cover to compute."));
    }).catch((e) => coverSlot.replaceChildren(errorBox(e)));
  } else coverSlot.replaceChildren(h("p", { class: "muted" }, "No snapshot that day."));
  const episodes = urls("alerts-jsonl");
  const minutes = (m) => (m === null || m === undefined ? "—" : m < 120 ? `${m} min` : `${(m / 60).toFixed(1)} h`);
  if (episodes.length) {
    fetchDataset(episodes).then((rows) => {
      episodesSlot.replaceChildren(rows.length
        ? tableWrap(h("table", { "aria-label": "Alert episodes fired that day" },
          h("thead", {}, h("tr", {}, ["Fired", "Severity", "Rule", "SKU", "Location", "State", "To acknowledge", "To resolve"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, rows.map((r) => h("tr", {},
            h("td", {}, timeCell(r.fired_at)), h("td", {}, severityTag(r.severity)),
            h("th", { scope: "row" }, h("a", { href: `#/alerts/${encodeURIComponent(r.alert_id)}` }, r.rule_name)),
            h("td", {}, r.sku), h("td", {}, r.location), h("td", {}, r.state),
            h("td", { class: "num" }, minutes(r.minutes_to_acknowledge)), h("td", { class: "num" }, minutes(r.minutes_to_resolve)))))))
        : h("p", { class: "muted" }, "No alert fired that day."));
    }).catch((e) => episodesSlot.replaceChildren(errorBox(e)));
  } else episodesSlot.replaceChildren(h("p", { class: "muted" }, "No alert report that day."));
}

// ---------------------------------------------------------------------------------------------

window.addEventListener("hashchange", route);
// The skip link moves the focus to the content without touching the router's hash.
document.querySelector(".skip").addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener("console:unauthorized", () => {
  signOut();
  flash("Your sign-in has expired. Sign in again.", "bad");
  location.hash = "#/signin";
});

(async () => {
  try {
    await loadConfig();
    await completeOidcSignIn();
  } catch (e) {
    main.replaceChildren(h("h1", {}, "Inventory console"), errorBox(e));
    return;
  }
  if (session()) startCountPolling();
  route();
})();
