// Calls from the page: unary methods as Connect calls (JSON over HTTP with fetch),
// every stream as a WebSocket on the method's path (one JSON message per text frame,
// the response headers first, the status in the last frame). Also the commands that
// repeat a call from a terminal: grpcurl and curl.

/** gRPC status code names, by number (the Connect protocol writes them in snake_case). */
export const CODE_NAMES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
  "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** "INVALID_ARGUMENT (3)" for Connect's "invalid_argument" ("canceled" is CANCELLED). */
export function codeLabel(code) {
  const name = code === "canceled" ? "CANCELLED" : String(code).toUpperCase();
  const number = CODE_NAMES.indexOf(name);
  return number < 0 ? name : `${name} (${number})`;
}

/**
 * Parses the metadata box: one `name: value` per line, blank lines skipped.
 * Returns `[[name, value], ...]` with lower-case names; throws on a line without a colon.
 */
export function parseMetadata(text) {
  const pairs = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`metadata line ${index + 1}: expected "name: value"`);
    pairs.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return pairs;
}

/** Request headers shared by every Connect call. */
function callHeaders({ token, timeoutMs, metadata }) {
  const headers = new Headers();
  if (token) headers.set("authorization", `Bearer ${token}`);
  if (timeoutMs) headers.set("connect-timeout-ms", String(timeoutMs));
  for (const [name, value] of metadata) headers.append(name, value);
  return headers;
}

/**
 * A unary call: `POST path` with the JSON `body` (text). Resolves to
 * `{headers, trailers, message}` or `{headers, trailers, error: {code, message, details}}`;
 * Connect sends trailers as `trailer-` headers.
 */
export async function unary({ path, body, token, timeoutMs, metadata, signal }) {
  const headers = callHeaders({ token, timeoutMs, metadata });
  headers.set("content-type", "application/json");
  headers.set("connect-protocol-version", "1");
  const response = await fetch(path, { method: "POST", headers, body, signal });
  const result = { headers: {}, trailers: {} };
  for (const [name, value] of response.headers) {
    if (name.startsWith("trailer-")) result.trailers[name.slice(8)] = [value];
    else result.headers[name] = [value];
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = null;
  }
  if (response.ok && json) {
    result.message = json;
  } else if (json && json.code) {
    result.error = json;
  } else {
    result.error = { code: "unknown", message: `HTTP ${response.status}: ${text.slice(0, 300)}` };
  }
  return result;
}

/** The WebSocket URL of a call: the query stands in for the headers a browser cannot set. */
export function socketUrl({ path, token, timeoutMs, metadata }) {
  const query = new URLSearchParams();
  if (token) query.set("token", token);
  if (timeoutMs) query.set("timeout_ms", String(timeoutMs));
  for (const [name, value] of metadata) {
    if (!name.startsWith("x-")) {
      throw new Error(`a browser's WebSocket carries only x-* metadata, not "${name}"`);
    }
    query.append(name, value);
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const search = query.toString();
  return `${scheme}//${location.host}${path}${search ? `?${search}` : ""}`;
}

/**
 * A streaming call over a WebSocket. `handlers` gets `onHeaders(headers)`,
 * `onMessage(message)` and, once, `onEnd({code, message, details, metadata})`.
 * Returns `{send(text), halfClose(), cancel()}`; messages sent before the socket opens
 * are queued.
 */
export function stream(options, handlers) {
  const socket = new WebSocket(socketUrl(options));
  const queue = [];
  let ended = false;
  const end = (status) => {
    if (ended) return;
    ended = true;
    handlers.onEnd(status);
  };
  const push = (text) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(text);
    else queue.push(text);
  };
  socket.onopen = () => {
    for (const text of queue.splice(0)) socket.send(text);
  };
  socket.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      end({ code: "internal", message: `the server sent a frame that is not JSON: ${event.data}` });
      return;
    }
    if (frame.headers) handlers.onHeaders(frame.headers);
    else if ("message" in frame) handlers.onMessage(frame.message);
    else if (frame.end) end(frame.end);
  };
  socket.onclose = (event) => {
    end({
      code: "unavailable",
      message: `the connection closed before the call ended (WebSocket close ${event.code})`,
    });
  };
  return {
    // An empty text frame is the half-close, so an empty message is sent as `{}`.
    send: (text) => push(text.trim() === "" ? "{}" : text),
    halfClose: () => push(""),
    cancel: () => {
      end({ code: "canceled", message: "cancelled from the page (the socket was closed)" });
      socket.close(1000, "cancelled");
    },
  };
}

/** Quotes `text` for a POSIX shell. */
export function shellQuote(text) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `{"a":1}` as one line, the way a command line takes it. */
function compact(text) {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text.trim();
  }
}

/**
 * The grpcurl command that repeats a call: `messages` are the request messages (JSON
 * text), one for unary and server-streaming methods. grpcurl finds the method through
 * reflection.
 */
export function grpcurlCommand({ method, messages, token, timeoutMs, metadata }) {
  const parts = ["grpcurl"];
  if (location.protocol !== "https:") parts.push("-plaintext");
  if (token) parts.push("-H", shellQuote(`authorization: Bearer ${token}`));
  for (const [name, value] of metadata) parts.push("-H", shellQuote(`${name}: ${value}`));
  if (timeoutMs) parts.push("-max-time", String(timeoutMs / 1000));
  parts.push("-d", shellQuote(messages.map(compact).join("\n")));
  parts.push(location.host, method.path.slice(1));
  return parts.join(" ");
}

/**
 * One Connect envelope as `printf` format text: flags 0, a 4-byte big-endian length, in
 * octal escapes (POSIX printf has no `\\x`: dash, Debian's sh, prints it as it is).
 */
function printfEnvelope(json) {
  const length = new TextEncoder().encode(json).length;
  const bytes = [0, length >>> 24, (length >>> 16) & 255, (length >>> 8) & 255, length & 255];
  const prefix = bytes.map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
  return prefix + json.replace(/\\/g, "\\\\").replace(/%/g, "%%");
}

/**
 * The curl command that repeats a call with the Connect protocol: a JSON body for a unary
 * method; for a stream, the request messages as `application/connect+json` envelopes
 * written by `printf`, and the replies as envelopes on standard output.
 */
export function curlCommand({ method, messages, token, timeoutMs, metadata }) {
  const url = `${location.protocol}//${location.host}${method.path}`;
  const headers = [];
  if (token) headers.push(`authorization: Bearer ${token}`);
  if (timeoutMs) headers.push(`connect-timeout-ms: ${timeoutMs}`);
  for (const [name, value] of metadata) headers.push(`${name}: ${value}`);
  const headerArgs = headers.map((h) => `-H ${shellQuote(h)}`);
  if (method.kind === "unary") {
    return ["curl", "-sS", "-H", shellQuote("content-type: application/json"), ...headerArgs,
      "-d", shellQuote(compact(messages[0] ?? "{}")), url].join(" ");
  }
  const envelopes = messages.map((m) => printfEnvelope(compact(m))).join("");
  const http2 = method.kind === "server_streaming" ? [] :
    [location.protocol === "https:" ? "--http2" : "--http2-prior-knowledge"];
  return [`printf ${shellQuote(envelopes)} |`, "curl", "-sS", ...http2,
    "-H", shellQuote("content-type: application/connect+json"), ...headerArgs,
    "--data-binary", "@-", "--output", "-", url].join(" ");
}
