// The script of the API docs page (/api/docs). It is served as a file of its own because the
// Content-Security-Policy runs no inline script. It reads /api/openapi.json and renders every
// operation with a form to try it; the sign-in form gets the session cookies that the tries
// then carry.
"use strict";
const specURL = "/api/openapi.json";
let spec = null;

// el builds an element; children are nodes or strings (always inserted as text, never as HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// resolve follows a local "$ref" such as "#/components/schemas/Reading".
function resolve(obj) {
  if (!obj || !obj.$ref) return obj;
  return obj.$ref.slice(2).split("/").reduce((o, k) => o && o[k], spec);
}

// expand inlines every $ref for display; a schema that refers to itself stops at depth 8.
function expand(obj, depth = 0) {
  if (Array.isArray(obj)) return obj.map(x => expand(x, depth));
  if (!obj || typeof obj !== "object") return obj;
  if (obj.$ref) return depth > 8 ? { $ref: obj.$ref } : expand(resolve(obj), depth + 1);
  const out = {};
  for (const [k, v] of Object.entries(obj)) out[k] = expand(v, depth);
  return out;
}

function pretty(v) { return JSON.stringify(v, null, 2); }

// prose turns the `code` spans of a description into code elements; the rest stays text.
function prose(s) { return s.split("`").map((part, i) => i % 2 ? el("code", {}, part) : part); }

function paramRow(p, inputs, run) {
  const s = p.schema || {};
  const input = el("input", {
    placeholder: s.default !== undefined ? "default " + s.default : (s.example || ""),
    onkeydown: ev => { if (ev.key === "Enter") run(); },
  });
  inputs.push({ p, input });
  const type = (s.type || "") + (s.format ? " (" + s.format + ")" : "") +
    (s.minimum !== undefined ? ", " + s.minimum + ".." + s.maximum : "");
  return el("tr", {},
    el("td", {}, el("code", {}, p.name), p.required ? " *" : ""),
    el("td", {}, p.in), el("td", {}, type), el("td", {}, ...prose(p.description || "")), el("td", {}, input));
}

// buildURL fills the path parameters and appends the non-empty query parameters.
function buildURL(path, inputs) {
  const q = new URLSearchParams();
  for (const { p, input } of inputs) {
    const v = input.value.trim();
    if (p.in === "path") path = path.replace("{" + p.name + "}", encodeURIComponent(v));
    else if (p.in === "query" && v !== "") q.set(p.name, v);
  }
  const qs = q.toString();
  return path + (qs ? "?" + qs : "");
}

// csrfToken returns the CSRF token of the session, from the one cookie the page may read.
function csrfToken() {
  const c = document.cookie.split("; ").find(kv => kv.startsWith("ms_csrf="));
  return c ? decodeURIComponent(c.slice("ms_csrf=".length)) : "";
}

// send makes a request with the session cookies; a request that changes something carries
// the CSRF token, and a body is sent as JSON.
function send(method, url, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined && body !== "") headers["Content-Type"] = "application/json";
  return fetch(url, { method, headers, body: body || undefined, credentials: "same-origin" });
}

async function tryHTTP(method, url, out, body) {
  out.replaceChildren(el("span", { class: "muted" }, method + " " + url + " …"));
  const t0 = performance.now();
  try {
    const res = await send(method, url, body);
    const text = await res.text();
    let body = text;
    try { body = pretty(JSON.parse(text)); } catch (_) { if (body.length > 4000) body = body.slice(0, 4000) + "\n…"; }
    out.replaceChildren(
      el("div", {}, el("span", { class: "status " + (res.ok ? "ok" : "bad") }, res.status + " " + res.statusText),
        el("span", { class: "muted" }, "  " + method + " " + url + " in " + Math.round(performance.now() - t0) + " ms  " +
          (res.headers.get("Content-Type") || ""))),
      el("pre", {}, body));
  } catch (err) {
    out.replaceChildren(el("span", { class: "bad" }, "request failed: " + err));
  }
}

// tryWebSocket shows the first three frames, then closes the connection.
function tryWebSocket(url, out) {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + url);
  const log = el("pre", {}, "connecting to " + url + " …\n");
  out.replaceChildren(log);
  let frames = 0;
  ws.onmessage = ev => {
    let text = ev.data;
    try { text = pretty(JSON.parse(ev.data)); } catch (_) { /* not JSON: show as it is */ }
    log.append("frame " + (++frames) + ":\n" + text + "\n");
    if (frames >= 3) ws.close(1000, "docs page done");
  };
  ws.onclose = ev => log.append("closed: code " + ev.code + (ev.reason ? " (" + ev.reason + ")" : "") + "\n");
  ws.onerror = () => log.append("connection error\n");
}

