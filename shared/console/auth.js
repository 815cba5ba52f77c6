// Who is signed in, and the Bearer token the management API gets.
//
// - Development credential (`make run` prints it, adm_...): kept in sessionStorage, so it goes
//   when the tab closes, and sent as is.
// - Entra ID: MSAL.js (vendored, vendor/msal-browser-*.min.js), authorization code flow with
//   PKCE by full-page redirect, tokens for the API's own scope cached in sessionStorage.
//   docs/console.md explains why MSAL rather than the platform's built-in authentication.

const MSAL_SCRIPT = "/console/vendor/msal-browser-5.30.0.min.js";
const DEV_KEY = "scim-console.development-credential";
const METHOD_KEY = "scim-console.method";

let entra = null; // {config, app, account} once MSAL is loaded

export function method() {
  return sessionStorage.getItem(METHOD_KEY);
}

export function signInWithCredential(credential) {
  sessionStorage.setItem(DEV_KEY, credential.trim());
  sessionStorage.setItem(METHOD_KEY, "development");
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(script);
  });
}

/** Loads MSAL and finishes a sign-in redirect if this page load is its return. */
export async function startEntra(config) {
  if (!window.msal) await loadScript(MSAL_SCRIPT);
  const app = new window.msal.PublicClientApplication({
    auth: {
      clientId: config.client_id,
      authority: config.authority,
      redirectUri: `${location.origin}/console/`,
      postLogoutRedirectUri: `${location.origin}/console/`,
    },
    cache: { cacheLocation: "sessionStorage" },
  });
  await app.initialize();
  const result = await app.handleRedirectPromise();
  const account = result?.account || app.getAllAccounts()[0] || null;
  entra = { config, app, account };
  if (account) {
    app.setActiveAccount(account);
    sessionStorage.setItem(METHOD_KEY, "entra");
  }
  return account;
}

export async function signInWithMicrosoft() {
  if (!entra) throw new Error("Microsoft sign-in is not configured for this deployment.");
  await entra.app.loginRedirect({ scopes: entra.config.scopes, prompt: "select_account" });
}

/** The Bearer token for /manage/v1, or null when nobody is signed in. */
export async function token() {
  const how = method();
  if (how === "development") return sessionStorage.getItem(DEV_KEY);
  if (how === "entra" && entra?.account) {
    const request = { scopes: entra.config.scopes, account: entra.account };
    try {
      return (await entra.app.acquireTokenSilent(request)).accessToken;
    } catch (error) {
      if (error instanceof window.msal.InteractionRequiredAuthError) {
        await entra.app.acquireTokenRedirect(request);
      }
      throw error;
    }
  }
  return null;
}

export async function signOut() {
  const how = method();
  sessionStorage.removeItem(DEV_KEY);
  sessionStorage.removeItem(METHOD_KEY);
  if (how === "entra" && entra?.account) {
    await entra.app.logoutRedirect({ account: entra.account });
  }
}
