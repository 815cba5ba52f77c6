// The management API, /manage/v1: JSON in and out, the signed-in credential as a Bearer
// token, refusals turned into ApiError carrying the API's own `detail` text.

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code || "error";
    this.detail = detail || `The management API answered HTTP ${status}.`;
  }
}

let bearer = async () => null;
let onUnauthorized = () => {};

/** Where the Bearer token comes from, and what to do when the API says it is no good. */
export function configure({ token, unauthorized }) {
  bearer = token;
  onUnauthorized = unauthorized;
}

/** One call; `signingIn` marks the sign-in check, whose 401 is the form's to show. */
export async function api(method, path, body, { signingIn = false } = {}) {
  const headers = { Accept: "application/json" };
  const token = await bearer();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/manage/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "unreachable", "The management API could not be reached. Is the app running?");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data?.error, data?.detail);
    if (response.status === 401 && !signingIn) onUnauthorized(error);
    throw error;
  }
  return data;
}

export const enc = encodeURIComponent;
