// The admin console: stock, replenishment, the alert inbox, rules and reports, on the inventory
// HTTP API.
// Plain ES modules, no build step; every element is built with the DOM (no HTML from data). This
// file is the shell: the router, the signed-in person and start-up. Each page is a module under
// views/; what they share is under lib/.

import { completeOidcSignIn, loadConfig, session, signOut } from "./lib/api.js";
import { errorBox, h } from "./lib/dom.js";
import { flash, main, newView, render, startCountPolling, useRouter } from "./lib/shell.js";
import { viewAlert } from "./views/alert.js";
import { viewAlerts } from "./views/alerts.js";
import { viewReplenishment } from "./views/replenishment.js";
import { viewReports } from "./views/reports.js";
import { viewRuleForm } from "./views/rule-form.js";
import { viewRules } from "./views/rules.js";
import { viewSignIn } from "./views/signin.js";
import { viewSku } from "./views/sku.js";
import { viewStock } from "./views/stock.js";

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

async function route() {
  const seq = newView();
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

useRouter(route);
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
