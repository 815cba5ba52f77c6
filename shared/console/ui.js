// Pieces every page uses: error text, status messages, the confirmation dialog, and the
// "shown once" panel for secrets.

import { copyText, h } from "./dom.js";

let ids = 0;
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** The API's refusal as text, in a live region so screen readers announce it. */
export function errorBox(error, what) {
  const detail = error?.detail || error?.message || String(error);
  return h("div", { class: "alert error", role: "alert" },
    h("strong", {}, what ? `${what}: ` : "Error: "), detail);
}

export function notice(text, kind = "ok") {
  return h("div", { class: `alert ${kind}`, role: "status" }, text);
}

/** A modal confirmation (<dialog>: the page behind is inert, Escape cancels). */
export function confirmAction({ title, body, confirm, danger = true }) {
  return new Promise((resolve) => {
    const titleId = uid("dialog-title");
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId },
      h("form", { method: "dialog" },
        h("h2", { id: titleId }, title),
        h("p", {}, body),
        h("div", { class: "actions" },
          h("button", { type: "submit", value: "cancel", class: "button secondary", autofocus: true }, "Cancel"),
          h("button", { type: "submit", value: "confirm", class: danger ? "button danger" : "button" }, confirm))));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Read-only field + copy button (the Tenant URL, a new Secret Token). */
export function copyField(label, value, { secret = false } = {}) {
  const id = uid("copy");
  const input = h("input", {
    id, type: "text", readonly: true, value, spellcheck: "false", autocomplete: "off",
    class: secret ? "mono secret" : "mono",
  });
  const status = h("span", { class: "copy-status", role: "status" });
  const button = h("button", {
    type: "button", class: "button secondary small", "aria-label": `Copy ${label}`,
    onclick: async () => {
      const copied = await copyText(value, input);
      status.textContent = copied ? "Copied" : "Selected: press Ctrl+C to copy";
    },
  }, "Copy");
  return h("div", { class: "copy-field" },
    h("label", { for: id }, label),
    h("div", { class: "copy-row" }, input, button),
    status);
}

/** A secret the API returns once: a clear warning and copy buttons. */
export function shownOnce({ title, fields, after }) {
  const titleId = uid("once");
  return h("section", { class: "card once", "aria-labelledby": titleId, tabindex: "-1" },
    h("h2", { id: titleId }, title),
    h("p", { class: "alert warning", role: "note" },
      h("strong", {}, "Shown once. "),
      "Copy the Secret Token now and keep it somewhere safe: the connector stores only its digest and cannot show it again."),
    fields.map(([label, value, secret]) => copyField(label, value, { secret })),
    after || null);
}

export function badge(text, kind, title) {
  return h("span", { class: `badge ${kind}`, title: title || null }, text);
}

export function stateBadge(state) {
  const kind = { active: "ok", disabled: "muted", deleting: "danger" }[state] || "muted";
  return badge(state ? state[0].toUpperCase() + state.slice(1) : "Unknown", kind);
}

/** A button that shows it is working and cannot be pressed twice. */
export async function busy(button, work) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}
