// Sign-in: the local stack's development tokens, the organisation's OIDC sign-in, or a token
// pasted in.

import { config, signIn, startOidcSignIn } from "../lib/api.js";
import { h } from "../lib/dom.js";
import { clearErrors, field, showErrors } from "../lib/forms.js";
import { render, startCountPolling } from "../lib/shell.js";

export async function viewSignIn(seq) {
  const after = () => {
    const next = sessionStorage.getItem("inventory-console-after") || "#/stock";
    sessionStorage.removeItem("inventory-console-after");
    location.hash = next;
    startCountPolling();
  };
  const parts = [h("h1", {}, "Sign in")];
  const auth = config.auth ?? {};
  if (auth.mode === "local" && auth.tokens) {
    const labels = { ops: "Ops (admin)", storefront: "Storefront", "storefront-b": "Second storefront", readonly: "Read-only analyst" };
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
