// The console's Replenishment page: unit tests of lib/replenishment.js (the list's path, grouping
// by supplier, the accept key and body, the CSV export and its formula neutralising, the chart's
// days), then end-to-end tests in headless Chromium against a local stack of its own.
//
// A plan needs complete days of sales history, and the local stack plans only every five minutes
// (its first run five minutes after start). So the stack starts eight days behind the system clock
// (--clock-offset -8d), the story sells on each of those days moving the stack's clock a day at a
// time (POST /_local/clock), and then the nightly run is triggered the way Lambda runs it: the
// real `replenishment` function binary (target/debug, built by `cargo build --workspace --bins`
// with the stack) is started against the stack's DynamoDB Local and moto and invoked once through
// a small Lambda Runtime API served here. It plans at the system's time: the history runs through
// the day before, which is the stack's day now. Screenshots go to target/console-e2e/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

import {
  acceptBody,
  acceptKey,
  addDays,
  csvCell,
  forecastSeries,
  groupBySupplier,
  perDay,
  positionOf,
  replenishmentPath,
  toCsv,
} from "../../console/lib/replenishment.js";
import { LocalStack, root, runAxe } from "./stack.mjs";

// ---------------------------------------------------------------------------------------------
// Unit tests (pure functions)

const plan = (extra = {}) => ({
  sku: "TEE", location: "WH1", supplier: "ACME", dt: "2026-12-01", method: "ses", demand_per_day: 10,
  reorder_point: 60, available: 50, in_transit: 0, position: 50, suggested: 72, pack_size: 12, min_order_qty: 24,
  lead_time_days: 5, history: [10, 10, 10], history_last_day: "2026-11-30", forecast: [10, 10], band_low: [8, 7], band_high: [12, 13],
  ...extra,
});

test("the list's path carries the filters, the page size and the cursor", () => {
  assert.equal(replenishmentPath(), "/v1/replenishment?limit=50");
  assert.equal(replenishmentPath({ supplier: "ACME", location: "WH-1", cursor: "abc=", limit: 10 }),
    "/v1/replenishment?supplier=ACME&location=WH-1&limit=10&cursor=abc%3D");
  assert.equal(replenishmentPath({ supplier: "", location: "FR" }), "/v1/replenishment?location=FR&limit=50");
});

test("rows are grouped by supplier in the API's order, the ones without a supplier last", () => {
  const rows = [plan({ sku: "A", supplier: "ACME" }), plan({ sku: "B", supplier: undefined }), plan({ sku: "C", supplier: "ACME" }), plan({ sku: "D", supplier: "ZED" })];
  const groups = groupBySupplier(rows);
  assert.deepEqual(groups.map((g) => [g.supplier, g.items.map((r) => r.sku)]), [["ACME", ["A", "C"]], ["ZED", ["D"]], [null, ["B"]]]);
  assert.deepEqual(groupBySupplier([]), []);
  assert.deepEqual(groupBySupplier([plan({ supplier: "X" })]).map((g) => g.supplier), ["X"]);
});

test("accepting a row is one incoming shipment, keyed by the plan so it happens once", () => {
  const r = plan();
  assert.equal(acceptKey(r), "repl-2026-12-01-TEE-WH1");
  assert.equal(acceptKey(r), acceptKey({ ...r, suggested: 84 }), "the plan's key, whatever the quantity shown");
  assert.notEqual(acceptKey(r), acceptKey({ ...r, dt: "2026-12-02" }), "the next day's plan is another order");
  assert.deepEqual(acceptBody(r), { sku: "TEE", location: "WH1", quantity: 72, reference: "REPL-2026-12-01" });
  // The longest SKU (64) and location (32) still make a valid key (1–128 of [A-Za-z0-9._:-]).
  const long = acceptKey({ dt: "2026-12-01", sku: "S".repeat(64), location: "L".repeat(32) });
  assert.ok(long.length <= 128 && /^[A-Za-z0-9._:-]+$/.test(long), long);
  assert.equal(positionOf({ available: 3, in_transit: 4 }), 7, "without position: available + in transit");
  assert.equal(positionOf({ available: 3, in_transit: 4, position: 9 }), 9);
});