function operation(path, method, op) {
  const params = [...(spec.paths[path].parameters || []), ...(op.parameters || [])].map(resolve);
  const inputs = [];
  const out = el("div", {});
  const isWS = path.startsWith("/api/ws/");
  // An operation with a JSON body gets a text area, filled with the schema's example.
  const bodySpec = op.requestBody && resolve(op.requestBody).content && resolve(op.requestBody).content["application/json"];
  const bodyInput = bodySpec ? el("textarea", {}) : null;
  if (bodyInput) {
    const example = bodySpec.example !== undefined ? bodySpec.example : (expand(bodySpec.schema || {}).example);
    bodyInput.value = example !== undefined ? pretty(example) : "{}";
  }
  // run sends the request, or says which path parameter is missing: an empty one would
  // silently address another route.
  const run = () => {
    const missing = inputs.filter(({ p, input }) => p.in === "path" && input.value.trim() === "").map(({ p }) => p.name);
    if (missing.length) return out.replaceChildren(el("span", { class: "bad" }, "fill in " + missing.join(", ")));
    const url = buildURL(path, inputs);
    if (isWS) tryWebSocket(url, out); else tryHTTP(method.toUpperCase(), url, out, bodyInput ? bodyInput.value.trim() : undefined);
  };
  const body = el("div", {},
    op.description ? el("p", {}, ...prose(op.description)) : null,
    params.length ? el("table", {},
      el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "description"), el("th", {}, "value")),
      ...params.map(p => paramRow(p, inputs, run))) : el("p", { class: "muted" }, "No parameters."),
    bodyInput ? el("div", {}, el("b", {}, "Request body (JSON)"), bodyInput) : null,
    el("button", { onclick: run }, isWS ? "Connect" : "Try it"),
    out,
    el("h4", {}, "Responses"));
  for (const [status, ref] of Object.entries(op.responses || {})) {
    const r = resolve(ref);
    const schemas = Object.entries(r.content || {}).map(([type, c]) =>
      el("details", {}, el("summary", {}, type), el("pre", {}, pretty(expand(c.schema || {})))));
    body.append(el("div", {}, el("b", {}, status), " ", ...prose(r.description || ""), ...schemas));
  }
  const access = op["x-permission"];
  return el("details", { class: "op" },
    el("summary", {}, el("span", { class: "method" }, method.toUpperCase()), path, el("span", { class: "summary" }, op.summary || ""),
      access ? el("span", { class: "perm", title: "what the route needs" }, access) : null),
    body);
}

function render() {
  document.title = spec.info.title + " API docs";
  document.getElementById("title").textContent = spec.info.title + " API";
  document.getElementById("version").textContent = "version " + spec.info.version + " · OpenAPI " + spec.openapi + " · " + specURL;
  const desc = document.getElementById("description");
  for (const para of (spec.info.description || "").split("\n\n")) desc.append(el("p", {}, ...prose(para)));
  const ops = document.getElementById("ops");
  ops.replaceChildren();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of ["get", "put", "post", "delete", "patch", "head", "options"]) {
      if (item[method]) ops.append(operation(path, method, item[method]));
    }
  }
  const schemas = document.getElementById("schemas");
  for (const [name, s] of Object.entries((spec.components || {}).schemas || {})) {
    schemas.append(el("details", { class: "op" }, el("summary", {}, name),
      el("div", {}, s.description ? el("p", {}, ...prose(s.description)) : null, el("pre", {}, pretty(expand(s))))));
  }
}

// showWho shows who is signed in, from /api/auth/me.
async function showWho() {
  const who = document.getElementById("who");
  try {
    const res = await send("GET", "/api/auth/me");
    if (!res.ok) { who.textContent = "Not signed in: only the public operations answer."; return; }
    const me = await res.json();
    who.replaceChildren("Signed in as ", el("b", {}, me.username), " (" + me.role + "): " + me.permissions.join(", "));
  } catch (err) {
    who.textContent = "cannot ask /api/auth/me: " + err;
  }
}

document.getElementById("login").addEventListener("submit", async ev => {
  ev.preventDefault();
  const who = document.getElementById("who");
  const body = JSON.stringify({
    username: document.getElementById("username").value.trim(),
    password: document.getElementById("password").value,
    role: document.getElementById("role").value,
  });
  try {
    const res = await send("POST", "/api/auth/login", body);
    document.getElementById("password").value = "";
    if (!res.ok) {
      const err = await res.json().catch(() => ({}));
      who.textContent = "Sign-in failed: " + ((err.error && err.error.message) || res.status + " " + res.statusText);
      return;
    }
    await showWho();
  } catch (err) {
    who.textContent = "sign-in failed: " + err;
  }
});

document.getElementById("logout").addEventListener("click", async () => {
  await send("POST", "/api/auth/logout").catch(() => {});
  await showWho();
});

showWho();

fetch(specURL)
  .then(res => { if (!res.ok) throw new Error(res.status + " " + res.statusText); return res.json(); })
  .then(s => { spec = s; render(); })
  .catch(err => { document.getElementById("ops").replaceChildren(el("p", { class: "bad" }, "cannot load " + specURL + ": " + err)); });
