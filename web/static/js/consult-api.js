// The consult HTTP API (docs/CARE.md, "Consults"): JSON over fetch with the Bearer token.
import { CallError, describeError } from "./errors.js";

const CONSULT_MESSAGES = {
  consult_not_found: "This consult does not exist, or you do not take part in it.",
  bad_state: "The consult has moved on (started, ended or cancelled meanwhile). The page is up to date again.",
  permission_denied: "Your role is not allowed to do that in this consult.",
  user_not_found: "Nobody with that sign-in name or user id has an active account here.",
};

/** A message for a consult error code. */
export function describeConsultError(code, serverMessage) {
  return CONSULT_MESSAGES[code] || describeError(code, serverMessage);
}

/** One request to /api/v1; resolves with the JSON body or throws a CallError with the stable code. */
export async function apiRequest(token, method, path, body) {
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/api/v1${path}`, init);
  } catch {
    throw new CallError("network", describeError("network"));
  }
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok || !data || data.error) {
    const err = (data && data.error) || {};
    const code = err.code || `http_${res.status}`;
    // bad_request carries the server's explanation ("'patient' is required ...")
    const message = code === "bad_request" && err.message ? err.message : describeConsultError(code, err.message);
    throw new CallError(code, message);
  }
  return data;
}

/** The consults API for one signed-in user. */
export class ConsultApi {
  constructor(token) {
    this.token = token;
  }

  list(query = {}) {
    const q = new URLSearchParams(query).toString();
    return apiRequest(this.token, "GET", `/consults${q ? `?${q}` : ""}`).then((r) => r.consults || []);
  }

  get(id) {
    return apiRequest(this.token, "GET", `/consults/${encodeURIComponent(id)}`);
  }

  create(body) {
    return apiRequest(this.token, "POST", "/consults", body);
  }

  action(id, name, body = {}) {
    return apiRequest(this.token, "POST", `/consults/${encodeURIComponent(id)}/${name}`, body);
  }
}