test("CSV cells that a spreadsheet would run as a formula are neutralised; numbers are left alone", () => {
  assert.equal(csvCell("=1+1"), "'=1+1");
  assert.equal(csvCell("+SUM(A1)"), "'+SUM(A1)");
  assert.equal(csvCell("-2+3"), "'-2+3");
  assert.equal(csvCell("@cmd"), "'@cmd");
  assert.equal(csvCell("\tx"), "'\tx");
  assert.equal(csvCell("\rx"), `"'\rx"`, "neutralised, then quoted for its line break");
  assert.equal(csvCell("=HYPERLINK(\"x\")"), `"'=HYPERLINK(""x"")"`);
  assert.equal(csvCell("a,b"), '"a,b"');
  assert.equal(csvCell("line\nbreak"), '"line\nbreak"');
  assert.equal(csvCell("ACME"), "ACME");
  assert.equal(csvCell(-3), "-3", "a number is no formula");
  assert.equal(csvCell(2.35), "2.35");
  assert.equal(csvCell(null), "");
  assert.equal(csvCell(undefined), "");
  const csv = toCsv([plan(), plan({ sku: "CAP", supplier: undefined, method_note: "x", ordered: { quantity: 1, reference: "REPL-2026-12-01" } }), plan({ supplier: "=evil()" })]);
  const lines = csv.split("\n");
  assert.equal(lines[0], "supplier,sku,location,method,demand_per_day,reorder_point,available,in_transit,position,suggested,pack_size,min_order_qty,lead_time_days,dt,ordered");
  assert.equal(lines[1], "ACME,TEE,WH1,ses,10,60,50,0,50,72,12,24,5,2026-12-01,");
  assert.equal(lines[2], ",CAP,WH1,ses,10,60,50,0,50,72,12,24,5,2026-12-01,REPL-2026-12-01");
  assert.equal(lines[3], "'=evil(),TEE,WH1,ses,10,60,50,0,50,72,12,24,5,2026-12-01,");
  assert.equal(lines.at(-1), "", "every line ends in a newline");
});

test("the chart's days: the history ends on its last day, the forecast starts on the plan's day", () => {
  const s = forecastSeries(plan());
  assert.deepEqual(s.historyDays, ["2026-11-28", "2026-11-29", "2026-11-30"]);
  assert.deepEqual(s.forecastDays, ["2026-12-01", "2026-12-02"]);
  assert.deepEqual([s.low, s.high], [[8, 7], [12, 13]]);
  const long = forecastSeries(plan({ history: Array.from({ length: 180 }, (_, i) => i) }), 84);
  assert.equal(long.history.length, 84);
  assert.equal(long.history[0], 96);
  assert.equal(long.omitted, 96);
  assert.equal(long.historyDays.at(-1), "2026-11-30");
  assert.deepEqual(forecastSeries(plan({ history: [], history_last_day: undefined })).historyDays, []);
  assert.equal(addDays("2026-12-31", 1), "2027-01-01");
  assert.equal(addDays("2026-03-01", -1), "2026-02-28");
  assert.deepEqual([perDay(20), perDay(2.345), perDay("x")], ["20", "2.35", ""]);
});

// ---------------------------------------------------------------------------------------------
// End to end, against the local stack

const planner = process.env.REPLENISHMENT_BIN ?? join(root, "target/debug/replenishment");
const LOC = "WH-REPL";
const SIDE = "WH-SIDE";
/** Days of sales before the plan (the stack starts this many days behind the system). */
const DAYS = 8;

const local = new LocalStack();
const { apiCall, shot, signInAs } = local;
let state, page;

/** The level of `sku` at `location` (GET /v1/skus/{sku}). */
async function level(sku, location) {
  return (await apiCall("readonly", "GET", `/v1/skus/${sku}`)).levels.find((l) => l.location === location);
}

/** One SQS call to moto (its JSON protocol; the emulator checks no signature). */
async function sqs(target, body) {
  const r = await fetch(state.moto_endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": `AmazonSQS.${target}`,
      authorization: "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
    },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`SQS ${target}: ${r.status} ${await r.text()}`);
  return r.json();
}

/**
 * Runs the replenishment function's night, as on AWS: its real binary under a Lambda Runtime API
 * served here, first invoked as its schedule does (it records the run and queues one task per
 * level shard on the stack's queue), then with each queued task as the SQS event its event
 * source mapping sends, against the stack's DynamoDB Local and moto. Returns the run's report
 * (its manifest, written by the commit).
 */
