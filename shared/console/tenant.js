// One tenant: its health, activity chart, Secret Tokens, change-feed status with dead letters,
// undeclared attributes, and disable/enable.

import { api, enc } from "./api.js";
import { activityChart } from "./chart.js";
import { count, formatTime, h, percent, timeAgo } from "./dom.js";
import { healthBadge } from "./tenants.js";
import { busy, confirmAction, copyField, errorBox, notice, shownOnce, stateBadge, uid } from "./ui.js";

function section(title, ...content) {
  const id = uid("section");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...content);
}

function stat(label, value, note) {
  return h("div", { class: "stat" },
    h("dt", {}, label), h("dd", {}, value, note ? h("div", { class: "small muted" }, note) : null));
}

/** Runs the loaders side by side; a failing one shows its error in its own section only. */
async function settle(loaders) {
  const names = Object.keys(loaders);
  const results = await Promise.allSettled(names.map((n) => loaders[n]()));
  return Object.fromEntries(names.map((n, i) => [n, results[i]]));
}

function healthSection(health) {
  const feed = health.feed || {};
  return section("Health (last 24 hours)",
    h("dl", { class: "stats" },
      stat("Verdict", healthBadge(health)),
      stat("Last Entra call", timeAgo(health.last_entra_call),
        health.last_entra_call ? formatTime(health.last_entra_call) : null),
      stat("Requests", count(health.requests_24h)),
      stat("Errors", count(health.errors_24h), `${percent(health.error_rate)} of requests`),
      stat("401 rate", percent(health.unauthorized_rate), `${count(health.unauthorized_24h)} refused`),
      stat("Feed backlog", count(feed.backlog))),
    health.likely_quarantined
      ? h("div", { class: "alert error", role: "note" },
        h("strong", {}, "Likely quarantined by Entra. "),
        health.quarantine_reason
          || "Entra stopped calling after repeated failures. Fix the cause, then restart provisioning in the enterprise application.")
      : null);
}

function tokensSection(tenantId, tokens, rerender) {
  const result = h("div", { "aria-live": "polite" });
  const add = h("button", { type: "button", class: "button" }, "Add token");
  add.addEventListener("click", () => busy(add, async () => {
    result.replaceChildren();
    try {
      const made = await api("POST", `/tenants/${enc(tenantId)}/tokens`);
      const panel = shownOnce({
        title: "New Secret Token",
        fields: [["Secret Token", made.token, true]],
        after: h("p", { class: "small" },
          "Put it into Entra (Provisioning → Admin Credentials → Secret Token), Test Connection, then revoke the old token."),
      });
      await rerender({ keep: panel });
    } catch (error) {
      result.replaceChildren(errorBox(error, "No token added"));
    }
  }));
  const rows = tokens.map((t) => {
    const revoke = h("button", {
      type: "button", class: "button danger small", "aria-label": `Revoke token ${t.prefix}…`,
    }, "Revoke");
    revoke.addEventListener("click", async () => {
      const sure = await confirmAction({
        title: "Revoke this token?",
        body: `Token ${t.prefix}… stops working: at once on this instance, within 30 seconds on the others. An Entra job still using it fails until it has another token.`,
        confirm: "Revoke token",
      });
      if (!sure) return revoke.focus();
      await busy(revoke, async () => {
        try {
          await api("DELETE", `/tenants/${enc(tenantId)}/tokens/${enc(t.token_id)}`);
          await rerender({ message: `Token ${t.prefix}… revoked.` });
        } catch (error) {
          result.replaceChildren(errorBox(error, "Not revoked"));
        }
      });
    });
    return h("tr", {},
      h("th", { scope: "row", "data-label": "Token" }, h("span", { class: "mono" }, `${t.prefix}…`)),
      h("td", { "data-label": "Created" }, timeAgo(t.created)),
      h("td", { "data-label": "Last used" }, timeAgo(t.last_used)),
      h("td", { class: "row-actions" }, revoke));
  });
  return section("Secret Tokens",
    h("p", { class: "muted" }, "At most two at a time, so a token can be rotated without downtime."),
    tokens.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "responsive tokens" },
        h("thead", {}, h("tr", {}, ["Token", "Created", "Last used", ""].map((c) =>
          h("th", { scope: "col" }, c || h("span", { class: "sr-only" }, "Actions"))))),
        h("tbody", {}, rows)))
      : h("p", {}, "No tokens: Entra cannot reach this tenant until you add one."),
    h("div", { class: "actions" }, add),
    result);
}

