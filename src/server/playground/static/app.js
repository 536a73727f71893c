// The playground page: the method list, the editor, calls and their results.
// Routes: `#/package.Service/Method?request=JSON&metadata=TEXT` opens a method with a
// request (the Share link); the token is never put in a link.

import { el, pretty, prose, check, renderFields } from "./editor.js";
import {
  codeLabel, parseMetadata, unary, stream, grpcurlCommand, curlCommand,
} from "./calls.js";
import { mountView } from "./views.js";

const $ = (id) => document.getElementById(id);
/** Short names for the method list. */
const KIND_SHORT = {
  unary: "unary",
  server_streaming: "server stream",
  client_streaming: "client stream",
  bidi_streaming: "bidi stream",
};
const KIND_LABELS = {
  unary: "unary",
  server_streaming: "server streaming",
  client_streaming: "client streaming",
  bidi_streaming: "bidirectional streaming",
};

let schema = null;
/** The open method: `{service, method, view}`. */
let current = null;
/** The call in flight: `{handle, started, sent}` (handle only for streams). */
let call = null;
/** The request messages of the last call, for the copy commands. */
let lastSent = [];

async function main() {
  try {
    const response = await fetch("/playground/schema.json");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    schema = await response.json();
  } catch (err) {
    $("services").replaceChildren(el("p", { class: "error-text" },
      `Could not load the server's descriptors: ${err.message}`));
    return;
  }
  if (schema.auth) {
    $("token-field").hidden = false;
    $("token").value = sessionStorage.getItem("token") ?? "";
    $("token").addEventListener("input", () => sessionStorage.setItem("token", $("token").value));
  }
  renderNav();
  $("filter").addEventListener("input", filterNav);
  $("editor").addEventListener("input", () => showCheck());
  $("reset").addEventListener("click", () => {
    $("editor").value = pretty(current.method.example);
    showCheck();
  });
  $("send").addEventListener("click", () => send());
  $("half-close").addEventListener("click", () => call?.handle?.halfClose());
  $("cancel").addEventListener("click", () => call?.handle?.cancel());
  $("copy-grpcurl").addEventListener("click", () => copyCommand(grpcurlCommand));
  $("copy-curl").addEventListener("click", () => copyCommand(curlCommand));
  $("share").addEventListener("click", share);
  window.addEventListener("hashchange", route);
  route();
}

/** The method list, grouped by package, each service with its comment as a tooltip. */
function renderNav() {
  const packages = new Map();
  for (const service of schema.services) {
    if (!packages.has(service.package)) packages.set(service.package, []);
    packages.get(service.package).push(service);
  }
  const methodItem = (method) => el("li", { "data-path": method.path },
    el("a", { href: `#${method.path}`, title: method.comment }, method.name,
      el("span", { class: `kind ${method.kind}`, title: KIND_LABELS[method.kind] }, KIND_SHORT[method.kind])));
  const serviceBlock = (service) => el("details", { open: "", class: "service" },
    el("summary", { title: service.comment }, service.name.split(".").pop()),
    el("ul", {}, service.methods.map(methodItem)));
  const sections = [...packages.keys()].sort().map((name) => el("section", { class: "package" },
    el("h2", {}, name || "(no package)"), packages.get(name).map(serviceBlock)));
  $("services").replaceChildren(...sections);
}

function filterNav() {
  const needle = $("filter").value.trim().toLowerCase();
  for (const item of document.querySelectorAll("#services li")) {
    item.hidden = needle !== "" && !item.dataset.path.toLowerCase().includes(needle);
  }
  for (const service of document.querySelectorAll("#services details")) {
    service.hidden = [...service.querySelectorAll("li")].every((li) => li.hidden);
  }
}

function findMethod(path) {
  for (const service of schema.services) {
    const method = service.methods.find((m) => m.path === path);
    if (method) return { service, method };
  }
  return null;
}

/** Opens the method of the location's hash, with the request and metadata it carries. */
function route() {
  const hash = decodeURIComponent(location.hash.slice(1).split("?")[0]);
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const found = hash ? findMethod(hash) : null;
  if (!found) {
    $("welcome").hidden = false;
    $("method").hidden = true;
    return;
  }
  if (current?.method.path === found.method.path && !params.has("request")) return;
  open(found, params);
}

