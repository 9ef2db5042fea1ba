// The alert rules: each with what fires it and where, enable, disable and delete (admin).

import { api, listAll, session } from "../lib/api.js";
import { emptyRow, h, keepingFocus, severityTag, table } from "../lib/dom.js";
import { actionButton } from "../lib/forms.js";
import { bodyOfRule, describeCondition, describeSelector, kindOf } from "../lib/rules.js";
import { flash, render } from "../lib/shell.js";

function channels(r) {
  return [r.channels?.sms && "SMS", r.channels?.email?.length && `email (${r.channels.email.length})`, r.channels?.inbox !== false && "inbox"].filter(Boolean).join(", ");
}

export async function viewRules(seq) {
  const s = session();
  const { items } = await listAll("/v1/rules", { max: 1000 });
  const body = h("tbody");
  const actions = (r, rules) => h("span", { class: "actions" },
    actionButton({ class: "secondary", "aria-label": `${r.enabled ? "Disable" : "Enable"} ${r.name}` }, r.enabled ? "Disable" : "Enable", async () => {
      const updated = await api("PUT", `/v1/rules/${encodeURIComponent(r.rule_id)}`, { body: { ...bodyOfRule(r), enabled: !r.enabled } });
      Object.assign(r, updated);
      flash(`${r.name} ${r.enabled ? "enabled" : "disabled"}.`);
      draw(rules);
    }),
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
    } }, "Delete"));
  const draw = (rules) => keepingFocus(body, () => {
    body.replaceChildren(...rules.map((r) => h("tr", { class: r.enabled ? null : "disabled", "data-key": r.rule_id },
      h("th", { scope: "row" }, h("a", { href: `#/rules/${encodeURIComponent(r.rule_id)}` }, r.name)),
      h("td", {}, kindOf(r.kind)?.label ?? r.kind),
      h("td", {}, describeCondition(r)),
      h("td", {}, describeSelector(r.selector)),
      h("td", {}, severityTag(r.severity)),
      h("td", {}, channels(r)),
      h("td", {}, r.enabled ? "enabled" : "disabled"),
      h("td", {}, s.canAdmin ? actions(r, rules) : null))));
    if (!rules.length) body.append(emptyRow(8, "No rules yet."));
  });
  draw(items);
  render(seq,
    h("h1", {}, "Rules"),
    s.canAdmin ? h("p", {}, h("a", { href: "#/rules/new", class: "button" }, "New rule")) : null,
    table("Alert rules", ["Name", "Kind", "Fires when", "Applies to", "Severity", "Channels", "Status", "Actions"], body));
}
