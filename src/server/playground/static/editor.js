// The request editor: JSON checking, and the table of the input type's fields (types,
// comments, enum values that set the field when clicked).

/** Creates an element with attributes and children (strings become text nodes). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
    else if (name === "style") node.style.cssText = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/**
 * A proto comment as prose: its lines were wrapped for the source file, so single line
 * breaks become spaces; blank lines (paragraphs) and list items ("- ") stay.
 */
export function prose(comment) {
  return (comment ?? "").replace(/([^\n])\n(?!\n|\s*- )/g, "$1 ");
}

/** Pretty JSON text of a compact example. */
export function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/**
 * Checks the editor's text: `{ok: true, value}` for one JSON object, or
 * `{ok: false, error}` saying what is wrong.
 */
export function check(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `Not JSON: ${err.message}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, error: "A request message is a JSON object: {...}" };
  }
  return { ok: true, value };
}

/** The type of a field as a person reads it: "repeated double", "map<string, double>". */
function typeText(field) {
  if (field.label === "map") return `map<${field.key}, ${field.value}>`;
  return field.label === "repeated" ? `repeated ${field.type}` : field.type;
}

/** Sets `value` at `path` (JSON names) in the editor's message, creating objects on the way. */
function setAt(editor, path, value) {
  const result = check(editor.value);
  const root = result.ok ? result.value : {};
  let node = root;
  for (const name of path.slice(0, -1)) {
    if (typeof node[name] !== "object" || node[name] === null || Array.isArray(node[name])) {
      node[name] = {};
    }
    node = node[name];
  }
  node[path[path.length - 1]] = value;
  editor.value = JSON.stringify(root, null, 2);
  editor.dispatchEvent(new Event("input"));
}

/**
 * Renders the fields of message `typeName` into `container`: one row per field, nested
 * message types below their field (each type once, four levels deep at most).
 */
export function renderFields(container, schema, typeName, editor) {
  container.replaceChildren();
  const seen = new Set();
  const table = (name, path, depth) => {
    const message = schema.messages[name];
    if (!message || seen.has(name) || depth > 4) return null;
    seen.add(name);
    const rows = [];
    const nested = [];
    for (const field of message.fields) {
      const enumType = schema.enums[field.type] ?? schema.enums[field.value];
      // Enum values set a field in place; not inside a list or a map.
      const settable = path !== null && field.label !== "repeated" && field.label !== "map";
      const fieldPath = settable ? [...path, field.jsonName] : null;
      let values = null;
      if (enumType) {
        values = el("div", { class: "enum-values" }, enumType.values.map((v) =>
          settable
            ? el("button", {
              type: "button", class: "chip", title: v.comment || `set ${field.jsonName} to ${v.name}`,
              onclick: () => setAt(editor, fieldPath, v.name),
            }, v.name)
            : el("span", { class: "chip", title: v.comment }, v.name)));
      }
      const oneof = field.oneof ? el("span", { class: "muted" }, ` (one of ${field.oneof})`) : null;
      rows.push(el("tr", {},
        el("td", {}, el("code", {}, field.jsonName), oneof),
        el("td", {}, el("code", { class: "type" }, typeText(field))),
        el("td", {}, field.comment ? el("div", { class: "comment" }, prose(field.comment)) : null, values)));
      const child = field.label === "map" ? field.value : field.type;
      if (schema.messages[child] && !seen.has(child)) {
        nested.push([child, fieldPath, depth + 1]);
      }
    }
    const section = el("div", { class: "fields-table" },
      depth > 0 ? el("h4", {}, el("code", {}, name), message.comment ? el("span", { class: "comment" }, ` ${prose(message.comment)}`) : null) : null,
      rows.length ? el("table", {}, el("tbody", {}, rows)) : el("p", { class: "muted" }, "No fields: send {}."));
    container.append(section);
    for (const [child, childPath, childDepth] of nested) table(child, childPath, childDepth);
    return section;
  };
  table(typeName, [], 0);
}
