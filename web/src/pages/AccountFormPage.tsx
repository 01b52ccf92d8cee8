// Add an MT5 account, or edit one (only the fields that changed are sent; the password is
// write-only: left empty, it stays as it is). Its copy settings say how broadcasts size it.
// An account that exists also shows its subscription to broadcasts (SubscriptionForm).
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Account } from "../api/types";
import { ErrorBox, SelectField, Submit, TextField, useAction } from "../components/forms";
import { SubscriptionForm } from "../components/SubscriptionForm";
import { t } from "../i18n";
import type { MessageKey } from "../i18n/en";
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
type TextKey = Exclude<keyof Draft, "copy_enabled" | "account_type">;
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
  const [loadError, setLoadError] = useState<unknown>(null);
  useEffect(() => {
    if (id === undefined) return;
    api.get<Account>(`/accounts/${id}`).then((account) => {
      setDraft(draftOf(account));
      setBefore(draftOf(account));
    }, setLoadError);
  }, [id]);
  const set = (patch: Partial<Draft>) => setDraft({ ...draft, ...patch });
  const text = (key: TextKey, label: MessageKey) => ({ label: t(label), name: key, value: draft[key], onChange: (value: string) => set({ [key]: value }) });
  const save = useAction(async () => {
    if (id === undefined) await api.post("/accounts", accountBody(draft, null));
    else await api.patch(`/accounts/${id}`, accountBody(draft, before));
    navigate({ name: "accounts" });
  });
  const types: [Draft["account_type"], string][] = [
    ["demo", t("accounts.demo")],
    ["live", t("accounts.live")],
  ];

  return (
    <>
    <form class="card" onSubmit={save.run} data-testid="account-form">
      <h1>{id === undefined ? t("account.addTitle") : t("account.editTitle")}</h1>
      <div class="grid">
        <TextField required {...text("account_name", "account.name")} />
        <TextField required inputMode="numeric" {...text("login", "account.login")} />
        <TextField
          secret
          autoComplete="new-password"
          required={id === undefined}
          hint={id === undefined ? undefined : t("account.passwordKeep")}
          {...text("password", "account.password")}
        />
        <TextField required {...text("server", "account.server")} />
        <TextField {...text("broker", "account.broker")} />
        <SelectField label={t("account.type")} name="account_type" value={draft.account_type} options={types} onChange={(account_type) => set({ account_type })} />
        <TextField placeholder="sim://default" hint={t("account.terminalHint")} {...text("terminal", "account.terminal")} />
      </div>
      <fieldset>
        <legend>{t("account.copySettings")}</legend>
        <label class="check">
          <input type="checkbox" name="copy_enabled" checked={draft.copy_enabled} onChange={(e) => set({ copy_enabled: (e.currentTarget as HTMLInputElement).checked })} />
          {t("account.copyEnabled")}
        </label>
        <div class="grid">
          <TextField inputMode="decimal" {...text("risk_percent", "account.riskPercent")} />
          <TextField inputMode="decimal" {...text("fixed_volume", "account.fixedVolume")} />
          <TextField inputMode="decimal" {...text("volume_multiplier", "account.multiplier")} />
          <TextField inputMode="decimal" {...text("max_volume", "account.maxVolume")} />
        </div>
      </fieldset>
      <ErrorBox error={loadError} />
      <Submit action={save} label={t("account.save")} />
    </form>
    {id !== undefined && <SubscriptionForm key={id} accountId={id} />}
    </>
  );
}
