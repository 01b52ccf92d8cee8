// The wire: JSON in and out, and the server's one error envelope turned into an ApiError.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly retryAfter: string | null = null,
  ) {
    super(message);
  }
}

interface Envelope {
  error?: { code?: string; message?: string; details?: Record<string, unknown> };
}

/** The body of a successful answer, or the envelope of a failed one thrown as an ApiError. */
export async function readJson<T>(response: Response): Promise<T> {
  const text = await response.text();
  const body: unknown = text ? JSON.parse(text) : {};
  if (response.ok) return body as T;
  const error = (body as Envelope).error ?? {};
  throw new ApiError(
    response.status,
    error.code ?? "http_" + response.status,
    error.message ?? response.statusText,
    error.details ?? {},
    response.headers.get("Retry-After"),
  );
}

export function jsonRequest(method: string, body?: unknown, headers: Record<string, string> = {}): RequestInit {
  const init: RequestInit = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  return init;
}

/** A fresh key per submitted order, so a retried request never trades twice. */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}
