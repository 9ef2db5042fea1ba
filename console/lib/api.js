// Configuration, sign-in and the API client. The console calls the same HTTP API as every other
// client, with the signed-in person's bearer token; the API enforces every scope.

const TOKEN_KEY = "inventory-console-token";
const PKCE_KEY = "inventory-console-pkce";

export let config = { api_url: "", auth: { mode: "token" } };

/** Loads config.json (served next to the console; the local stack serves one with dev tokens). */
export async function loadConfig() {
  const r = await fetch("config.json", { cache: "no-store" });
  if (!r.ok) throw new Error(`config.json: HTTP ${r.status}`);
  config = await r.json();
  config.api_url = (config.api_url ?? "").replace(/\/+$/, "");
  config.auth = config.auth ?? { mode: "token" };
  return config;
}

function base64UrlDecode(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The claims of a JWT (not verified here: the API verifies; the console only adapts its UI). */
export function claimsOf(token) {
  try {
    const [, payload] = token.split(".");
    return JSON.parse(base64UrlDecode(payload));
  } catch {
    return null;
  }
}

export function session() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const claims = claimsOf(token);
  if (!claims) return null;
  if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) {
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
  const scopes = String(claims.scope ?? claims.scp ?? "").split(/\s+/).filter(Boolean);
  return {
    token,
    subject: claims.sub ?? "unknown",
    scopes,
    canRead: scopes.includes("inventory/read"),
    canAdmin: scopes.includes("inventory/admin"),
    canSell: scopes.includes("inventory/sell"),
    expires: typeof claims.exp === "number" ? new Date(claims.exp * 1000) : null,
  };
}

export function signIn(token) {
  const t = token.trim().replace(/^Bearer\s+/i, "");
  if (!claimsOf(t)) throw new Error("That is not a JWT (three base64url parts separated by dots).");
  sessionStorage.setItem(TOKEN_KEY, t);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

function randomString(bytes = 32) {
  const a = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...a)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function redirectUri() {
  return location.origin + location.pathname;
}

/** OIDC authorization-code flow with PKCE (e.g. a Cognito user pool app client without secret). */
export async function startOidcSignIn() {
  const a = config.auth;
  const verifier = randomString(48);
  const state = randomString(16);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const challenge = btoa(String.fromCharCode(...new Uint8Array(digest)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const u = new URL(a.authorize_url);
  u.searchParams.set("response_type", "code");
  u.searchParams.set("client_id", a.client_id);
  u.searchParams.set("redirect_uri", redirectUri());
  u.searchParams.set("scope", a.scopes ?? "openid inventory/read inventory/admin");
  u.searchParams.set("state", state);
  u.searchParams.set("code_challenge", challenge);
  u.searchParams.set("code_challenge_method", "S256");
  location.assign(u.toString());
}

/** Completes an OIDC sign-in when the page is the redirect target (?code=…&state=…). */
export async function completeOidcSignIn() {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  if (!code || config.auth?.mode !== "oidc") return false;
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) ?? "null");
  sessionStorage.removeItem(PKCE_KEY);
  history.replaceState(null, "", redirectUri() + location.hash);
  if (!saved || saved.state !== params.get("state")) throw new Error("Sign-in failed: the state did not match. Try again.");
  const r = await fetch(config.auth.token_url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.auth.client_id,
      code,
      redirect_uri: redirectUri(),
      code_verifier: saved.verifier,
    }),
  });
  if (!r.ok) throw new Error(`Sign-in failed: the token endpoint answered ${r.status}.`);
  const t = await r.json();
  signIn(t.access_token);
  return true;
}

/** A refused request, with the API's problem+json. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(describeProblem(status, problem));
    this.status = status;
    this.problem = problem ?? {};
  }

  /** Field errors by field name (validation problems). */
  fieldErrors() {
    return this.problem.errors ?? [];
  }
}

/** A problem+json as a sentence for people. */
export function describeProblem(status, p) {
  if (status === 401) return "Your sign-in is missing or has expired. Sign in again.";
  if (!p || typeof p !== "object") return `The request failed (HTTP ${status}).`;
  let msg = p.detail || p.title || `The request failed (HTTP ${status}).`;
  if (p.type === "/problems/forbidden") msg = `You are not allowed to do this${p.required_scope ? ` (it needs ${p.required_scope})` : ""}.`;
  if (Array.isArray(p.errors) && p.errors.length) {
    msg += " " + p.errors.map((e) => `${e.field}: ${e.message}`).join("; ") + ".";
  }
  if (status === 503) msg += " Try again in a moment; nothing was changed.";
  return msg;
}

export function newIdempotencyKey() {
  return "console-" + (crypto.randomUUID ? crypto.randomUUID() : randomString(18));
}

/**
 * Calls the API. `idempotencyKey` is sent as the Idempotency-Key header. Returns the parsed JSON
 * (or null for 204); throws ApiError for a refusal and Error for a network failure.
 */
export async function api(method, path, { body, idempotencyKey, signal } = {}) {
  const s = session();
  const headers = { accept: "application/json" };
  if (s) headers.authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
  let r;
  try {
    r = await fetch(config.api_url + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new Error("The API could not be reached. Check the connection and try again; a retry is safe.");
  }
  if (r.status === 204) return null;
  const type = r.headers.get("content-type") ?? "";
  const data = type.includes("json") ? await r.json().catch(() => null) : null;
  if (!r.ok) {
    if (r.status === 401) window.dispatchEvent(new CustomEvent("console:unauthorized"));
    throw new ApiError(r.status, data);
  }
  return data;
}

/** Every item of a paginated list, up to `max` items. */
export async function listAll(path, { max = 1000, limit = 100 } = {}) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return { items, more: !!cursor };
}

/**
 * Calls the API with a body that is not JSON (a CSV upload) or for an answer that is not JSON
 * (a CSV download). Returns the Response; throws ApiError for a refusal and Error for a network
 * failure.
 */
export async function apiRaw(method, path, { body, contentType, idempotencyKey } = {}) {
  const s = session();
  const headers = {};
  if (s) headers.authorization = `Bearer ${s.token}`;
  if (contentType) headers["content-type"] = contentType;
  if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
  let r;
  try {
    r = await fetch(config.api_url + path, { method, headers, body });
  } catch {
    throw new Error("The API could not be reached. Check the connection and try again; a retry is safe.");
  }
  if (!r.ok) {
    const data = (r.headers.get("content-type") ?? "").includes("json") ? await r.json().catch(() => null) : null;
    if (r.status === 401) window.dispatchEvent(new CustomEvent("console:unauthorized"));
    throw new ApiError(r.status, data);
  }
  return r;
}

/** The `rel="next"` target of a Link header, or null. */
export function nextLink(header) {
  const m = /<([^>]+)>\s*;\s*rel="next"/.exec(header ?? "");
  return m ? m[1] : null;
}
