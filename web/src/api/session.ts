// The browser session. The access token lives in this module's memory only (never in
// localStorage or a cookie); the refresh token is the HttpOnly cookie the server set at login,
// which this code cannot read. A refresh sends that cookie with the X-CSRF-Token header, whose
// value the server put in the readable mt5_csrf cookie (a signed double submit, see
// docs/security.md). Refreshes are serialised across tabs (Web Locks): the server retires a
// refresh token on use and ends the session if it comes back, so two tabs must not both send
// the same one; behind the lock, the second tab sends the cookie the first one just received.
import { createStore } from "../store";
import type { User } from "./types";
import { ApiError, jsonRequest, readJson } from "./http";

export type SessionState =
  | { status: "unknown" }
  | { status: "anonymous"; reason?: "expired" | "logged_out" }
  | { status: "authenticated"; user: User };

export const session = createStore<SessionState>({ status: "unknown" });

let accessToken: string | null = null;
let expiresAt = 0;
let refreshing: Promise<boolean> | null = null;
const EARLY_MS = 30_000;

interface TokensOut {
  access_token: string;
  expires_in: number;
  user?: User;
}

function keep(tokens: TokensOut): void {
  accessToken = tokens.access_token;
  expiresAt = Date.now() + tokens.expires_in * 1000;
}

function forget(reason: "expired" | "logged_out"): void {
  accessToken = null;
  expiresAt = 0;
  session.set({ status: "anonymous", reason });
}

export interface SecondFactor {
  otp?: string;
  recovery_code?: string;
}

/** Log in; an account with MFA answers ApiError mfa_required until a code is given. */
export async function login(username: string, password: string, factor: SecondFactor = {}): Promise<User> {
  const body = { username, password, refresh_cookie: true, ...factor };
  const tokens = await readJson<TokensOut>(await fetch("/api/login", jsonRequest("POST", body)));
  keep(tokens);
  const user = tokens.user as User;
  session.set({ status: "authenticated", user });
  return user;
}

function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)mt5_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function exchangeCookie(): Promise<boolean> {
  const csrf = csrfToken();
  if (!csrf) return false;
  const response = await fetch("/api/token/refresh", jsonRequest("POST", undefined, { "X-CSRF-Token": csrf }));
  if (!response.ok) return false;
  keep(await readJson<TokensOut>(response));
  return true;
}

function serialised(task: () => Promise<boolean>): Promise<boolean> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  return locks ? locks.request("mt5-refresh", task) : task();
}

/** A new access token from the refresh cookie; false when the session is over. */
export function refresh(): Promise<boolean> {
  if (!refreshing) {
    refreshing = serialised(exchangeCookie)
      .catch(() => false)
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** The access token for a request, refreshed first when it is about to expire. */
export async function bearer(): Promise<string | null> {
  if (accessToken && Date.now() < expiresAt - EARLY_MS) return accessToken;
  if (await refresh()) return accessToken;
  if (session.get().status === "authenticated") forget("expired");
  return null;
}

/** On page load: pick the session up again from the refresh cookie, if there is one. */
export async function restore(): Promise<void> {
  if (!(await refresh())) {
    session.set({ status: "anonymous" });
    return;
  }
  try {
    const user = await readJson<User>(await fetch("/api/me", { headers: { Authorization: `Bearer ${accessToken}` } }));
    session.set({ status: "authenticated", user });
  } catch {
    forget("expired");
  }
}

/** A sensitive change asked for a fresh login: the signed-in user's password again (a new
 *  password login, so a fresh access token); ApiError when it is wrong or needs a code. */
export async function confirmPassword(password: string, factor: SecondFactor = {}): Promise<void> {
  const state = session.get();
  if (state.status !== "authenticated") throw new ApiError(401, "invalid_credentials", "Not logged in.");
  await login(state.user.username, password, factor);
}

/** The server said the token is no longer good (after one refresh was tried). */
export function sessionExpired(): void {
  forget("expired");
}

export async function logout(): Promise<void> {
  const token = await bearer();
  if (token) {
    await fetch("/api/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } }).catch(() => undefined);
  }
  forget("logged_out");
}

export function isApiError(error: unknown, code?: string): error is ApiError {
  return error instanceof ApiError && (code === undefined || error.code === code);
}
