// Form parts and the way every form shows what is wrong: labelled fields, the error summary and
// each field's message, writes that keep their Idempotency-Key until answered.

import { api, ApiError, newIdempotencyKey } from "./api.js";
import { h } from "./dom.js";
import { flash } from "./shell.js";

export function field(label, input, hint) {
  const id = input.id || (input.id = `f-${input.name}-${Math.random().toString(36).slice(2, 8)}`);
  const err = h("span", { class: "field-error", id: `${id}-err` });
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  input.setAttribute("aria-describedby", [hintEl ? `${id}-hint` : null, `${id}-err`].filter(Boolean).join(" "));
  return h("div", { class: "field", "data-field": input.name }, h("label", { for: id }, label), input, hintEl, err);
}

export function checkbox(label, name, checked) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 8)}`;
  return h("div", { class: "field check", "data-field": name }, h("input", { type: "checkbox", id, name, checked }), h("label", { for: id }, label));
}

export function locationSelect(name, locations, { all = false, value = "", required = false } = {}) {
  return h(
    "select",
    { name, required },
    all ? h("option", { value: "" }, "All locations") : h("option", { value: "" }, "Choose…"),
    locations.map((l) => h("option", { value: l.location, selected: l.location === value }, `${l.location} — ${l.name}`)),
  );
}

export function setBusy(form, busy) {
  for (const b of form.querySelectorAll("button")) b.disabled = busy;
  form.setAttribute("aria-busy", busy ? "true" : "false");
}

export function clearErrors(form) {
  for (const e of form.querySelectorAll(".field-error")) e.textContent = "";
  for (const e of form.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
  form.querySelector(".form-errors")?.remove();
}

/** Marks each error's field (by form field name) and puts its message next to it. */
export function markFieldErrors(form, errors, nameOf = (f) => f) {
  for (const e of errors) {
    const wrap = form.querySelector(`[data-field="${CSS.escape(nameOf(e.field))}"]`);
    wrap?.querySelector("input,select,textarea")?.setAttribute("aria-invalid", "true");
    const slot = wrap?.querySelector(".field-error");
    if (slot) slot.textContent = e.message;
  }
}

/** Shows errors next to their fields (by form field name) and a summary at the top. */
export function showErrors(form, errors, nameOf = (f) => f) {
  const summary = h("div", { class: "form-errors error", role: "alert", tabindex: "-1" },
    h("p", {}, errors.length === 1 ? "Please correct this:" : `Please correct these ${errors.length} things:`),
    h("ul", {}, errors.map((e) => h("li", {}, `${e.label ?? e.field}: ${e.message}`))));
  form.prepend(summary);
  markFieldErrors(form, errors, nameOf);
  summary.focus();
}

/**
 * Submits a write with an Idempotency-Key that the form keeps until the API has answered: a
 * retry after a network failure or any 5xx (a gateway timeout may come after the write has
 * committed) reuses it, so stock changes once; a refusal (4xx) or a success ends it, so the next
 * submission is a new request. `key` gives the key instead of a new random one (a write that must
 * happen once however often it is sent, such as accepting a replenishment suggestion).
 */
export async function submitWrite(form, method, path, body, key = null) {
  form.dataset.key ||= key ?? newIdempotencyKey();
  try {
    const result = await api(method, path, { body, idempotencyKey: form.dataset.key });
    delete form.dataset.key;
    return result;
  } catch (e) {
    if (e instanceof ApiError && e.status < 500) delete form.dataset.key;
    throw e;
  }
}

/** What to show for a refused or failed write: the API's field errors, else one sentence. */
export function problemErrors(e, label) {
  return e instanceof ApiError && e.fieldErrors().length ? e.fieldErrors() : [{ field: "form", label, message: e.message }];
}

/**
 * Handles a form's submission: `check` names what is wrong before anything is sent; `send` then
 * runs with the form busy, and what refuses or fails it shows as the API's field errors or as one
 * sentence labelled `refused`. `fix` adapts the API's errors to the form; `nameOf` maps an
 * error's field to the form's field name.
 */
export function onSubmit(form, { check = () => [], send, refused, fix = (errors) => errors, nameOf }) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const v = values(form);
    const errors = check(v);
    if (errors.length) return showErrors(form, errors, nameOf);
    setBusy(form, true);
    try {
      await send(v);
    } catch (e) {
      showErrors(form, fix(problemErrors(e, refused)), nameOf);
    } finally {
      setBusy(form, false);
    }
  });
}

/**
 * A button that runs `act`, disabled until it has answered; a failure is the status message and
 * the button can be pressed again. (After a success the page draws the button anew.)
 */
export function actionButton(attrs, label, act) {
  return h("button", { type: "button", ...attrs, onclick: async (ev) => {
    ev.target.disabled = true;
    try {
      await act();
    } catch (e) {
      flash(e.message, "bad");
      ev.target.disabled = false;
    }
  } }, label);
}

/**
 * Runs `run` once typing in a filter form has paused (a word typed is one request, not one a
 * letter). Returns what cancels a run that is still waiting.
 */
export function onInputSettled(form, run, ms = 300) {
  let timer = null;
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, ms);
  });
  return () => clearTimeout(timer);
}

export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "radio") {
      if (el.checked) out[el.name] = el.value;
    } else out[el.name] = el.value;
  }
  return out;
}

export function intOrNull(v) {
  const s = String(v ?? "").trim();
  return s === "" ? null : Number(s);
}