function feedSection(tenantId, health, deadLetters, rerender) {
  const feed = health?.feed || {};
  const result = h("div", { "aria-live": "polite" });
  async function replay(button, body, what) {
    await busy(button, async () => {
      try {
        const done = await api("POST", `/tenants/${enc(tenantId)}/dead-letters/replay`, body);
        await rerender({ message: `${done.replayed} ${what} back in the outbox for delivery.` });
      } catch (error) {
        result.replaceChildren(errorBox(error, "Not replayed"));
      }
    });
  }
  const all = h("button", { type: "button", class: "button secondary" }, "Replay all");
  all.addEventListener("click", () => replay(all, { all: true }, "dead letter(s)"));
  const rows = deadLetters.map((d) => {
    const one = h("button", {
      type: "button", class: "button secondary small", "aria-label": `Replay event ${d.event_id}`,
    }, "Replay");
    one.addEventListener("click", () => replay(one, { event_ids: [d.event_id] }, "event"));
    return h("tr", {},
      h("th", { scope: "row", "data-label": "Event" }, h("span", { class: "mono small" }, d.event_id)),
      h("td", { "data-label": "Type" }, d.type),
      h("td", { "data-label": "Resource" }, h("span", { class: "mono small" }, d.resource_id || "—")),
      h("td", { "data-label": "Attempts", class: "num" }, String(d.attempts)),
      h("td", { "data-label": "Last error" }, d.error || "—"),
      h("td", { "data-label": "Dead since" }, timeAgo(d.dead_at)),
      h("td", { class: "row-actions" }, one));
  });
  return section("Change feed",
    h("dl", { class: "stats" },
      stat("Backlog", count(feed.backlog), "events waiting for delivery"),
      stat("Oldest pending", timeAgo(feed.oldest_pending, "none"),
        feed.oldest_pending ? formatTime(feed.oldest_pending) : null),
      stat("Dead letters", count(feed.dead_letters ?? deadLetters.length)),
      stat("Deployment lane", `${count(feed.deployment_backlog)} pending`,
        `${count(feed.deployment_dead_letters)} dead`)),
    h("h3", {}, "Dead letters"),
    deadLetters.length
      ? h("div", {},
        h("div", { class: "table-wrap" }, h("table", { class: "responsive dead" },
          h("thead", {}, h("tr", {}, ["Event", "Type", "Resource", "Attempts", "Last error", "Dead since", ""]
            .map((c) => h("th", { scope: "col" }, c || h("span", { class: "sr-only" }, "Actions"))))),
          h("tbody", {}, rows))),
        h("div", { class: "actions" }, all))
      : h("p", { class: "muted" }, "None: every event was delivered or is still being retried."),
    result);
}

function undeclaredSection(found) {
  const list = Array.isArray(found) ? found : found?.undeclared || [];
  const field = (a, snake, camel) => a[snake] ?? a[camel];
  return section("Undeclared attributes",
    h("p", { class: "muted" },
      "Attributes Entra sent that no schema of this tenant declares. Declare them (a schema extension) to validate and filter on them."),
    list.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "responsive" },
        h("thead", {}, h("tr", {}, ["Attribute", "Resource type", "Seen", "Last seen"].map((c) =>
          h("th", { scope: "col" }, c)))),
        h("tbody", {}, list.map((a) => h("tr", {},
          h("th", { scope: "row", "data-label": "Attribute" }, h("span", { class: "mono small" }, a.path)),
          h("td", { "data-label": "Resource type" }, field(a, "resource_type", "resourceType") || "—"),
          h("td", { "data-label": "Seen", class: "num" }, count(a.count)),
          h("td", { "data-label": "Last seen" }, timeAgo(field(a, "last_seen", "lastSeen"))))))))
      : h("p", {}, "None recorded."));
}

