// Small pieces every form uses: a labelled field, an error box, the loading hook.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError } from "../api/http";
import { errorText, t } from "../i18n";
import type { MessageKey } from "../i18n/en";
import { href, type Route } from "../router";

export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
      {hint && <small class="muted">{hint}</small>}
    </label>
  );
}

interface InputProps {
  required?: boolean;
  autoComplete?: string;
  autoFocus?: boolean;
  inputMode?: "text" | "numeric" | "decimal";
  placeholder?: string;
  maxLength?: number;
}

/** A labelled text input bound to a string (decimals stay strings: the server parses them). */
export function TextField(
  props: InputProps & { label: string; name: string; value: string; onChange: (value: string) => void; hint?: string; secret?: boolean },
) {
  const { label, hint, value, onChange, secret, ...input } = props;
  const onInput = (e: Event) => onChange(valueOf(e));
  return (
    <Field label={label} hint={hint}>
      {secret ? <input {...input} type="password" value={value} onInput={onInput} /> : <input {...input} type="text" value={value} onInput={onInput} />}
    </Field>
  );
}

/** A labelled choice among ``options`` ([value, text] pairs). */
export function SelectField<T extends string>(props: { label: string; name: string; value: T; options: [T, string][]; onChange: (value: T) => void }) {
  return (
    <Field label={props.label}>
      <select name={props.name} value={props.value} onChange={(e) => props.onChange(valueOf(e) as T)}>
        {props.options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </Field>
  );
}

/** A numeric column's header: its cells align right. */
export interface NumericColumn {
  numeric: MessageKey;
}

export const num = (key: MessageKey): NumericColumn => ({ numeric: key });

/** A column's header: a message key ("" for none), or ``num(key)``. */
export type Column = MessageKey | "" | NumericColumn;

export function HeaderRow({ columns }: { columns: Column[] }) {
  return (
    <thead>
      <tr>
        {columns.map((column, index) =>
          typeof column === "string" ? (
            <th key={index}>{column && t(column)}</th>
          ) : (
            <th key={index} class="num">
              {t(column.numeric)}
            </th>
          ),
        )}
      </tr>
    </thead>
  );
}

/** A table of ``rows``: the header, then one row each, marked data-ticket (or ``mark``) = its key. */
export function DataTable<T>(props: { testId: string; columns: Column[]; rows: T[]; keyOf: (row: T) => number; cells: (row: T) => ComponentChildren; mark?: string }) {
  return (
    <table data-testid={props.testId}>
      <HeaderRow columns={props.columns} />
      <tbody>
        {props.rows.map((row) => (
          <tr key={props.keyOf(row)} {...{ [`data-${props.mark ?? "ticket"}`]: props.keyOf(row) }}>
            {props.cells(row)}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A page's title, with a link to another page and whatever else stands beside it. */
export function PageHead(props: { title: string; link?: { to: Route; label: string }; children?: ComponentChildren }) {
  return (
    <div class="page-head">
      <h1>{props.title}</h1>
      {props.link && (
        <a class="button" href={href(props.link.to)}>
          {props.link.label}
        </a>
      )}
      {props.children}
    </div>
  );
}

/** A form's last lines: what went wrong, and the button, off while the action runs. */
export function Submit({ action, label, disabled = false }: { action: Action; label: string; disabled?: boolean }) {
  return (
    <>
      <ErrorBox error={action.error} />
      <button type="submit" disabled={action.busy || disabled}>
        {label}
      </button>
    </>
  );
}

export interface Action {
  busy: boolean;
  error: unknown;
  /** Run the action given to useAction (a form's onSubmit). */
  run: (event?: Event) => Promise<void>;
  /** Run another task under the same busy flag and error (a row's buttons). */
  runTask: (task: () => Promise<void>) => Promise<void>;
}

/** A form's or a button's action: busy while it runs, its failure kept for an ErrorBox. */
export function useAction(action: () => Promise<void> = async () => undefined): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function runTask(task: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await task();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }
  const run = (event?: Event) => {
    event?.preventDefault();
    return runTask(action);
  };
  return { busy, error, run, runTask };
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
    // The caller's deps decide when to load again (``load`` is a new closure every render).
  }, [...deps, round]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** The value of an input element from an event. */
export function valueOf(event: Event): string {
  return (event.currentTarget as HTMLInputElement).value;
}