async function planReplenishment() {
  assert.ok(existsSync(planner), `${planner} is missing: build it with cargo build --workspace --bins`);
  const waiting = []; // /next polls waiting for an invocation
  const queued = []; // invocations waiting for a /next poll
  const answers = new Map();
  let count = 0;
  let initFailed;
  const serve = () => {
    while (waiting.length && queued.length) {
      const res = waiting.shift();
      const { id, event } = queued.shift();
      res.writeHead(200, {
        "content-type": "application/json",
        "lambda-runtime-aws-request-id": id,
        "lambda-runtime-deadline-ms": String(Date.now() + 120_000),
        "lambda-runtime-invoked-function-arn": "arn:aws:lambda:us-east-1:123456789012:function:local",
        "lambda-runtime-trace-id": "Root=1-00000000-000000000000000000000000",
      });
      res.end(JSON.stringify(event));
    }
  };
  const invoke = (event) => new Promise((res, rej) => {
    if (initFailed) return rej(initFailed);
    const id = `00000000-0000-4000-8000-${String(++count).padStart(12, "0")}`;
    answers.set(id, { res, rej });
    queued.push({ id, event });
    serve();
  });
  const runtime = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      if (req.method === "GET" && req.url === "/2018-06-01/runtime/invocation/next") {
        waiting.push(res);
        return serve();
      }
      res.writeHead(202, { "content-type": "application/json" });
      res.end("{}");
      const [, id, outcome] = req.url.match(/invocation\/([^/]+)\/(response|error)$/) ?? [];
      const answer = answers.get(id);
      if (answer && outcome === "response") answer.res(JSON.parse(body));
      else {
        const e = new Error(`replenishment ${req.url}: ${body}`);
        if (answer) answer.rej(e);
        else for (const a of answers.values()) (initFailed = e), a.rej(e);
      }
    });
  });
  await new Promise((r) => runtime.listen(0, "127.0.0.1", r));
  const env = {
    // What Lambda sets for every function.
    AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${runtime.address().port}`,
    AWS_LAMBDA_FUNCTION_NAME: "ReplenishmentFunction",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "256",
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    AWS_LAMBDA_LOG_GROUP_NAME: "/aws/lambda/ReplenishmentFunction",
    AWS_LAMBDA_LOG_STREAM_NAME: "console-e2e",
    AWS_REGION: "us-east-1",
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_SESSION_TOKEN: "test",
    // The emulators stand in for AWS (moto for S3 and SQS, DynamoDB Local for DynamoDB).
    AWS_ENDPOINT_URL: state.moto_endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: state.dynamodb_endpoint,
    // What template.yaml gives the function.
    TABLE_NAME: state.table,
    REPORTS_BUCKET: state.reports_bucket,
    TASK_QUEUE_URL: state.replenishment_queue_url,
    RUST_LOG: "warn",
  };
  const p = spawn(planner, [], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  p.stderr.on("data", (d) => (out += d));
  const exited = new Promise((_, rej) => p.on("exit", (code) => rej(new Error(`replenishment exited (${code}) before answering: ${out}`))));
  let timer;
  const timeout = new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(`replenishment did not finish in 120 s: ${out}`)), 120_000);
  });
  const call = (event) => Promise.race([invoke(event), exited, timeout]);
  try {
    // The schedule's event carries nothing the coordinator reads.
    const started = await call({});
    assert.equal(started.sent, 60, JSON.stringify(started));
    // Every task, one at a time (a task that fails comes back at once; after three receives
    // SQS moves it to the failure queue, so this loop ends).
    const QueueUrl = state.replenishment_queue_url;
    for (let i = 0; i < 500; i++) {
      const { Messages: [m] = [] } = await sqs("ReceiveMessage", { QueueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 120 });
      if (!m) break;
      const answer = await call({
        Records: [{
          messageId: m.MessageId, receiptHandle: m.ReceiptHandle, body: m.Body, attributes: {},
          messageAttributes: {}, md5OfBody: m.MD5OfBody, eventSource: "aws:sqs",
          eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:replenishment-tasks", awsRegion: "us-east-1",
        }],
      });
      if (answer.batchItemFailures?.length) {
        await sqs("ChangeMessageVisibility", { QueueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 });
      } else {
        await sqs("DeleteMessage", { QueueUrl, ReceiptHandle: m.ReceiptHandle });
      }
    }
    // The last task committed the run: the day's manifest is its report.
    const manifest = `${state.moto_endpoint}/${state.reports_bucket}/reports/replenishment-manifests/dt=${started.run}/manifest.json`;
    // (The stack's own five-minute run may have taken a task meanwhile: it commits the same
    // run; a few seconds are allowed for it.)
    let r;
    for (let i = 0; i < 50; i++) {
      r = await fetch(manifest, {
        headers: {
          authorization: "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
          "x-amz-date": "20260101T000000Z",
          "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        },
      });
      if (r.status === 200) return r.json();
      await new Promise((done) => setTimeout(done, 200));
    }
    assert.fail(`${manifest}: ${r.status} ${await r.text()} ${out}`);
  } finally {
    // A pending timer keeps the test file's process alive: it took 110 s to exit after its
    // last test while this one ran out.
    clearTimeout(timer);
    p.kill();
    runtime.closeAllConnections?.();
    runtime.close();
  }
}

/** Opens the page afresh (a reload when it is on screen: the same address is no navigation). */
async function openPage() {
  const url = `${state.api_url}/console/#/replenishment`;
  if (page.url() === url) await page.reload();
  else await page.goto(url);
  await page.getByRole("heading", { level: 1, name: "Replenishment" }).waitFor();
  await page.getByText(/^\d+ suggestions?( \(more available\))?\.$/).waitFor();
}

