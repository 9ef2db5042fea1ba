// What the console's end-to-end test files share (a helper, not a test file): a local stack of
// their own (the built `local-stack` binary, its state in a temporary directory), a page on it in
// headless Chromium (Debian's chromium, driven by playwright-core), calls to its API, and the
// axe-core accessibility check. Screenshots go to target/console-e2e/.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const bin = process.env.LOCAL_STACK_BIN ?? join(root, "target/debug/local-stack");
const browserPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const shots = join(root, "target/console-e2e");
const VIEWPORT = { width: 1280, height: 900 };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A local stack for one test file and the browser on it: `start` in `before`, `stop` in `after`
 * (it cleans up whatever `start` got to, so a start that failed half-way leaves nothing running).
 * The stack's output and the page's errors are kept in `log`, shown when a wait times out.
 */
export class LocalStack {
  log = "";
  /** The stack's state file: its URLs, table and development tokens. */
  stateFile = null;
  state = null;
  browser = null;
  page = null;
  #process = null;
  #work = null;

  /** Starts the stack (`args`: more of its options) and waits until it has written its state. */
  async start(prefix, args = []) {
    assert.ok(existsSync(bin), `${bin} is missing: build it with cargo build -p local-stack`);
    assert.ok(existsSync(browserPath), `${browserPath} is missing: bash infra/setup-browser.sh installs Debian's chromium`);
    mkdirSync(shots, { recursive: true });
    this.#work = mkdtempSync(join(tmpdir(), prefix));
    this.stateFile = join(this.#work, "stack.json");
    this.#process = spawn(bin, ["--port", "0", ...args, "--state-file", this.stateFile], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.#process.stdout.on("data", (d) => (this.log += d));
    this.#process.stderr.on("data", (d) => (this.log += d));
    this.state = await this.waitFor(() => existsSync(this.stateFile) && JSON.parse(readFileSync(this.stateFile, "utf8")), "the local stack");
    return this.state;
  }

  /** Opens the browser and its page (the page's errors go to the log). */
  async browse() {
    this.browser = await chromium.launch({ executablePath: browserPath, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
    this.page = await this.browser.newPage({ viewport: VIEWPORT });
    this.page.on("pageerror", (e) => (this.log += `\n[page error] ${e.message}`));
    return this.page;
  }

  async stop() {
    await this.browser?.close();
    if (this.#process && this.#process.exitCode === null) {
      try {
        process.kill(-this.#process.pid, "SIGTERM");
      } catch {}
    }
    if (this.#work) rmSync(this.#work, { recursive: true, force: true });
  }

  async waitFor(fn, what, ms = 120_000) {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${this.log.slice(-4000)}`);
      await sleep(250);
    }
  }

  /** Calls the API directly (as a storefront or a setup script would). */
  apiCall = async (role, method, path, body, key) => {
    const headers = { authorization: `Bearer ${this.state.tokens[role]}` };
    if (body) headers["content-type"] = "application/json";
    if (key) headers["idempotency-key"] = key;
    const r = await fetch(this.state.api_url + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const text = await r.text();
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };

  shot = async (name) => {
    await this.page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  };

  signInAs = async (label, page = this.page) => {
    await page.goto(`${this.state.api_url}/console/#/signin`);
    await page.getByRole("button", { name: `Sign in as ${label}` }).click();
    await page.getByRole("heading", { level: 1, name: "Stock" }).waitFor();
  };

  /**
   * A second tab, signed in as ops, that lets axe's script in past the console's content-security
   * policy. Close its `context` when done.
   */
  async axeTab() {
    const context = await this.browser.newContext({ bypassCSP: true, viewport: VIEWPORT });
    const tab = await context.newPage();
    await this.signInAs("Ops (admin)", tab);
    return { context, tab };
  }
}

/**
 * Runs axe-core's WCAG 2.1 A/AA rules on the tab's page: the rules it checked and passed (and
 * "label" on a page without text fields, where it has nothing to check) and its violations.
 */
export async function runAxe(tab) {
  await tab.addScriptTag({ path: join(root, "tests/console/node_modules/axe-core/axe.min.js") });
  return tab.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return {
      passed: r.passes.map((p) => p.id).concat(document.querySelector("main input, main textarea") ? [] : ["label"]),
      violations: r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`),
    };
  });
}
