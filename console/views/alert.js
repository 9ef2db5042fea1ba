// An alert's page (its episode, history and notifications, a silence form for admins), and the
// acknowledge and resolve buttons the inbox shows too.

import { api, session } from "../lib/api.js";
import { observationText } from "../lib/alerts.js";
import { h, muted, severityTag, skuLink, table, timeCell } from "../lib/dom.js";
import { actionButton } from "../lib/forms.js";
import { flash, refreshOpenCount, reload, render } from "../lib/shell.js";
import { silenceForm } from "./silences.js";

async function alertAction(alert, action) {
  const updated = await api("POST", `/v1/alerts/${encodeURIComponent(alert.alert_id)}/${action}`);
  flash(`Alert ${action === "acknowledge" ? "acknowledged" : "resolved"}: ${alert.rule_name}, ${alert.sku} at ${alert.location}.`);
  await refreshOpenCount();
  return updated;
}

/** Acknowledge and Resolve, as the alert's state allows (admin); `after` draws what changed. */
export function alertButtons(alert, after) {
  if (!session()?.canAdmin) return null;
  const run = (action) => async () => {
    await alertAction(alert, action);
    await after();
  };
  const what = `${alert.rule_name} for ${alert.sku} at ${alert.location}`;
  return h("span", { class: "actions" },
    alert.state === "firing" ? actionButton({ "aria-label": `Acknowledge ${what}` }, "Acknowledge", run("acknowledge")) : null,
    alert.state !== "resolved" ? actionButton({ class: "secondary", "aria-label": `Resolve ${what}` }, "Resolve", run("resolve")) : null);
}

const NOTICES = { fire: "fired", remind: "reminder", resolve: "resolved" };

function deliveries(a) {
  if (!Object.keys(a.deliveries ?? {}).length) return muted("This rule sends no SMS or email; the alert is in the inbox only.");
  return table("Notifications of this alert", ["Notice", "Channel", "Status", "When", "Reason"],
    h("tbody", {}, Object.entries(a.deliveries).map(([key, d]) => {
      const [notice, channel] = key.split(":");
      return h("tr", {},
        h("td", {}, NOTICES[notice] ?? notice),
        h("td", {}, channel === "sms" ? "SMS (ops topic)" : "email"),
        h("td", { "data-status": d.status }, d.status),
        h("td", {}, timeCell(d.at ?? d.since)),
        h("td", {}, d.reason ?? ""));
    })));
}

export async function viewAlert(seq, id) {
  const a = await api("GET", `/v1/alerts/${encodeURIComponent(id)}`);
  const again = () => reload();
  render(seq,
    h("p", { class: "crumbs" }, h("a", { href: "#/alerts" }, "Alerts"), " / ", a.alert_id),
    h("h1", {}, a.rule_name),
    h("dl", { class: "attrs" },
      h("dt", {}, "Severity"), h("dd", {}, severityTag(a.severity)),
      h("dt", {}, "State"), h("dd", { "data-testid": "alert-state" }, a.state),
      h("dt", {}, "Kind"), h("dd", {}, a.kind.replace(/_/g, " ")),
      h("dt", {}, "SKU"), h("dd", {}, skuLink(a.sku)),
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
    h("section", { "aria-labelledby": "deliv-h" }, h("h2", { id: "deliv-h" }, "Notifications"), deliveries(a)),
    session().canAdmin ? h("details", { class: "panel" }, h("summary", {}, "Silence"), silenceForm({ ruleId: a.rule_id, sku: a.sku, after: again })) : null);
}