function stateControl(tenant, rerender) {
  const disabled = tenant.state !== "active";
  const button = h("button", { type: "button", class: disabled ? "button" : "button danger" },
    disabled ? "Enable tenant" : "Disable tenant");
  button.disabled = tenant.state === "deleting";
  button.addEventListener("click", async () => {
    const sure = await confirmAction(disabled
      ? { title: "Enable this tenant?", body: "Entra's requests are accepted again.", confirm: "Enable", danger: false }
      : {
        title: "Disable this tenant?",
        body: "Every SCIM request for it is refused until you enable it again; nothing is deleted. Entra will report failures and may quarantine the job.",
        confirm: "Disable tenant",
      });
    if (!sure) return button.focus();
    await busy(button, async () => {
      try {
        await api("POST", `/tenants/${enc(tenant.tenant_id)}/${disabled ? "enable" : "disable"}`);
        await rerender({ message: disabled ? "Tenant enabled." : "Tenant disabled." });
      } catch (error) {
        button.after(errorBox(error, "Not changed"));
      }
    });
  });
  return button;
}

export async function tenantPage(main, tenantId) {
  const heading = h("h1", { tabindex: "-1" }, "Tenant");
  main.replaceChildren(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/tenants" }, "Tenants"), " / ", tenantId),
    heading, h("p", { class: "muted" }, "Loading…"));

  async function render({ message, keep } = {}) {
    const t = `/tenants/${enc(tenantId)}`;
    const got = await settle({
      tenant: () => api("GET", t),
      health: () => api("GET", `${t}/health`),
      activity: () => api("GET", `${t}/activity?hours=24&bucket=60`),
      tokens: () => api("GET", `${t}/tokens`),
      dead: () => api("GET", `${t}/dead-letters?lane=tenant`),
      undeclared: () => api("GET", `${t}/undeclared`),
    });
    if (got.tenant.status === "rejected") {
      main.replaceChildren(
        h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/tenants" }, "Tenants")),
        heading, errorBox(got.tenant.reason, "Could not open the tenant"));
      return;
    }
    const tenant = got.tenant.value;
    heading.replaceChildren(tenant.name, " ", stateBadge(tenant.state));
    const part = (key, build, what) => (got[key].status === "fulfilled"
      ? build(got[key].value) : section(what, errorBox(got[key].reason, `Could not load ${what.toLowerCase()}`)));
    // After an action the page is drawn anew: focus goes to what it produced (the outcome, or
    // a new secret) so that keyboard users continue from there.
    const status = message ? notice(message) : null;
    if (status) status.tabIndex = -1;
    const parts = [
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/tenants" }, "Tenants"), " / ", tenant.name),
      h("div", { class: "page-head" }, heading, h("div", { class: "actions" }, stateControl(tenant, render))),
      h("div", { class: "meta" },
        copyField("Tenant URL", tenant.tenant_url),
        h("p", { class: "small muted" }, "Tenant ID ", h("span", { class: "mono" }, tenant.tenant_id),
          ` · created ${formatTime(tenant.created)}`)),
      status,
      keep || null,
      part("health", healthSection, "Health"),
      part("activity", (a) => section("Activity (last 24 hours)", activityChart(a, `activity-${tenantId}`)), "Activity"),
      part("tokens", (list) => tokensSection(tenantId, list, render), "Secret Tokens"),
      got.dead.status === "fulfilled"
        ? feedSection(tenantId, got.health.value, got.dead.value, render)
        : section("Change feed", errorBox(got.dead.reason, "Could not load the dead letters")),
      part("undeclared", undeclaredSection, "Undeclared attributes")];
    main.replaceChildren(...parts.filter(Boolean));
    (keep || status)?.focus();
  }
  await render();
  return heading;
}