function open({ service, method }, params) {
  call?.handle?.cancel();
  current = { service, method, view: null };
  lastSent = [];
  $("welcome").hidden = true;
  $("method").hidden = false;
  $("method-name").textContent = `${service.name.split(".").pop()}.${method.name}`;
  $("method-kind").textContent = KIND_LABELS[method.kind];
  $("method-kind").className = `badge ${method.kind}`;
  $("method-path").textContent = method.path;
  $("method-comment").textContent = prose(method.comment || service.comment);
  $("method-input").textContent = method.input;
  $("method-output").textContent = method.output;
  $("fields-type").textContent = method.input;
  $("editor").value = params.has("request") ? pretty(params.get("request")) : pretty(method.example);
  $("metadata").value = params.get("metadata") ?? "";
  $("command").hidden = true;
  renderFields($("fields"), schema, method.input, $("editor"));
  for (const item of document.querySelectorAll("#services li")) {
    item.classList.toggle("active", item.dataset.path === method.path);
  }
  resetResponse("Not called yet.");
  showCheck();
  setStreaming(false);
  $("custom").replaceChildren();
  current.view = mountView(method, {
    schema, custom: $("custom"), picture: $("picture"), editor: $("editor"),
    options: () => callOptions(), runStream: (messages) => runStream(messages),
  });
}

function showCheck() {
  const result = check($("editor").value);
  $("editor-error").textContent = result.ok ? "" : result.error;
  return result;
}

/** The token, deadline and metadata of the next call; throws on bad metadata. */
function callOptions() {
  const timeout = Number($("timeout").value);
  return {
    token: schema.auth ? $("token").value.trim() : "",
    timeoutMs: Number.isFinite(timeout) && timeout > 0 ? Math.round(timeout) : 0,
    metadata: parseMetadata($("metadata").value),
  };
}

function resetResponse(text) {
  $("status").className = "status muted";
  $("status").textContent = text;
  $("replies").replaceChildren();
  $("error-details").replaceChildren();
  $("headers").textContent = "";
  $("trailers").textContent = "";
  $("picture").replaceChildren();
}

function setStreaming(open) {
  const kind = current?.method.kind;
  const sendsMany = kind === "client_streaming" || kind === "bidi_streaming";
  $("half-close").hidden = !(open && sendsMany);
  $("cancel").hidden = !open;
  $("send").textContent = open && sendsMany ? "Send message" : "Send";
  $("send").disabled = open && !sendsMany;
}

/** Long strings (image bytes) are cut short in the reply list. */
function shorten(key, value) {
  return typeof value === "string" && value.length > 240
    ? `${value.slice(0, 60)}… (${value.length} characters)` : value;
}

/** A message on one line when it is short, indented otherwise. */
function jsonText(message) {
  const line = JSON.stringify(message, shorten);
  return line.length <= 72 ? line : JSON.stringify(message, shorten, 2);
}

function addReply(kind, message) {
  const item = el("li", { class: kind },
    el("span", { class: "arrow" }, kind === "sent" ? "sent" : "reply"),
    el("pre", {}, jsonText(message)));
  $("replies").append(item);
  item.scrollIntoView({ block: "nearest" });
  if (kind === "reply") current.view?.onReply?.(message);
}

function formatMetadata(metadata) {
  return Object.entries(metadata ?? {})
    .flatMap(([name, values]) => values.map((value) => `${name}: ${value}`)).join("\n");
}

function showEnd(status, started) {
  const elapsed = `${(performance.now() - started).toFixed(0)} ms`;
  const ok = status.code === "ok";
  $("status").className = `status ${ok ? "ok" : "error"}`;
  $("status").replaceChildren(el("span", {},
    el("b", { class: "code" }, codeLabel(status.code)),
    status.message ? el("span", { class: "message" }, ` ${status.message}`) : null,
    el("span", { class: "elapsed" }, ` · ${elapsed}`)));
  $("error-details").replaceChildren(...(status.details ?? []).map(renderDetail));
  if (status.metadata) $("trailers").textContent = formatMetadata(status.metadata);
  current.view?.onEnd?.(status);
}

