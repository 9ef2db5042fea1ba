// Building the page with the DOM (no HTML from data): elements, times, tables and the small parts
// every page shows the same way.

export function h(tag, attrs = {}, ...children) {
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

export function append(e, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function timeCell(iso) {
  return h("time", { datetime: iso, title: iso }, fmtTime(iso));
}

export function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, err instanceof Error ? err.message : String(err));
}

/** A muted paragraph: a note, or what a part of the page says while it loads or has nothing to show. */
export function muted(...text) {
  return h("p", { class: "muted" }, ...text);
}

export function severityTag(sev) {
  return h("span", { class: `sev ${sev}` }, sev);
}

export function tableWrap(table) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": table.getAttribute("aria-label") ?? "table" }, table);
}

/**
 * A table named `label` with a header cell a column, in its scrolling frame; `parts` are its
 * <tbody> (and <tfoot>).
 */
export function table(label, columns, ...parts) {
  return tableWrap(h("table", { "aria-label": label },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    ...parts));
}

/** The one row of a table body that has no rows to show, saying why. */
export function emptyRow(colspan, text) {
  return h("tr", {}, h("td", { colspan, class: "muted" }, text));
}

/** A link to a SKU's page. */
export function skuLink(sku) {
  return h("a", { href: `#/stock/${encodeURIComponent(sku)}` }, sku);
}

/**
 * Re-renders part of a page (`update` replaces `container`'s rows) and keeps the keyboard focus:
 * back on the same control of the same row (rows carry `data-key`), else on the container.
 */
export function keepingFocus(container, update) {
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

/** Saves `text` as a file named `name` in the browser. */
export function download(name, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
