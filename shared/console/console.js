// Entry point: reads /console/config.json, signs in (development credential or Entra), then
// routes #/tenants, #/tenants/new and #/tenants/{id} to their pages.

import { ApiError, api, configure } from "./api.js";
import * as auth from "./auth.js";
import { h } from "./dom.js";
import { tenantPage } from "./tenant.js";
import { newTenant, tenantList } from "./tenants.js";
import { errorBox, uid } from "./ui.js";

const main = document.getElementById("main");
const who = document.getElementById("who");
const nav = document.getElementById("nav");
let config = { entra: null, development_credential: false };
let signInMessage = null; // {error, what}: why the sign-in page is shown again

function showSignedIn(identity) {
  document.getElementById("who-name").textContent = identity.subject;
  document.getElementById("who-method").textContent =
    identity.method === "development" ? "development credential" : "Microsoft Entra ID";
  who.hidden = false;
  nav.hidden = false;
}

function signInPage() {
  who.hidden = true;
  nav.hidden = true;
  const heading = h("h1", { tabindex: "-1" }, "Sign in");
  const parts = [];
  if (signInMessage) parts.push(errorBox(signInMessage.error, signInMessage.what));
  if (config.entra) {
    const button = h("button", { type: "button", class: "button microsoft" }, "Sign in with Microsoft");
    const failure = h("div", {});
    button.addEventListener("click", async () => {
      try {
        await auth.signInWithMicrosoft();
      } catch (error) {
        failure.replaceChildren(errorBox(error, "Microsoft sign-in failed"));
      }
    });
    parts.push(h("div", { class: "card" },
      h("p", {}, `Use your work account. You need the ${config.entra.role} app role on this deployment's app registration.`),
      button, failure));
  }
  if (config.development_credential) {
    const id = uid("credential");
    const hint = uid("hint");
    const input = h("input", {
      id, name: "credential", type: "password", required: true, autocomplete: "off",
      spellcheck: "false", "aria-describedby": hint, class: "mono",
    });
    const failure = h("div", {});
    const form = h("form", { class: "card form" },
      h("label", { for: id }, "Development credential"),
      input,
      h("p", { id: hint, class: "hint" },
        "The adm_… credential that `make run` printed. It lives in this tab only (session storage) and works only on a local run."),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "button" }, "Sign in")),
      failure);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      failure.replaceChildren();
      if (!input.value.trim()) {
        failure.replaceChildren(errorBox({ detail: "Paste the credential first." }, "Not signed in"));
        input.focus();
        return;
      }
      auth.signInWithCredential(input.value);
      try {
        const identity = await api("GET", "/whoami", undefined, { signingIn: true });
        signInMessage = null;
        showSignedIn(identity);
        if (!location.hash || location.hash === "#/sign-in") location.hash = "#/tenants";
        else route();
      } catch (error) {
        await auth.signOut();
        failure.replaceChildren(errorBox(error, "Not signed in"));
        input.select();
        input.focus();
      }
    });
    parts.push(form);
  }
  if (!config.entra && !config.development_credential) {
    parts.push(h("div", { class: "card" }, h("p", {},
      "No sign-in method is configured. In Azure, set SCIM_MANAGE_ENTRA_TENANT_ID and SCIM_MANAGE_AUDIENCE (docs/console.md); locally, start the app with `make run`.")));
  }
  main.replaceChildren(h("div", { class: "sign-in" }, heading,
    h("p", { class: "lede" }, "Manage the connector's tenants, tokens and change feed."), ...parts));
  return heading;
}

async function route() {
  if (!auth.method()) return focus(signInPage());
  const path = (location.hash || "#/tenants").slice(1);
  const match = path.match(/^\/tenants\/([^/]+)$/);
  let heading;
  if (path === "/tenants/new") heading = newTenant(main);
  else if (match) heading = await tenantPage(main, decodeURIComponent(match[1]));
  else heading = await tenantList(main);
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === `#${path}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  focus(heading);
}

let firstView = true;

function focus(heading) {
  // Moving focus to the new page's heading tells screen readers the view changed. Not on the
  // page's first view (the document starts at the top, skip link first), and focus the user
  // already put somewhere (the skip link, the header) stays where it is.
  const active = document.activeElement;
  const free = !active || active === document.body || active === main || !active.isConnected;
  if (heading && free && !firstView) heading.focus({ preventScroll: true });
  firstView = false;
}

async function boot() {
  try {
    const response = await fetch("/console/config.json", { cache: "no-store" });
    config = await response.json();
  } catch {
    main.replaceChildren(errorBox({ detail: "Could not read /console/config.json." }, "Console unavailable"));
    return;
  }
  configure({
    token: auth.token,
    unauthorized: async (error) => {
      signInMessage = { error, what: "Signed out" };
      await auth.signOut();
      route();
    },
  });
  if (config.entra) {
    try {
      await auth.startEntra(config.entra);
    } catch (error) {
      signInMessage = { error, what: "Microsoft sign-in did not complete" };
    }
  }
  document.getElementById("sign-out").addEventListener("click", async () => {
    signInMessage = null;
    await auth.signOut();
    location.hash = "";
    route();
  });
  window.addEventListener("hashchange", () => {
    main.focus({ preventScroll: true });
    route();
  });
  if (auth.method()) {
    try {
      showSignedIn(await api("GET", "/whoami"));
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) return notAllowed(error);
      if (!(error instanceof ApiError) || error.status !== 401) {
        main.replaceChildren(errorBox(error, "The management API is not answering"));
        return;
      }
    }
  }
  route();
}

/** Signed in, but without the app role: the API's 403 says which role and how to get it. */
function notAllowed(error) {
  const heading = h("h1", { tabindex: "-1" }, "Not allowed");
  const again = h("button", { type: "button", class: "button secondary" }, "Sign out");
  again.addEventListener("click", async () => {
    await auth.signOut();
    location.hash = "";
    route();
  });
  main.replaceChildren(h("div", { class: "sign-in" }, heading,
    errorBox(error, "Signed in, but the management API refused"),
    h("div", { class: "actions" }, again)));
}

boot();
