// The tenant list with each tenant's health, and the "New tenant" form.

import { api } from "./api.js";
import { count, h, percent, timeAgo } from "./dom.js";
import { badge, busy, errorBox, shownOnce, stateBadge, uid } from "./ui.js";

// Entra's cycles meet some refusals in normal running (a 404 for a user not yet here, a 409
// on a duplicate): only a noticeable share of failing requests is worth a warning.
const ERROR_RATE_WARNING = 0.05;

/** The health verdict of one tenant as a badge; the quarantine reason as visible text. */
export function healthBadge(health) {
  if (!health) return badge("Unknown", "muted");
  if (health.likely_quarantined) return badge("Likely quarantined", "danger");
  if (!health.requests_24h) return badge("No traffic (24 h)", "muted");
  if ((health.error_rate || 0) >= ERROR_RATE_WARNING) return badge("Failing requests", "warning");
  return badge("Healthy", "ok");
}

function cell(label, ...content) {
  return h("td", { "data-label": label }, ...content);
}

function numberCell(label, value) {
  return h("td", { "data-label": label, class: "num" }, value);
}

function tenantRow(tenant) {
  const health = tenant.health || {};
  const feed = health.feed || {};
  return h("tr", {},
    h("th", { scope: "row", "data-label": "Tenant" },
      h("a", { href: `#/tenants/${encodeURIComponent(tenant.tenant_id)}` }, tenant.name),
      h("div", { class: "mono muted small" }, tenant.tenant_id)),
    cell("State", stateBadge(tenant.state)),
    cell("Health", healthBadge(tenant.health),
      health.likely_quarantined && health.quarantine_reason
        ? h("div", { class: "reason" }, health.quarantine_reason) : null),
    cell("Last Entra call", timeAgo(health.last_entra_call)),
    numberCell("Requests, 24 h", count(health.requests_24h)),
    numberCell("Errors, 24 h", count(health.errors_24h)),
    numberCell("401 rate", percent(health.unauthorized_rate)),
    cell("Feed", `${count(feed.backlog)} pending`,
      feed.dead_letters ? h("div", {}, badge(`${feed.dead_letters} dead`, "danger")) : null));
}

export async function tenantList(main) {
  const heading = h("h1", { tabindex: "-1" }, "Tenants");
  const body = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading tenants…"));
  const refresh = h("button", { type: "button", class: "button secondary" }, "Refresh");
  main.replaceChildren(
    h("div", { class: "page-head" }, heading,
      h("div", { class: "actions" }, refresh,
        h("a", { class: "button", href: "#/tenants/new" }, "New tenant"))),
    h("p", { class: "lede" },
      "Each tenant is one Entra provisioning job: its Tenant URL and Secret Token go into the enterprise application's Provisioning page."),
    body);

  async function load() {
    try {
      const tenants = await api("GET", "/tenants?health=true");
      if (!tenants.length) {
        body.replaceChildren(h("div", { class: "card empty" },
          h("p", {}, "No tenants yet."),
          h("a", { class: "button", href: "#/tenants/new" }, "Create the first tenant")));
        return;
      }
      const captionId = uid("tenants");
      body.replaceChildren(h("div", { class: "table-wrap" },
        h("table", { class: "tenants responsive", "aria-describedby": captionId },
          h("caption", { id: captionId, class: "sr-only" },
            "Tenants with their health over the last 24 hours"),
          h("thead", {}, h("tr", {},
            [["Tenant"], ["State"], ["Health"], ["Last Entra call"], ["Requests, 24 h", "num"],
              ["Errors, 24 h", "num"], ["401 rate", "num"], ["Feed"]]
              .map(([t, c]) => h("th", { scope: "col", class: c || null }, t)))),
          h("tbody", {}, tenants.map(tenantRow)))));
    } catch (error) {
      body.replaceChildren(errorBox(error, "Could not list the tenants"));
    }
  }
  refresh.addEventListener("click", () => busy(refresh, load));
  await load();
  return heading;
}

export function newTenant(main) {
  const heading = h("h1", { tabindex: "-1" }, "New tenant");
  const nameId = uid("name");
  const hintId = uid("hint");
  const name = h("input", {
    id: nameId, name: "name", type: "text", required: true, maxlength: "100",
    autocomplete: "off", "aria-describedby": hintId,
  });
  const submit = h("button", { type: "submit", class: "button" }, "Create tenant");
  const outcome = h("div", {});
  const form = h("form", { class: "card form", novalidate: true },
    h("label", { for: nameId }, "Tenant name"),
    name,
    h("p", { id: hintId, class: "hint" },
      "For you, not for Entra: the customer or environment this provisioning job is for (1 to 100 characters)."),
    h("div", { class: "actions" }, submit,
      h("a", { class: "button secondary", href: "#/tenants" }, "Cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    outcome.replaceChildren();
    if (!name.value.trim()) {
      outcome.replaceChildren(errorBox({ detail: "Give the tenant a name." }, "Not created"));
      name.focus();
      return;
    }
    await busy(submit, async () => {
      try {
        const made = await api("POST", "/tenants", { name: name.value.trim() });
        form.hidden = true;
        const panel = shownOnce({
          title: `Tenant “${made.name}” created`,
          fields: [["Tenant URL", made.tenant_url, false], ["Secret Token", made.token, true]],
          after: h("div", { class: "actions" },
            h("a", { class: "button", href: `#/tenants/${encodeURIComponent(made.tenant_id)}` },
              "Open the tenant"),
            h("a", { class: "button secondary", href: "#/tenants" }, "Back to tenants")),
        });
        outcome.replaceChildren(panel);
        panel.focus();
      } catch (error) {
        outcome.replaceChildren(errorBox(error, "Not created"));
      }
    });
  });
  main.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/tenants" }, "Tenants"), " / New tenant"),
    heading,
    h("p", { class: "lede" },
      "Creates a tenant and its first Secret Token. Paste both into the Entra enterprise application (Provisioning → Admin Credentials), then Test Connection."),
    form, outcome);
  return heading;
}
