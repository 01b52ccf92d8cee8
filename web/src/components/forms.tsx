// Small pieces every form uses: a labelled field, an error box, the loading hook.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError } from "../api/http";
import { errorText, t } from "../i18n";

export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
      {hint && <small class="muted">{hint}</small>}
    </label>
  );
}

/** The error a user can act on: the catalogue's text for its code, and each invalid field. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  if (!(error instanceof ApiError)) {
    return (
      <p class="error" role="alert">
        {t("error.network")}
      </p>
    );
  }
  const fields = error.code === "validation_error" ? flatten(error.details) : [];
  return (
    <div class="error" role="alert" data-code={error.code}>
      <p>{errorText(error.code, error.message)}</p>
      {error.retryAfter && <p>{t("error.retryAfter", { seconds: error.retryAfter })}</p>}
      {fields.length > 0 && (
        <ul>
          {fields.map(([name, message]) => (
            <li key={name}>
              <code>{name}</code>: {message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function flatten(details: Record<string, unknown>, prefix = ""): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(details)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (Array.isArray(value)) out.push([name, value.map(String).join(" ")]);
    else if (value && typeof value === "object") out.push(...flatten(value as Record<string, unknown>, name));
    else out.push([name, String(value)]);
  }
  return out.filter(([name]) => name !== "json" || out.length === 1);
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Load once on mount (and when ``deps`` change); ``reload`` loads again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** The value of an input element from an event. */
export function valueOf(event: Event): string {
  return (event.currentTarget as HTMLInputElement).value;
}