/** One error detail: a BadRequest as its field violations, others as their JSON. */
function renderDetail(detail) {
  const violations = detail.debug?.fieldViolations;
  if (detail.type === "google.rpc.BadRequest" && violations) {
    return el("div", { class: "detail bad-request" },
      el("h4", {}, "google.rpc.BadRequest"),
      el("ul", {}, violations.map((v) => el("li", {},
        "field ", el("code", { class: "field" }, v.field), `: ${v.description}`))));
  }
  return el("div", { class: "detail" }, el("h4", {}, detail.type),
    el("pre", {}, JSON.stringify(detail.debug ?? { value: detail.value }, null, 2)));
}

/** The call options, or null after showing why they are wrong. */
function checkedOptions() {
  try {
    return callOptions();
  } catch (err) {
    $("editor-error").textContent = err.message;
    return null;
  }
}

/** Sends one message (an object) on the open stream, and lists it. */
function sendOnStream(message) {
  const text = JSON.stringify(message);
  call.handle.send(text);
  call.sent.push(text);
  addReply("sent", message);
}

async function send() {
  const checked = showCheck();
  const options = checked.ok ? checkedOptions() : null;
  if (!options) return;
  if (call?.handle) {
    sendOnStream(checked.value);
  } else if (current.method.kind === "unary") {
    await callUnary(JSON.stringify(checked.value), options);
  } else if (openStream(options)) {
    sendOnStream(checked.value);
  }
}

async function callUnary(text, options) {
  resetResponse("Calling…");
  lastSent = [text];
  const started = performance.now();
  const method = current.method;
  $("send").disabled = true;
  try {
    const result = await unary({ path: method.path, body: text, ...options });
    if (current.method !== method) return;
    $("headers").textContent = formatMetadata(result.headers);
    if (result.message) addReply("reply", result.message);
    showEnd(result.error ?? { code: "ok" }, started);
    $("trailers").textContent = formatMetadata(result.trailers);
  } catch (err) {
    showEnd({ code: "unavailable", message: `the request failed: ${err.message}` }, started);
  } finally {
    $("send").disabled = false;
  }
}

/**
 * Opens a stream for the current method; replies and the status show as they come.
 * Returns false, with the reason shown, when the stream cannot be opened.
 */
function openStream(options) {
  resetResponse("Streaming…");
  const method = current.method;
  const started = performance.now();
  const sent = [];
  lastSent = sent;
  let handle;
  try {
    handle = stream({ path: method.path, ...options }, {
      onHeaders: (headers) => {
        if (current.method === method) $("headers").textContent = formatMetadata(headers);
      },
      onMessage: (message) => {
        if (current.method === method) addReply("reply", message);
      },
      onEnd: (status) => {
        if (call?.handle === handle) call = null;
        if (current.method !== method) return;
        showEnd(status, started);
        setStreaming(false);
      },
    });
  } catch (err) {
    showEnd({ code: "invalid_argument", message: err.message }, started);
    return false;
  }
  call = { handle, started, sent };
  setStreaming(true);
  return true;
}

/** Sends `messages` (objects) on a new stream and half-closes: for the custom views. */
function runStream(messages) {
  call?.handle?.cancel();
  const options = checkedOptions();
  if (!options || !openStream(options)) return;
  for (const message of messages) sendOnStream(message);
  call.handle.halfClose();
}

async function copyCommand(build) {
  const options = checkedOptions();
  if (!options) return;
  const messages = lastSent.length ? lastSent : [$("editor").value];
  showCommand(build({ method: current.method, messages, ...options }));
}

function share() {
  const checked = check($("editor").value);
  const params = new URLSearchParams();
  params.set("request", checked.ok ? JSON.stringify(checked.value) : $("editor").value);
  if ($("metadata").value.trim()) params.set("metadata", $("metadata").value.trim());
  const url = `${location.origin}${location.pathname}#${current.method.path}?${params}`;
  history.replaceState(null, "", url);
  showCommand(url);
}

/** Shows `text` under the buttons and copies it to the clipboard when the page may. */
async function showCommand(text) {
  $("command").hidden = false;
  $("command").textContent = text;
  try {
    await navigator.clipboard.writeText(text);
    $("command").dataset.copied = "copied";
  } catch {
    $("command").dataset.copied = "select to copy";
  }
}

main();
