// End-to-end tests of the admin console in headless Chromium (Debian's chromium, driven by
// playwright-core) against the whole local stack: the built `local-stack` binary with its
// emulator, stream evaluator and report writer. Screenshots of each main page are saved to
// target/console-e2e/ as test artefacts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

import { bin, LocalStack, runAxe, sleep } from "./stack.mjs";

const LOC = "WH-E2E";
const SKU = "E2E-MUG";
/** A SKU of its own for the checkout hold (a hold on E2E-MUG would change the story's stock). */
const HOLD_SKU = "E2E-HOLD";

const local = new LocalStack();
const { apiCall, shot, signInAs } = local;
let state, page;

/** Longer than the console's 5 s refresh of the inbox. */
const POLL_WAIT_MS = 6000;

/** Polls `read` until `ok(value)` holds (listings go through an index that DynamoDB updates a
 * moment after the write, as on AWS); returns the last value read. */
async function eventually(read, ok, ms = 5000) {
  const started = Date.now();
  let value = await read();
  while (!ok(value) && Date.now() - started < ms) {
    await new Promise((r) => setTimeout(r, 100));
    value = await read();
  }
  return value;
}

function runReport() {
  return new Promise((res, rej) => {
    const p = spawn(bin, ["report", "--state-file", local.stateFile], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    p.on("exit", (code) => (code === 0 ? res(out) : rej(new Error(`report run failed (${code}): ${out}`))));
  });
}

/** Every form control on the page has a label (its own <label>, or aria-label). */
async function unlabelledControls() {
  return page.evaluate(() =>
    [...document.querySelectorAll("main input, main select, main textarea")]
      .filter((el) => el.type !== "hidden" && !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
      .map((el) => el.name || el.outerHTML));
}

/** Opens the SKU page's movement form `title`, at the test's location. */
async function movementForm(title) {
  const form = page.locator("details", { has: page.locator("summary", { hasText: title }) });
  await form.locator("summary").click();
  await form.getByLabel("Location").selectOption(LOC);
  return form;
}

describe("admin console", () => {
  before(async () => {
    state = await local.start("console-e2e-");
    page = await local.browse();
  });

  after(() => local.stop());

  test("an ops person signs in with the local dev token and sees the stock page", async () => {
    await signInAs("Ops (admin)");
    await assert.doesNotReject(page.getByText("Signed in as").waitFor());
    assert.match(await page.locator("#who").innerText(), /ops-demo \(admin\)/);
    await shot("stock");
  });

  test("adds a location through the console", async () => {
    await page.locator("summary", { hasText: "Locations (0)" }).click();
    await page.getByLabel("Location id").fill("bad id");
    await page.getByLabel("Location name").fill("E2E warehouse");
    await page.getByRole("button", { name: "Save location" }).click();
    assert.match(await page.locator(".form-errors").innerText(), /Location id: must be 1–32 of letters/);
    await page.getByLabel("Location id").fill(LOC);
    await page.getByRole("button", { name: "Save location" }).click();
    await page.locator("summary", { hasText: "Locations (1)" }).waitFor();
    const loc = await apiCall("readonly", "GET", "/v1/locations");
    assert.deepEqual(loc.items.map((l) => [l.location, l.name, l.kind]), [[LOC, "E2E warehouse", "warehouse"]]);
  });

  test("creates a SKU and receives stock through the console", async () => {
    await page.locator("summary", { hasText: "New SKU" }).click();
    await page.getByLabel("SKU id").fill(SKU);
    await page.getByLabel("SKU name").fill("E2E mug");
    await page.getByLabel("Attributes").fill("brand=Acme\ncategory=kitchen");
    await page.getByRole("button", { name: "Create SKU" }).click();
    await page.getByRole("heading", { level: 1, name: /E2E mug/ }).waitFor();
    assert.equal(new URL(page.url()).hash, `#/stock/${SKU}`);

    const receipt = await movementForm("Record a receipt");
    await receipt.getByLabel("Quantity").fill("12");
    await receipt.getByLabel("Reference (optional)").fill("PO-77");
    await receipt.locator("button[type=submit]").click();
    await page.getByText("Receipt recorded.").waitFor();
    const levels = page.getByRole("table", { name: `Stock levels of ${SKU}` });
    await levels.getByRole("row", { name: new RegExp(`${LOC} 12 0 0 12`) }).waitFor();
    const ledger = page.getByRole("table", { name: `Ledger of ${SKU}` });
    await ledger.getByRole("row", { name: /receipt WH-E2E 12 .*PO-77 ops-demo/ }).waitFor();
    // The same stock through the API: the console's write really happened, once.
    const api = await apiCall("ops", "GET", `/v1/skus/${SKU}`);
    assert.deepEqual(api.attributes, { brand: "Acme", category: "kitchen" });
    assert.equal(api.totals.on_hand, 12);
    assert.deepEqual(await unlabelledControls(), []);
    await shot("sku");
  });

  test("a receipt retried after a gateway timeout is recorded once (the form keeps its Idempotency-Key)", async () => {
    const keys = [];
    page.on("request", (r) => {
      if (r.url().endsWith("/v1/receipts")) keys.push(r.headers()["idempotency-key"]);
    });
    // The write reaches the API and commits, but the browser gets a 504 (a timed-out gateway).
    await page.route("**/v1/receipts", async (route) => {
      await route.fetch();
      await route.fulfill({ status: 504, contentType: "application/json", body: '{"message":"Gateway Timeout"}' });
    }, { times: 1 });
    const receipt = await movementForm("Record a receipt");
    await receipt.getByLabel("Quantity").fill("5");
    await receipt.locator("button[type=submit]").click();
    assert.match(await receipt.getByRole("alert").innerText(), /HTTP 504/);
    await receipt.locator("button[type=submit]").click();
    await page.getByText("Receipt recorded.").waitFor();
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1], "the retry carries the same key");
    assert.equal((await apiCall("ops", "GET", `/v1/skus/${SKU}`)).totals.on_hand, 17, "12 + 5, once");
    // Two dropped: written off with a reason, shown in the ledger.
    const writeOff = await movementForm("Write off stock");
    await writeOff.getByLabel("Quantity").fill("2");
    await writeOff.getByLabel("Reason").selectOption("damaged");
    await writeOff.getByLabel("Note (optional)").fill("dropped");
    await writeOff.locator("button[type=submit]").click();
    await page.getByText("Write-off recorded.").waitFor();
    const ledger = page.getByRole("table", { name: `Ledger of ${SKU}` });
    await ledger.getByRole("row", { name: /write off WH-E2E 2 .*damaged · dropped ops-demo/ }).waitFor();
    assert.equal((await apiCall("ops", "GET", `/v1/skus/${SKU}`)).totals.on_hand, 15, "17 − 2 written off");
    // Back to 12 for the rest of the story (a stocktake that expects 15).
    const take = await movementForm("Stocktake (adjustment)");
    assert.equal(await take.getByLabel("Expected on hand").inputValue(), "15", "the expected value is filled in");
    await take.getByLabel("Counted on hand").fill("12");
    await take.getByLabel("Reason").fill("recount");
    await take.locator("button[type=submit]").click();
    await page.getByText("Stocktake recorded.").waitFor();
    assert.equal((await apiCall("ops", "GET", `/v1/skus/${SKU}`)).totals.on_hand, 12);
  });

  test("creating a SKU with an id that exists is refused, not a silent replace", async () => {
    await page.goto(`${state.api_url}/console/#/stock`);
    await page.locator("summary", { hasText: "New SKU" }).click();
    await page.getByLabel("SKU id").fill(SKU);
    await page.getByLabel("SKU name").fill("Another mug");
    await page.getByRole("button", { name: "Create SKU" }).click();
    assert.match(await page.locator(".form-errors").innerText(), /E2E-MUG already exists \(E2E mug\)/);
    assert.equal((await apiCall("readonly", "GET", `/v1/skus/${SKU}`)).name, "E2E mug");
    await page.goto(`${state.api_url}/console/#/stock/${SKU}`);
    await page.getByRole("heading", { level: 1, name: /E2E mug/ }).waitFor();
  });

  test("a stocktake with a stale expected count is refused with a plain message and changes nothing", async () => {
    const take = await movementForm("Stocktake (adjustment)");
    await take.getByLabel("Counted on hand").fill("10");
    await take.getByLabel("Expected on hand").fill("11");
    await take.locator("button[type=submit]").click();
    const msg = await take.getByRole("alert").innerText();
    assert.match(msg, /Not recorded: .*12/i, msg);
    assert.equal((await apiCall("ops", "GET", `/v1/skus/${SKU}`)).totals.on_hand, 12);
  });

  test("a rule form refuses a bad value before sending, then creates the rule", async () => {
    await page.goto(`${state.api_url}/console/#/rules/new`);
    await page.getByRole("heading", { level: 1, name: "New rule" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill("E2E low stock");
    await page.getByLabel("Kind").selectOption("low_stock");
    await page.getByLabel("Threshold (fires at available ≤)").fill("-3");
    await page.getByRole("button", { name: "Create rule" }).click();
    const summary = page.locator(".form-errors");
    await summary.waitFor();
    assert.equal(await summary.getAttribute("role"), "alert");
    assert.match(await summary.innerText(), /Threshold \(fires at available ≤\): must be an integer from 0 to 1000000000/);
    assert.equal(await page.getByLabel("Threshold (fires at available ≤)").getAttribute("aria-invalid"), "true");
    assert.deepEqual(await unlabelledControls(), []);
    await shot("rule-form-error");
    assert.equal((await apiCall("ops", "GET", "/v1/rules")).items.length, 0, "nothing was sent");

    await page.getByLabel("Threshold (fires at available ≤)").fill("5");
    await page.getByLabel("Clear at (resolves at available ≥)").fill("8");
    await page.getByLabel("One SKU").check();
    await page.getByLabel("SKU", { exact: true }).fill(SKU);
    await page.getByLabel("SMS (the ops SNS topic)").check();
    await page.getByLabel("Email recipients").fill("ops@shop.example");
    await page.getByRole("button", { name: "Preview which SKUs it selects" }).click();
    await page.getByText(`SKU ${SKU}, every location: 1 SKUs at every location.`).waitFor();
    await page.getByRole("button", { name: "Create rule" }).click();
    await page.getByRole("heading", { level: 1, name: "Rules" }).waitFor();
    await page.getByRole("row", { name: /E2E low stock Low stock available ≤ 5, clears at ≥ 8/ }).waitFor();
    const rules = (await eventually(() => apiCall("ops", "GET", "/v1/rules"), (l) => l.items.length === 1)).items;
    assert.equal(rules.length, 1);
    assert.deepEqual(rules[0].selector, { sku: SKU });
    assert.deepEqual(rules[0].channels, { sms: true, email: ["ops@shop.example"], inbox: true });
    await shot("rules");
  });

  test("a sale through the API across the threshold appears in the inbox without a reload; ops acknowledge it", async () => {
    await page.goto(`${state.api_url}/console/#/alerts`);
    await page.getByRole("heading", { level: 1, name: "Alerts" }).waitFor();
    await page.getByText("No alerts match.").waitFor();
    await sleep(6000); // the local evaluator reloads rules every 5 s
    await apiCall("storefront", "POST", "/v1/sales", { sku: SKU, location: LOC, quantity: 8 }, "e2e-sale-1");
    const row = page.getByRole("row", { name: new RegExp(`E2E low stock ${SKU} ${LOC} firing`) });
    await row.waitFor({ timeout: 30_000 });
    assert.match(await row.innerText(), /available 4/);
    await page.locator("#open-count", { hasText: "1" }).waitFor({ timeout: 15_000 });
    await shot("alerts");

    await page.getByRole("button", { name: `Acknowledge E2E low stock for ${SKU} at ${LOC}` }).click();
    await page.getByRole("row", { name: new RegExp(`E2E low stock ${SKU} ${LOC} acknowledged`) }).waitFor();
    await page.getByRole("link", { name: "E2E low stock" }).click();
    await page.getByRole("heading", { level: 1, name: "E2E low stock" }).waitFor();
    assert.equal(await page.getByTestId("alert-state").innerText(), "acknowledged");
    const history = await page.locator("ol.history").innerText();
    assert.match(history, /fired by evaluator/);
    assert.match(history, /acknowledged by ops-demo/);
    await shot("alert");

    // Silence the SKU for a stocktake from the alert page, see it in force, end it.
    await page.locator("summary", { hasText: "Silence" }).click();
    await page.getByLabel(`SKU ${SKU} (every rule)`).check();
    await page.getByLabel("For (minutes)").fill("30");
    await page.getByLabel("Reason").fill("stocktake");
    await page.getByRole("button", { name: "Silence", exact: true }).click();
    await page.getByText("Silenced until").waitFor();
    assert.equal((await apiCall("readonly", "GET", "/v1/silences")).items[0].silence_id, `sku:${SKU}`);
    await page.goto(`${state.api_url}/console/#/alerts`);
    await page.getByText(`sku ${SKU} until`).waitFor();
    await page.getByRole("button", { name: `End silence sku:${SKU}` }).click();
    await page.getByText("Silence ended.").waitFor();
    assert.equal((await apiCall("readonly", "GET", "/v1/silences")).items.length, 0);
  });

  test("the reports page draws charts from the day's report and links the files", async () => {
    await runReport();
    await page.goto(`${state.api_url}/console/#/reports`);
    await page.getByRole("heading", { level: 1, name: "Reports" }).waitFor();
    const trend = page.getByRole("img", { name: /Units sold and received per day, all SKUs/ });
    await trend.waitFor();
    const label = await trend.getAttribute("aria-label");
    assert.match(label, /sold 8, received 17/, label);
    await page.getByRole("img", { name: /Alerts fired on .* by kind/ }).waitFor();
    await page.getByRole("table", { name: "Lowest days of cover" }).getByRole("row", { name: new RegExp(`${SKU} ${LOC} 4`) }).waitFor();
    const episodes = page.getByRole("table", { name: "Alert episodes fired that day" });
    await episodes.getByRole("row", { name: new RegExp(`E2E low stock ${SKU} ${LOC} acknowledged \\d+ min —`) }).waitFor();
    // The stock line, with the stock-out projected from days of cover.
    const stock = page.getByRole("img", { name: /Units on hand at the end of each day, all SKUs/ });
    await stock.waitFor();
    assert.match(await stock.getAttribute("aria-label"), /projected stock-out \d{4}-\d{2}-\d{2}$/);
    // The snapshot is one part per level-index shard: the SKU's row is in one of them.
    const links = page.getByRole("link", { name: /reports\/snapshot\/dt=.*part-000\d\d\.csv/ });
    assert.equal(await links.count(), 60);
    let csv = "";
    for (const link of await links.all()) {
      const text = await (await fetch(await link.getAttribute("href"))).text();
      assert.match(text, /^day,sku,location,/);
      if (text.includes(`${SKU},${LOC},`)) csv = text;
    }
    assert.match(csv, new RegExp(`${SKU},${LOC},4,0,0,4,8,17,0`));
    await shot("reports");
  });

  test("a read-only analyst sees no write controls", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await signInAs("Read-only analyst");
    await page.goto(`${state.api_url}/console/#/stock/${SKU}`);
    await page.getByRole("heading", { level: 1, name: /E2E mug/ }).waitFor();
    // The SKU's stock line, from its ledger, with its projected stock-out.
    const stock = page.getByRole("img", { name: new RegExp(`Units on hand at the end of each day, last 14 days \\(${SKU}`) });
    await stock.waitFor();
    assert.match(await stock.getAttribute("aria-label"), /projected stock-out \d{4}-\d{2}-\d{2}$/);
    assert.equal(await page.getByText("Record a movement").count(), 0);
    assert.equal(await page.locator("form button[type=submit]").count(), 0);
    await page.goto(`${state.api_url}/console/#/alerts`);
    await page.getByRole("row", { name: new RegExp(`E2E low stock ${SKU}`) }).waitFor();
    assert.equal(await page.getByRole("button", { name: /Acknowledge|Resolve/ }).count(), 0);
    // The inbox refreshes every 5 s without taking the keyboard focus away.
    await page.getByRole("link", { name: "E2E low stock" }).focus();
    await sleep(POLL_WAIT_MS);
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "E2E low stock");
    // The SKU page's link opens the inbox filtered to the SKU.
    await page.goto(`${state.api_url}/console/#/stock/${SKU}`);
    await page.getByRole("link", { name: "Alerts for this SKU" }).click();
    await page.getByRole("row", { name: new RegExp(`E2E low stock ${SKU}`) }).waitFor();
    assert.equal(await page.getByLabel("SKU", { exact: true }).inputValue(), SKU);
    await page.goto(`${state.api_url}/console/#/rules`);
    await page.getByRole("row", { name: /E2E low stock/ }).waitFor();
    assert.equal(await page.getByRole("link", { name: "New rule" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: /Delete|Disable/ }).count(), 0);
    await shot("rules-readonly");
  });

  test("works from the keyboard alone: skip link, sign-in, a rule form and its error summary", async () => {
    await page.getByRole("button", { name: "Sign out" }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.activeElement.id), "main", "the skip link moves the focus to the content");
    assert.equal(new URL(page.url()).hash, "#/signin", "and leaves the page where it is");
    let focused = "";
    for (let i = 0; i < 20 && focused !== "Sign in as Ops (admin)"; i++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate(() => document.activeElement.textContent);
    }
    assert.equal(focused, "Sign in as Ops (admin)");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Stock" }).waitFor();

    await page.goto(`${state.api_url}/console/#/rules/new`);
    await page.getByRole("heading", { level: 1, name: "New rule" }).waitFor();
    await page.getByLabel("Name", { exact: true }).focus();
    await page.keyboard.type("Keyboard rule");
    await page.keyboard.press("Tab"); // kind (low stock)
    await page.keyboard.press("Tab"); // threshold
    await page.keyboard.type("-1");
    await page.keyboard.press("Enter");
    await page.locator(".form-errors").waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.className), "form-errors error", "the error summary takes the focus");
  });

  test("edits, disables, enables and deletes a rule", async () => {
    await page.goto(`${state.api_url}/console/#/rules`);
    await page.getByRole("link", { name: "E2E low stock" }).click();
    await page.getByRole("heading", { level: 1, name: "Rule: E2E low stock" }).waitFor();
    assert.equal(await page.getByLabel("SKU", { exact: true }).inputValue(), SKU, "the form shows the stored rule");
    await page.getByLabel("Threshold (fires at available ≤)").fill("3");
    await page.getByRole("button", { name: "Save rule" }).click();
    const row = page.getByRole("row", { name: /E2E low stock/ });
    await row.filter({ hasText: "available ≤ 3, clears at ≥ 8" }).waitFor();

    // The rule itself is read strongly consistent (GET /v1/rules/{id}).
    const id = (await apiCall("readonly", "GET", "/v1/rules")).items.find((r) => r.name === "E2E low stock").rule_id;
    const rule = () => apiCall("readonly", "GET", `/v1/rules/${encodeURIComponent(id)}`);
    await page.getByRole("button", { name: "Disable E2E low stock" }).click();
    await row.filter({ hasText: "disabled" }).waitFor();
    assert.equal((await eventually(rule, (r) => r.enabled === false)).enabled, false);
    await page.getByRole("button", { name: "Enable E2E low stock" }).click();
    await row.filter({ hasText: "enabled" }).waitFor();
    // The row can show the new state as the write is answered; the rule is read until it does.
    const stored = await eventually(rule, (r) => r.enabled === true);
    assert.equal(stored.enabled, true);
    assert.equal(stored.threshold, 3);
    assert.deepEqual(stored.channels.email, ["ops@shop.example"], "a toggle keeps the rest of the rule");

    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Delete E2E low stock" }).click();
    await page.getByText("No rules yet.").waitFor();
    const left = await eventually(() => apiCall("readonly", "GET", "/v1/rules"), (l) => l.items.length === 0);
    assert.equal(left.items.length, 0);
  });

  test("the stock page filters on the server and costs at most 3 API requests a page", async () => {
    await signInAs("Ops (admin)");
    // 60 more SKUs, SKU n with n units.
    for (let n = 0; n < 60; n++) {
      const id = `E2E-BULK-${String(n).padStart(2, "0")}`;
      await apiCall("ops", "PUT", `/v1/skus/${id}`, { name: `Bulk thing ${n}`, attributes: {} });
      if (n > 0) await apiCall("ops", "POST", "/v1/receipts", { sku: id, location: LOC, quantity: n }, `e2e-bulk-${n}`);
    }
    // The stock index follows the stream a moment after the writes.
    await eventually(() => apiCall("readonly", "GET", "/v1/levels?available_max=3"), (r) => r.items.filter((i) => i.sku.startsWith("E2E-BULK")).length === 3);
    const seen = [];
    const listen = (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith("/v1/") && !u.pathname.startsWith("/v1/alerts")) seen.push(u.pathname + u.search);
    };
    page.on("request", listen);
    try {
      await page.goto(`${state.api_url}/console/#/stock`);
      const table = page.getByRole("table", { name: "Stock levels" });
      await eventually(() => table.locator("tbody tr").count(), (n) => n >= 50, 10_000);
      assert.ok(seen.length <= 3, `first page: ${seen.join(", ")}`);
      // Each further page is one request, to the end of the catalogue (the demo data and these).
      for (let pages = 0; !(await table.getByRole("row", { name: /E2E-MUG/ }).count()); pages++) {
        assert.ok(pages < 10, "the SKU should be within ten pages");
        seen.length = 0;
        const rows = await table.locator("tbody tr").count();
        await page.getByRole("button", { name: "Load more" }).click();
        await eventually(() => table.locator("tbody tr").count(), (n) => n > rows, 10_000);
        assert.deepEqual(seen.map((u) => u.split("?")[0]), ["/v1/levels"], "one request a page");
      }
      // A filter runs on the server over the whole catalogue: one request.
      seen.length = 0;
      await page.getByLabel("Available at or below").fill("3");
      await table.getByRole("row", { name: /E2E-BULK-03/ }).waitFor();
      await eventually(async () => (await table.locator("tbody tr").count()), (n) => n <= 5);
      const shown = await table.locator("tbody tr").allInnerTexts();
      assert.ok(shown.every((t) => Number(t.trim().split(/\s+/).at(-1)) <= 3), shown.join(" | "));
      assert.deepEqual(seen.map((u) => u.split("?")[0]), ["/v1/levels"]);
      assert.match(seen[0], /available_max=3/);
      // The filtered list as CSV.
      const [file] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download as CSV" }).click()]);
      const text = readFileSync(await file.path(), "utf8");
      assert.match(text, /^sku,name,location,on_hand,reserved,in_transit,available,alert_threshold,below_threshold,updated_at\n/);
      assert.match(text, /E2E-BULK-03,Bulk thing 3,WH-E2E,3,0,0,3,/);
      assert.doesNotMatch(text, /E2E-BULK-04/);
    } finally {
      page.off("request", listen);
    }
    await shot("stock-filtered");
  });

  test("a stocktake file uploaded through the console is applied, and its bad line listed", async () => {
    await page.goto(`${state.api_url}/console/#/stock`);
    await page.locator("summary", { hasText: "Import a stocktake (CSV)" }).click();
    await page.getByLabel("Stocktake file").setInputFiles({
      name: "count.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(`sku,location,counted\nE2E-BULK-01,${LOC},40\nNOPE-SKU,${LOC},1\n`),
    });
    await page.getByRole("button", { name: "Upload stocktake" }).click();
    await page.getByText(/done, 2 of 2 lines \(1 applied, 1 failed\)/).waitFor({ timeout: 60_000 });
    await page.getByRole("table", { name: "Lines that failed" }).getByRole("row", { name: /3 NOPE-SKU WH-E2E/ }).waitFor();
    const level = await apiCall("readonly", "GET", "/v1/skus/E2E-BULK-01");
    assert.equal(level.totals.on_hand, 40);
    await shot("stocktake");
  });

  test("the SKU page lists its active checkout holds, and a failed holds read breaks nothing else", async () => {
    await apiCall("ops", "PUT", `/v1/skus/${HOLD_SKU}`, { name: "E2E held thing", attributes: {} });
    await apiCall("ops", "POST", "/v1/receipts", { sku: HOLD_SKU, location: LOC, quantity: 10 }, "e2e-hold-receipt");
    await page.goto(`${state.api_url}/console/#/stock/${HOLD_SKU}`);
    await page.getByRole("heading", { level: 1, name: /E2E held thing/ }).waitFor();
    const holds = page.getByRole("table", { name: `Active holds on ${HOLD_SKU}` });
    await holds.getByRole("row", { name: "No active holds." }).waitFor();

    // A storefront holds 2 for a cart.
    const hold = await apiCall("storefront", "POST", "/v1/reservations",
      { lines: [{ sku: HOLD_SKU, location: LOC, quantity: 2 }], ttl_minutes: 15, reference: "cart-e2e" },
      `e2e-hold-${Date.now()}`);
    assert.match(hold.reservation_id, /^rs_/);
    // The list is fed by an index the stream writes a moment after the hold.
    const listed = await eventually(() => apiCall("storefront", "GET", `/v1/skus/${HOLD_SKU}/reservations`), (l) => l.items.length === 1, 15_000);
    assert.equal(listed.items[0]?.reservation_id, hold.reservation_id);
    await page.getByRole("button", { name: "Refresh holds" }).click();
    const row = holds.getByRole("row", { name: new RegExp(`${hold.reservation_id} ${LOC} 2 .* 1[45] min cart-e2e storefront-demo`) });
    await row.waitFor();
    await page.getByText("1 active hold, 2 units.").waitFor();

    // Opened afresh, the holds are read with the rest of the page, and the levels show their
    // units as reserved (10 on hand, 2 reserved, 8 available).
    await page.reload();
    await holds.getByRole("row", { name: new RegExp(hold.reservation_id) }).waitFor();
    const levels = page.getByRole("table", { name: `Stock levels of ${HOLD_SKU}` });
    await levels.getByRole("row", { name: new RegExp(`${LOC} 10 2 0 8`) }).waitFor();
    await levels.getByRole("row", { name: /Total 10 2 0 8/ }).waitFor();
    await shot("sku-holds");

    // The holds read fails: the section says so, the rest of the page is there.
    await page.route("**/v1/skus/*/reservations*", (route) =>
      route.fulfill({ status: 503, contentType: "application/problem+json", body: '{"title":"Service unavailable","detail":"The store is busy."}' }), { times: 1 });
    await page.reload();
    await page.getByRole("heading", { level: 1, name: /E2E held thing/ }).waitFor();
    const error = page.locator("section", { has: page.getByRole("heading", { name: "Holds" }) }).getByRole("alert");
    assert.match(await error.innerText(), /The holds could not be read: The store is busy/);
    await levels.getByRole("row", { name: new RegExp(`${LOC} 10 2 0 8`) }).waitFor();
    await page.getByRole("table", { name: `Ledger of ${HOLD_SKU}` }).getByRole("row", { name: /receipt WH-E2E 10/ }).waitFor();
    await page.getByRole("img", { name: new RegExp(`Units sold, received and written off per day, last 14 days \\(${HOLD_SKU}\\)`) }).waitFor();
    // And a retry reads them.
    await page.getByRole("button", { name: "Refresh holds" }).click();
    await holds.getByRole("row", { name: new RegExp(hold.reservation_id) }).waitFor();
    assert.equal(await error.count(), 0);
  });

  test("every page passes the axe-core accessibility rules (WCAG 2.1 A/AA)", async () => {
    const { context, tab } = await local.axeTab();
    try {
      const alert = (await apiCall("readonly", "GET", "/v1/alerts")).items[0];
      const pages = ["#/stock", `#/stock/${SKU}`, `#/stock/${HOLD_SKU}`, "#/alerts", `#/alerts/${alert.alert_id}`, "#/rules", "#/rules/new", "#/reports", "#/signin"];
      const found = [];
      for (const hash of pages) {
        await tab.goto(`${state.api_url}/console/${hash}`);
        await tab.getByRole("heading", { level: 1 }).waitFor();
        await tab.waitForLoadState("networkidle");
        // Open every panel so its form is checked too.
        await tab.evaluate(() => document.querySelectorAll("details").forEach((d) => (d.open = true)));
        const { violations, passed } = await runAxe(tab);
        for (const rule of ["label", "color-contrast", "document-title", "html-has-lang"]) {
          assert.ok(passed.includes(rule), `${hash}: axe checked ${rule}`);
        }
        for (const v of violations) found.push(`${hash}: ${v}`);
      }
      assert.deepEqual(found, []);
    } finally {
      await context.close();
    }
  });

  test("works on a phone-sized screen without sideways scrolling of the page", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const view of ["stock", "alerts", "rules", "reports"]) {
      await page.goto(`${state.api_url}/console/#/${view}`);
      await page.getByRole("heading", { level: 1 }).waitFor();
      await page.waitForLoadState("networkidle");
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${view}: the page is ${overflow}px wider than the screen`);
    }
    await page.goto(`${state.api_url}/console/#/stock`);
    await page.getByLabel("Search").fill(SKU);
    await page.getByRole("link", { name: SKU }).waitFor();
    await shot("stock-phone");
  });
});
