// Add an MT5 account, or edit one (only the fields that changed are sent; the password is
// write-only: left empty, it stays as it is). Its copy settings say how broadcasts size it.
// Later: the account's subscription to a provider (own API to come) gets its section here.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Account } from "../api/types";
import { ErrorBox, Field, valueOf } from "../components/forms";
import { t } from "../i18n";
import { navigate } from "../router";

interface Draft {
  account_name: string;
  login: string;
  password: string;
  server: string;
  broker: string;
  account_type: "demo" | "live";
  terminal: string;
  copy_enabled: boolean;
  risk_percent: string;
  fixed_volume: string;
  volume_multiplier: string;
  max_volume: string;
}

const EMPTY: Draft = {
  account_name: "",
  login: "",
  password: "",
  server: "",
  broker: "",
  account_type: "demo",
  terminal: "",
  copy_enabled: false,
  risk_percent: "",
  fixed_volume: "",
  volume_multiplier: "",
  max_volume: "",
};
const OPTIONAL_TEXT = ["broker", "terminal"] as const;
const DECIMALS = ["risk_percent", "fixed_volume", "volume_multiplier", "max_volume"] as const;

function draftOf(account: Account): Draft {
  return {
    ...EMPTY,
    account_name: account.account_name,
    login: account.login,
    server: account.server,
    broker: account.broker ?? "",
    account_type: account.account_type,
    terminal: account.terminal,
    copy_enabled: account.copy_enabled,
    risk_percent: account.risk_percent ?? "",
    fixed_volume: account.fixed_volume ?? "",
    volume_multiplier: account.volume_multiplier ?? "",
    max_volume: account.max_volume ?? "",
  };
}

/** The request body: a new account gets every field given; an edit only what changed. */
export function accountBody(draft: Draft, before: Draft | null): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const changed = (key: keyof Draft) => before === null || draft[key] !== before[key];
  for (const key of ["account_name", "login", "server", "account_type"] as const) if (changed(key)) body[key] = draft[key].trim();
  if (draft.password) body.password = draft.password;
  for (const key of OPTIONAL_TEXT) if (changed(key) && (before !== null || draft[key].trim())) body[key] = draft[key].trim() || null;
  if (body.terminal === null) delete body.terminal;
  if (changed("copy_enabled")) body.copy_enabled = draft.copy_enabled;
  for (const key of DECIMALS) if (changed(key) && (before !== null || draft[key].trim())) body[key] = draft[key].trim() || null;
  return body;
}

export function AccountFormPage({ id }: { id?: number }) {
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [before, setBefore] = useState<Draft | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (id === undefined) return;
    api.get<Account>(`/accounts/${id}`).then((account) => {
      setDraft(draftOf(account));
      setBefore(draftOf(account));
    }, setError);
  }, [id]);
  const set = (patch: Partial<Draft>) => setDraft({ ...draft, ...patch });
  const text = (key: keyof Draft) => ({ name: key, value: String(draft[key]), onInput: (e: Event) => set({ [key]: valueOf(e) }) });

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (id === undefined) await api.post("/accounts", accountBody(draft, null));
      else await api.patch(`/accounts/${id}`, accountBody(draft, before));
      navigate({ name: "accounts" });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card" onSubmit={submit} data-testid="account-form">
      <h1>{id === undefined ? t("account.addTitle") : t("account.editTitle")}</h1>
      <div class="grid">
        <Field label={t("account.name")}>
          <input required {...text("account_name")} />
        </Field>
        <Field label={t("account.login")}>
          <input required inputMode="numeric" {...text("login")} />
        </Field>
        <Field label={t("account.password")} hint={id === undefined ? undefined : t("account.passwordKeep")}>
          <input type="password" autoComplete="new-password" required={id === undefined} {...text("password")} />
        </Field>
        <Field label={t("account.server")}>
          <input required {...text("server")} />
        </Field>
        <Field label={t("account.broker")}>
          <input {...text("broker")} />
        </Field>
        <Field label={t("account.type")}>
          <select name="account_type" value={draft.account_type} onChange={(e) => set({ account_type: valueOf(e) as Draft["account_type"] })}>
            <option value="demo">{t("accounts.demo")}</option>
            <option value="live">{t("accounts.live")}</option>
          </select>
        </Field>
        <Field label={t("account.terminal")} hint={t("account.terminalHint")}>
          <input placeholder="sim://default" {...text("terminal")} />
        </Field>
      </div>
      <fieldset>
        <legend>{t("account.copySettings")}</legend>
        <label class="check">
          <input type="checkbox" name="copy_enabled" checked={draft.copy_enabled} onChange={(e) => set({ copy_enabled: (e.currentTarget as HTMLInputElement).checked })} />
          {t("account.copyEnabled")}
        </label>
        <div class="grid">
          <Field label={t("account.riskPercent")}>
            <input inputMode="decimal" {...text("risk_percent")} />
          </Field>
          <Field label={t("account.fixedVolume")}>
            <input inputMode="decimal" {...text("fixed_volume")} />
          </Field>
          <Field label={t("account.multiplier")}>
            <input inputMode="decimal" {...text("volume_multiplier")} />
          </Field>
          <Field label={t("account.maxVolume")}>
            <input inputMode="decimal" {...text("max_volume")} />
          </Field>
        </div>
      </fieldset>
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        {t("account.save")}
      </button>
    </form>
  );
}
