// What every page shares: the page on screen (a view number: an answer that comes back after the
// person has moved on is dropped), its content and timers, the status message, the locations and
// the count of open alerts in the navigation.

import { listAll, session } from "./api.js";
import { append } from "./dom.js";

export const main = document.getElementById("main");
const flashBox = document.getElementById("flash");
export const POLL_MS = 5000;
let viewTimers = [];
let viewSeq = 0;
let router = null;

export function flash(message, kind = "ok") {
  flash.at = Date.now();
  flashBox.hidden = false;
  flashBox.className = `flash ${kind}`;
  flashBox.textContent = message;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => (flashBox.hidden = true), 8000);
}

/** Starts a new page: the last page's timers stop, and its answers no longer draw. */
export function newView() {
  // A message from the page before stays for the page it led to, not for pages after that.
  if (Date.now() - (flash.at ?? 0) > 1500) flashBox.hidden = true;
  for (const t of viewTimers) clearInterval(t);
  viewTimers = [];
  return ++viewSeq;
}

/** Whether the view `seq` is still the page on screen. */
export function onScreen(seq) {
  return seq === viewSeq;
}

/** The view on screen now. */
export function currentView() {
  return viewSeq;
}

/** Runs `fn` every `ms` while the view `seq` is on screen. */
export function every(seq, ms, fn) {
  if (seq === viewSeq) viewTimers.push(setInterval(fn, ms));
}

/** Sets what draws the page for the address (the router). */
export function useRouter(fn) {
  router = fn;
}

/** Draws the page for the address again (after a change that shows on it). */
export function reload() {
  return router();
}

/**
 * Replaces the page's content unless the person has moved on to another page meanwhile. The new
 * page's heading takes the focus (screen readers announce it), at once, so what is typed next
 * goes where the person puts it; on the first load the focus stays at the top, at the skip link.
 */
export function render(seq, ...children) {
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

let locationsCache = null;
export async function locations() {
  locationsCache ??= listAll("/v1/locations").then((r) => r.items);
  try {
    return await locationsCache;
  } catch (e) {
    locationsCache = null;
    throw e;
  }
}

/** After a location is saved: the next page reads them afresh. */
export function forgetLocations() {
  locationsCache = null;
}

let countTimer = null;
/** The view whose inbox lists exactly the open alerts (no filter) and so keeps the count itself. */
let countKeptBy = 0;

/** `seq` (an inbox listing exactly the open alerts) keeps the count; 0: the polling does. */
export function keepCount(seq) {
  countKeptBy = seq;
}

export function showOpenCount(n, more) {
  const badge = document.getElementById("open-count");
  badge.hidden = false;
  badge.textContent = `${n}${more ? "+" : ""}`;
  badge.setAttribute("aria-label", `${n} open alerts`);
  badge.classList.toggle("zero", n === 0);
}

export async function refreshOpenCount() {
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

export function startCountPolling() {
  clearInterval(countTimer);
  refreshOpenCount();
  countTimer = setInterval(refreshOpenCount, POLL_MS);
}

