// Calls to /api with the session's bearer token; one refresh and retry when it has expired.
import { ApiError, jsonRequest, readJson } from "./http";
import { bearer, refresh, sessionExpired } from "./session";

const RETRY_CODES = new Set(["token_expired", "token_revoked", "invalid_token"]);

export interface Call {
  body?: unknown;
  headers?: Record<string, string>;
}

async function send(method: string, path: string, call: Call, token: string | null): Promise<Response> {
  const headers = { ...(call.headers ?? {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  return fetch("/api" + path, jsonRequest(method, call.body, headers));
}

/** The answer's status and body; an error envelope is thrown as an ApiError. */
export async function request<T>(method: string, path: string, call: Call = {}): Promise<{ status: number; body: T }> {
  let response = await send(method, path, call, await bearer());
  if (response.status === 401) {
    const code = await response.clone().json().then((b: { error?: { code?: string } }) => b.error?.code, () => undefined);
    if (code && RETRY_CODES.has(code) && (await refresh())) {
      response = await send(method, path, call, await bearer());
    }
  }
  try {
    return { status: response.status, body: await readJson<T>(response) };
  } catch (error) {
    // A sensitive change asks for a fresh password login: the page says so, the session stays.
    if (error instanceof ApiError && error.status === 401 && error.code !== "fresh_login_required") {
      sessionExpired();
    }
    throw error;
  }
}

export const api = {
  get: <T>(path: string) => request<T>("GET", path).then((r) => r.body),
  post: <T>(path: string, body?: unknown, headers?: Record<string, string>) =>
    request<T>("POST", path, { body, headers }),
  patch: <T>(path: string, body: unknown) => request<T>("PATCH", path, { body }).then((r) => r.body),
  put: <T>(path: string, body: unknown) => request<T>("PUT", path, { body }).then((r) => r.body),
  delete: <T>(path: string) => request<T>("DELETE", path).then((r) => r.body),
};
