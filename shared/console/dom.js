// Building the page from elements and text nodes, never from markup strings: every value
// from the API becomes a text node, so a tenant name or an error detail can never be markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: h("button", {type: "button", onclick: f}, "Label"). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element (the activity chart). */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

/** "2026-12-03 10:42 UTC" (what an operator pastes into a query), or a dash. */
export function formatTime(iso) {
  if (!iso) return "—";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return String(iso);
  return at.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** "4 min ago", "3 h ago", "2 days ago"; a dash for never. */
export function ago(iso, now = Date.now()) {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (Number.isNaN(seconds)) return String(iso);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  const days = Math.floor(seconds / 86400);
  return `${days} day${days === 1 ? "" : "s"} ago`;
}

/** A <time> showing how long ago, with the exact time as its tooltip and datetime. */
export function timeAgo(iso, none = "never") {
  if (!iso) return h("span", { class: "muted" }, none);
  return h("time", { datetime: iso, title: formatTime(iso) }, ago(iso));
}

export function percent(rate) {
  if (rate === null || rate === undefined) return "—";
  const value = Number(rate) * 100;
  if (value === 0) return "0%";
  return value < 0.1 ? "<0.1%" : `${value < 10 ? value.toFixed(1) : Math.round(value)}%`;
}

export function count(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

/** Copies text; falls back to selecting it when the Clipboard API is refused (plain http). */
export async function copyText(text, field) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (field) {
      field.focus();
      field.select();
    }
    return false;
  }
}