/** The page's row of a suggestion, by the API's values. */
function rowOf(table, r) {
  const name = `${r.sku} ${r.location} ${r.method} ${perDay(r.demand_per_day)} ${r.reorder_point} ${r.position} (${r.available} + ${r.in_transit}) ${r.suggested}`;
  return table.getByRole("row", { name: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`) });
}

describe("replenishment page", () => {
  /** The API's suggestions after the plan, by SKU. */
  let listed;

  before(async () => {
    state = await local.start("console-repl-", ["--clock-offset", `-${DAYS}d`]);

    // Two locations; a SKU of each supplier that is due, one of ACME that is not, and one without
    // supply facts (no supplier) at the other location.
    for (const l of [LOC, SIDE]) await apiCall("ops", "PUT", `/v1/locations/${l}`, { name: `Replenishment ${l}`, kind: "warehouse" });
    const skus = [
      // sku, location, supply, received, sold per day
      ["REPL-TEE", LOC, { supplier: "ACME", lead_time_days: 5, pack_size: 12, min_order_qty: 24 }, 100, [6, 8, 7, 9, 5, 8, 7, 10]],
      ["REPL-FULL", LOC, { supplier: "ACME", lead_time_days: 5 }, 500, [1, 1, 1, 1, 1, 1, 1, 1]],
      ["REPL-MUG", LOC, { supplier: "ZED-SUPPLY", lead_time_days: 3 }, 50, [5, 5, 5, 5, 5, 5, 5, 5]],
      ["REPL-CAP", SIDE, null, 30, [3, 3, 3, 3, 3, 3, 3, 3]],
    ];
    for (const [sku, location, supply, received] of skus) {
      await apiCall("ops", "PUT", `/v1/skus/${sku}`, { name: `Replenished ${sku}`, attributes: {}, ...(supply ? { supply } : {}) });
      await apiCall("ops", "POST", "/v1/receipts", { sku, location, quantity: received, reference: "opening stock" }, `repl-e2e-in-${sku}`);
    }
    for (let day = 0; day < DAYS; day++) {
      for (const [sku, location, , , sold] of skus) {
        await apiCall("storefront", "POST", "/v1/sales", { sku, location, quantity: sold[day] }, `repl-e2e-sale-${sku}-${day}`);
      }
      // The next day (the last one's sales end on the stack's day now: the system's yesterday).
      if (day < DAYS - 1) await apiCall("ops", "POST", "/_local/clock", { advance_seconds: 86_400 });
    }
    const run = await planReplenishment();
    assert.equal(run.planned, 4, JSON.stringify(run));
    assert.equal(run.to_order, 3, JSON.stringify(run));
    const items = (await apiCall("readonly", "GET", "/v1/replenishment")).items;
    listed = Object.fromEntries(items.map((i) => [i.sku, i]));
    assert.deepEqual(items.map((i) => i.sku), ["REPL-TEE", "REPL-MUG", "REPL-CAP"], "by supplier, no supplier last");
    assert.equal(listed["REPL-TEE"].history.length, DAYS);

    page = await local.browse();
  });

  after(() => local.stop());

  test("lists each due suggestion under its supplier's heading, No supplier last", async () => {
    await signInAs("Ops (admin)");
    await page.getByRole("link", { name: "Replenishment" }).click();
    await page.getByRole("heading", { level: 1, name: "Replenishment" }).waitFor();
    await page.getByText("3 suggestions.").waitFor();
    assert.equal(await page.getByRole("link", { name: "Replenishment" }).getAttribute("aria-current"), "page");
    const headings = await page.locator("main h2").allInnerTexts();
    assert.deepEqual(headings, ["ACME (1 order)", "ZED-SUPPLY (1 order)", "No supplier (1 order)"]);
    const acme = page.getByRole("table", { name: "Orders to place with ACME" });
    const tee = listed["REPL-TEE"];
    assert.equal(tee.method, "fallback");
    assert.ok(tee.suggested > 0 && tee.position <= tee.reorder_point, JSON.stringify(tee));
    await rowOf(acme, tee).waitFor();
    assert.equal(await acme.locator("tbody tr[data-key]").count(), 1, "REPL-FULL is above its reorder point: not listed");
    await rowOf(page.getByRole("table", { name: "Orders to place with ZED-SUPPLY" }), listed["REPL-MUG"]).waitFor();
    await rowOf(page.getByRole("table", { name: "Orders without a supplier" }), listed["REPL-CAP"]).waitFor();
    // Every control is labelled.
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll("main input, main select, main textarea")]
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")).map((el) => el.name));
    assert.deepEqual(unlabelled, []);
    await shot("replenishment");
  });

  test("the supplier and location filters are sent to the server; a bad one shows the API's message", async () => {
    const seen = [];
    const listen = (r) => {
      const u = new URL(r.url());
      if (u.pathname === "/v1/replenishment") seen.push(u.searchParams);
    };
    page.on("request", listen);
    try {
      await page.getByLabel("Supplier", { exact: true }).fill("ZED-SUPPLY");
      await page.getByText("1 suggestion.").waitFor();
      assert.deepEqual(await page.locator("main h2").allInnerTexts(), ["ZED-SUPPLY (1 order)"]);
      assert.equal(seen.at(-1).get("supplier"), "ZED-SUPPLY");

      await page.getByLabel("Supplier", { exact: true }).fill("no such");
      const error = page.getByRole("alert");
      await error.waitFor();
      assert.match(await error.innerText(), /supplier: a supplier id is 1 to 64 of letters/);
      assert.equal(await page.getByLabel("Supplier", { exact: true }).getAttribute("aria-invalid"), "true");
      assert.equal(await page.locator("main h2").count(), 0);

      await page.getByLabel("Supplier", { exact: true }).fill("");
      await page.getByLabel("Location", { exact: true }).selectOption(SIDE);
      await page.getByText("1 suggestion.").waitFor();
      assert.deepEqual(await page.locator("main h2").allInnerTexts(), ["No supplier (1 order)"]);
      assert.equal(seen.at(-1).get("location"), SIDE);
      assert.equal(seen.at(-1).get("supplier"), null);
      assert.equal(await page.getByRole("alert").count(), 0);
      assert.equal(await page.getByLabel("Supplier", { exact: true }).getAttribute("aria-invalid"), null);
      await page.getByLabel("Location", { exact: true }).selectOption("");
      await page.getByText("3 suggestions.").waitFor();
    } finally {
      page.off("request", listen);
    }
  });

  test("More follows next_cursor to the end of the list", async () => {
    // One suggestion a page, so the three take three pages (and the end a fourth, empty one).
    const cursors = [];
    await page.route("**/v1/replenishment?*", (route) => {
      const u = new URL(route.request().url());
      u.searchParams.set("limit", "1");
      cursors.push(u.searchParams.get("cursor"));
      return route.continue({ url: u.toString() });
    });
    try {
      await openPage();
      await page.getByText("1 suggestion (more available).").waitFor();
      assert.deepEqual(await page.locator("main h2").allInnerTexts(), ["ACME (1 order)"]);
      const more = page.getByRole("button", { name: "More", exact: true });
      for (let n = 0; await more.isVisible(); n++) {
        assert.ok(n < 5, "the list should end within five pages");
        await more.click();
        // The button is disabled while its page loads.
        await page.waitForFunction(() => {
          const b = [...document.querySelectorAll("main button")].find((x) => x.textContent === "More");
          return !b || b.hidden || !b.disabled;
        });
      }
      await page.getByText("3 suggestions.").waitFor();
      assert.deepEqual(await page.locator("main h2").allInnerTexts(), ["ACME (1 order)", "ZED-SUPPLY (1 order)", "No supplier (1 order)"]);
      assert.equal(cursors[0], null, "the first page has no cursor");
      assert.ok(cursors.slice(1).every(Boolean) && cursors.length >= 3, `cursors: ${cursors}`);
    } finally {
      await page.unroute("**/v1/replenishment?*");
    }
  });

  test("a row opens to a chart of its sales history and the forecast with its band", async () => {
    await openPage();
    const toggle = page.getByRole("button", { name: "Forecast of REPL-TEE at WH-REPL" });
    assert.equal(await toggle.getAttribute("aria-expanded"), "false");
    await toggle.click();
    assert.equal(await toggle.getAttribute("aria-expanded"), "true");
    const tee = listed["REPL-TEE"];
    const chart = page.getByRole("img", { name: /Units sold per day and the forecast from .* \(REPL-TEE at WH-REPL\)/ });
    await chart.waitFor();
    const label = await chart.getAttribute("aria-label");
    assert.match(label, new RegExp(`${DAYS} days sold from ${tee.history_last_day.slice(0, 4)}`), label);
    assert.match(label, /the last 7: 8, 7, 9, 5, 8, 7, 10/, label);
    assert.match(label, new RegExp(`forecast ${perDay(tee.demand_per_day)} a day from ${tee.dt}`), label);
    assert.equal(await chart.locator("circle.dot").count(), DAYS, "a dot a day of history");
    assert.equal((await chart.locator("polyline.forecast").getAttribute("points")).split(" ").length, 28, "28 days forecast");
    assert.equal(await chart.locator("polygon.band").count(), 1);
    // The plan's terms beside it.
    const details = page.locator("tr.repl-detail:not([hidden])");
    assert.match(await details.innerText(), /Lead time\s+5 days; reviewed every 7 days/);
    assert.match(await details.innerText(), /packs of 12, at least 24/);
    await shot("replenishment-chart");
    await toggle.click();
    assert.equal(await toggle.getAttribute("aria-expanded"), "false");
    assert.equal(await chart.count(), 0);
  });

  test("Export CSV downloads the loaded rows", async () => {
    const [file] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
    const tee = listed["REPL-TEE"];
    assert.equal(file.suggestedFilename(), `replenishment-${tee.dt}.csv`);
    const lines = readFileSync(await file.path(), "utf8").split("\n");
    assert.equal(lines[0], "supplier,sku,location,method,demand_per_day,reorder_point,available,in_transit,position,suggested,pack_size,min_order_qty,lead_time_days,dt,ordered");
    assert.equal(lines[1], `ACME,REPL-TEE,${LOC},fallback,${tee.demand_per_day},${tee.reorder_point},${tee.available},0,${tee.position},${tee.suggested},12,24,5,${tee.dt},`);
    assert.match(lines[2], /^ZED-SUPPLY,REPL-MUG,/);
    assert.match(lines[3], new RegExp(`^,REPL-CAP,${SIDE},`));
    assert.deepEqual(lines.slice(4), [""]);
  });

  test("Accept records the incoming shipment once; a refusal shows the API's detail", async () => {
    const posts = [];
    const listen = (r) => {
      if (new URL(r.url()).pathname === "/v1/incoming") posts.push({ key: r.headers()["idempotency-key"], body: r.postDataJSON() });
    };
    page.on("request", listen);
    try {
      // Refused once: the row says why, nothing is recorded and Accept can be pressed again.
      const cap = listed["REPL-CAP"];
      await page.route("**/v1/incoming", (route) => route.fulfill({
        status: 409,
        contentType: "application/problem+json",
        body: JSON.stringify({ type: "/problems/conflict", title: "Conflict", status: 409, detail: "The level is being counted: try again in a minute." }),
      }), { times: 1 });
      const acceptCap = page.getByRole("button", { name: `Accept: order ${cap.suggested} of REPL-CAP at ${SIDE}` });
      await acceptCap.click();
      const refusal = page.locator(`tr[data-key="REPL-CAP ${SIDE}"]`).getByRole("alert");
      await refusal.waitFor();
      assert.equal(await refusal.innerText(), "Not ordered: The level is being counted: try again in a minute.");
      assert.equal((await level("REPL-CAP", SIDE)).in_transit, 0);
      assert.equal(await acceptCap.isEnabled(), true);

      // Accepted: in transit rises by the suggestion, through the API.
      const tee = listed["REPL-TEE"];
      assert.equal((await level("REPL-TEE", LOC)).in_transit, 0);
      const acceptTee = page.getByRole("button", { name: `Accept: order ${tee.suggested} of REPL-TEE at ${LOC}` });
      await acceptTee.dblclick();
      const row = page.locator(`tr[data-key="REPL-TEE ${LOC}"]`);
      await row.getByText(`Ordered ${tee.suggested} (REPL-${tee.dt})`).waitFor();
      await page.getByText(`Ordered ${tee.suggested} of REPL-TEE at ${LOC}: incoming shipment REPL-${tee.dt}, in transit now ${tee.suggested}.`).waitFor();
      assert.equal(await acceptTee.count(), 0, "no second Accept on an ordered row");
      const after = await level("REPL-TEE", LOC);
      assert.equal(after.in_transit, tee.suggested);
      assert.equal(after.available, tee.available, "an incoming shipment is not stock yet");
      const teePosts = posts.filter((p) => p.body.sku === "REPL-TEE");
      assert.equal(teePosts.length, 1, "a double click sends one request");
      assert.deepEqual(teePosts[0], {
        key: `repl-${tee.dt}-REPL-TEE-${LOC}`,
        body: { sku: "REPL-TEE", location: LOC, quantity: tee.suggested, reference: `REPL-${tee.dt}` },
      });
      await shot("replenishment-accepted");

      // The same suggestion accepted again (another tab, a retry) is a replay: ordered once.
      await apiCall("ops", "POST", "/v1/incoming", teePosts[0].body, teePosts[0].key);
      assert.equal((await level("REPL-TEE", LOC)).in_transit, tee.suggested);

      // The refused one, pressed again, goes through with the same plan's key.
      await acceptCap.click();
      await page.locator(`tr[data-key="REPL-CAP ${SIDE}"]`).getByText(`Ordered ${cap.suggested} (REPL-${cap.dt})`).waitFor();
      assert.equal((await level("REPL-CAP", SIDE)).in_transit, cap.suggested);
      const capKeys = posts.filter((p) => p.body.sku === "REPL-CAP").map((p) => p.key);
      assert.deepEqual(capKeys, [`repl-${cap.dt}-REPL-CAP-${SIDE}`, `repl-${cap.dt}-REPL-CAP-${SIDE}`]);

      // Read again, the ordered levels are above their reorder points: only REPL-MUG is left.
      await openPage();
      await page.getByText("1 suggestion.").waitFor();
      assert.deepEqual(await page.locator("main h2").allInnerTexts(), ["ZED-SUPPLY (1 order)"]);
    } finally {
      page.off("request", listen);
    }
  });

  test("a read-only analyst sees the list without Accept", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await signInAs("Read-only analyst");
    await openPage();
    await page.getByText("Accepting a suggestion needs the admin scope.").waitFor();
    await page.getByRole("button", { name: "Forecast of REPL-MUG at WH-REPL" }).waitFor();
    assert.equal(await page.getByRole("button", { name: /^Accept/ }).count(), 0);
  });

  test("the page passes the axe-core rules (WCAG 2.1 A/AA) and fits a phone's screen", async () => {
    const { context, tab } = await local.axeTab();
    try {
      await tab.goto(`${state.api_url}/console/#/replenishment`);
      await tab.getByRole("button", { name: "Forecast of REPL-MUG at WH-REPL" }).click();
      await tab.getByRole("img", { name: /REPL-MUG at WH-REPL/ }).waitFor();
      const { violations } = await runAxe(tab);
      assert.deepEqual(violations, []);
      await tab.setViewportSize({ width: 390, height: 844 });
      await tab.waitForLoadState("networkidle");
      const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    } finally {
      await context.close();
    }
  });
});
