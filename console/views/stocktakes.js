// Uploading a stocktake CSV from the stock page, then its progress and result (admin).

import { api, apiRaw, ApiError, newIdempotencyKey } from "../lib/api.js";
import { download, errorBox, h, muted, table } from "../lib/dom.js";
import { field, setBusy } from "../lib/forms.js";
import { currentView, flash, onScreen } from "../lib/shell.js";

export function stocktakePanel() {
  const file = h("input", { type: "file", name: "file", accept: ".csv,text/csv" });
  const progress = h("div", { "aria-live": "polite" });
  let key = null;
  file.addEventListener("change", () => (key = newIdempotencyKey()));
  const form = h("form", { novalidate: true },
    muted("A CSV with the columns sku, location, counted and optionally expected and reason (UTF-8). Each line is applied as a stocktake; lines that fail are listed with their line number."),
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
      const mine = currentView();
      for (;;) {
        progress.replaceChildren(h("p", {}, `Import ${job.import_id}: ${job.status}, ${job.processed} of ${job.lines} lines (${job.applied} applied, ${job.failed} failed).`));
        if (job.status === "done") break;
        // Left the page: the import goes on without us (its page: GET /v1/stocktakes/{id}).
        if (!onScreen(mine)) return;
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
        failures.length ? table("Lines that failed", ["Line", "SKU", "Location", "Why"], h("tbody", {}, failures)) : h("p", {}, "Every line was applied."));
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
