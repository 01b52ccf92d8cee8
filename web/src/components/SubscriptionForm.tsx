// An account's subscription to broadcasts (GET/PUT/DELETE /api/accounts/{id}/subscription): the
// owner accepts the terms and chooses how broadcasts sent with sizing mode "follower" size this
// account, which symbols it takes, and the protection that stops new opens (or closes all) on a
// loss. Subscribing needs a fresh login (FreshLogin asks for the password again). Figures stay
// strings: the server parses and checks them.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { FollowerMode, Protection, Subscription } from "../api/types";
import { formatTime, t } from "../i18n";
import { ErrorBox, SelectField, Submit, TextField, useAction, useLoad } from "./forms";
import { FreshLogin } from "./FreshLogin";
import { StatusBadge } from "./StatusBadge";

const MODES = ["risk_percent", "fixed_volume", "multiplier", "balance_ratio"] as const;
/** Each sizing mode's own figure (the schema refuses the others). */
const FIGURE: Record<FollowerMode, "percent" | "volume" | "factor" | "base_balance"> = {
  risk_percent: "percent",
  fixed_volume: "volume",
  multiplier: "factor",
  balance_ratio: "base_balance",
};

export interface SubscriptionDraft {
  acceptTerms: boolean;
  mode: "" | FollowerMode;
  figure: string;
  maxVolume: string;
  belowMin: "skip" | "min_lot";
  maxRiskPercent: string;
  maxOpen: string;
  dailyKind: "percent" | "amount";
  dailyLimit: string;
  drawdown: string;
  onBreach: "close_only" | "close_all";
  symbolsMode: "" | "include" | "exclude";
  symbols: string;
}

const EMPTY: SubscriptionDraft = {
  acceptTerms: false,
  mode: "",
  figure: "",
  maxVolume: "",
  belowMin: "skip",
  maxRiskPercent: "",
  maxOpen: "",
  dailyKind: "percent",
  dailyLimit: "",
  drawdown: "",
  onBreach: "close_only",
  symbolsMode: "",
  symbols: "",
};

export function draftOf(sub: Subscription): SubscriptionDraft {
  const sizing = sub.sizing;
  const protection: Protection = sub.protection ?? {};
  const daily = protection.daily_loss_limit;
  const symbolsMode = sub.symbols?.include ? "include" : sub.symbols?.exclude ? "exclude" : "";
  return {
    ...EMPTY,
    mode: sizing?.mode ?? "",
    figure: (sizing && sizing[FIGURE[sizing.mode]]) ?? "",
    maxVolume: sizing?.max_volume ?? "",
    belowMin: sizing?.below_min ?? "skip",
    maxRiskPercent: sizing?.max_risk_percent ?? "",
    maxOpen: protection.max_open_positions === undefined ? "" : String(protection.max_open_positions),
    dailyKind: daily?.amount !== undefined ? "amount" : "percent",
    dailyLimit: daily?.amount ?? daily?.percent ?? "",
    drawdown: protection.max_drawdown_percent ?? "",
    onBreach: protection.on_breach ?? "close_only",
    symbolsMode,
    symbols: (sub.symbols?.include ?? sub.symbols?.exclude ?? []).join(", "),
  };
}

/** The PUT body: the consent as ticked (the server refuses false), and each part only when set. */
export function subscriptionBody(draft: SubscriptionDraft): Record<string, unknown> {
  const body: Record<string, unknown> = { accept_terms: draft.acceptTerms };
  if (draft.mode) {
    const sizing: Record<string, unknown> = { mode: draft.mode, [FIGURE[draft.mode]]: draft.figure.trim() };
    if (draft.maxVolume.trim()) sizing.max_volume = draft.maxVolume.trim();
    sizing.below_min = draft.belowMin;
    if (draft.belowMin === "min_lot" && draft.maxRiskPercent.trim()) sizing.max_risk_percent = draft.maxRiskPercent.trim();
    body.sizing = sizing;
  }
  const protection: Record<string, unknown> = {};
  if (draft.maxOpen.trim()) protection.max_open_positions = Number(draft.maxOpen.trim());
  if (draft.dailyLimit.trim()) protection.daily_loss_limit = { [draft.dailyKind]: draft.dailyLimit.trim() };
  if (draft.drawdown.trim()) protection.max_drawdown_percent = draft.drawdown.trim();
  if (Object.keys(protection).length) body.protection = { ...protection, on_breach: draft.onBreach };
  const symbols = draft.symbols.split(/[\s,]+/).filter(Boolean).map((s) => s.toUpperCase());
  if (draft.symbolsMode && symbols.length) body.symbols = { [draft.symbolsMode]: symbols };
  return body;
}

export function SubscriptionForm({ accountId }: { accountId: number }) {
  const path = `/accounts/${accountId}/subscription`;
  const loaded = useLoad(() => api.get<Subscription>(path), [accountId]);
  const [sub, setSub] = useState<Subscription | undefined>(undefined);
  const [draft, setDraft] = useState<SubscriptionDraft>(EMPTY);
  const show = (next: Subscription) => {
    setSub(next);
    setDraft(draftOf(next));
  };
  useEffect(() => {
    if (loaded.data) show(loaded.data);
  }, [loaded.data]);
  const set = (patch: Partial<SubscriptionDraft>) => setDraft({ ...draft, ...patch });
  const text = (key: "figure" | "maxVolume" | "maxRiskPercent" | "maxOpen" | "dailyLimit" | "drawdown" | "symbols", name: string) => ({
    name,
    value: draft[key],
    onChange: (value: string) => set({ [key]: value }),
  });
  const save = useAction(async () => show(await api.put<Subscription>(path, subscriptionBody(draft))));
  const other = useAction();
  const unsubscribe = () => other.runTask(async () => show(await api.delete<Subscription>(path)));
  const reset = () => other.runTask(async () => show((await api.post<Subscription>(`${path}/reset`)).body));
  const modes: ["" | FollowerMode, string][] = [["", t("sub.mode.none")], ...MODES.map((m): [FollowerMode, string] => [m, t(`sub.mode.${m}`)])];
  const figureLabel = draft.mode ? t(`sub.figure.${FIGURE[draft.mode]}`) : "";

  return (
    <section class="card" data-testid="subscription" data-subscribed={sub ? String(sub.subscribed) : undefined} data-state={sub?.state ?? "none"}>
      <h2>{t("sub.title")}</h2>
      <ErrorBox error={loaded.error} />
      {sub && <SubscriptionState sub={sub} />}
      {sub?.breach && (
        <p>
          <button type="button" class="secondary" disabled={other.busy} onClick={() => void reset()}>
            {t("sub.reset")}
          </button>
        </p>
      )}
      <form onSubmit={save.run} data-testid="subscription-form">
        <fieldset>
          <legend>{t("sub.sizing")}</legend>
          <p class="muted small">{t("sub.sizingHint")}</p>
          <div class="grid">
            <SelectField label={t("sub.mode")} name="follower_sizing" value={draft.mode} options={modes} onChange={(mode) => set({ mode })} />
            {draft.mode && <TextField label={figureLabel} inputMode="decimal" required {...text("figure", "sizing_figure")} />}
            {draft.mode && <TextField label={t("sub.maxVolume")} inputMode="decimal" {...text("maxVolume", "sizing_max_volume")} />}
            {draft.mode && (
              <SelectField
                label={t("sub.belowMin")}
                name="below_min"
                value={draft.belowMin}
                options={[
                  ["skip", t("sub.belowMin.skip")],
                  ["min_lot", t("sub.belowMin.min_lot")],
                ]}
                onChange={(belowMin) => set({ belowMin })}
              />
            )}
            {draft.mode && draft.belowMin === "min_lot" && <TextField label={t("sub.maxRiskPercent")} inputMode="decimal" {...text("maxRiskPercent", "max_risk_percent")} />}
          </div>
        </fieldset>
        <fieldset>
          <legend>{t("sub.protection")}</legend>
          <div class="grid">
            <TextField label={t("sub.maxOpen")} inputMode="numeric" {...text("maxOpen", "max_open_positions")} />
            <SelectField
              label={t("sub.dailyKind")}
              name="daily_loss_kind"
              value={draft.dailyKind}
              options={[
                ["percent", t("sub.daily.percent")],
                ["amount", t("sub.daily.amount")],
              ]}
              onChange={(dailyKind) => set({ dailyKind })}
            />
            <TextField label={t("sub.dailyLimit")} inputMode="decimal" {...text("dailyLimit", "daily_loss_limit")} />
            <TextField label={t("sub.drawdown")} inputMode="decimal" {...text("drawdown", "max_drawdown_percent")} />
            <SelectField
              label={t("sub.onBreach")}
              name="on_breach"
              value={draft.onBreach}
              options={[
                ["close_only", t("sub.onBreach.close_only")],
                ["close_all", t("sub.onBreach.close_all")],
              ]}
              onChange={(onBreach) => set({ onBreach })}
            />
          </div>
        </fieldset>
        <fieldset>
          <legend>{t("sub.symbols")}</legend>
          <div class="grid">
            <SelectField
              label={t("sub.symbolsMode")}
              name="symbols_mode"
              value={draft.symbolsMode}
              options={[
                ["", t("sub.symbols.all")],
                ["include", t("sub.symbols.include")],
                ["exclude", t("sub.symbols.exclude")],
              ]}
              onChange={(symbolsMode) => set({ symbolsMode })}
            />
            {draft.symbolsMode && <TextField label={t("sub.symbolList")} hint={t("broadcast.idsHint")} {...text("symbols", "symbols")} />}
          </div>
        </fieldset>
        <label class="check">
          <input type="checkbox" name="accept_terms" checked={draft.acceptTerms} onChange={(e) => set({ acceptTerms: (e.currentTarget as HTMLInputElement).checked })} />
          {t("sub.acceptTerms", { version: sub?.current_terms_version ?? "" })}
        </label>
        <Submit action={save} label={sub?.subscribed ? t("sub.update") : t("sub.subscribe")} />
      </form>
      <FreshLogin action={save} />
      {sub?.subscribed && (
        <p>
          <button type="button" class="danger" data-testid="unsubscribe" disabled={other.busy} onClick={() => void unsubscribe()}>
            {t("sub.unsubscribe")}
          </button>
        </p>
      )}
      <ErrorBox error={other.error} />
    </section>
  );
}

function SubscriptionState({ sub }: { sub: Subscription }) {
  return (
    <dl class="sub-state" data-testid="subscription-state">
      <dt>{t("sub.status")}</dt>
      <dd>
        {sub.subscribed ? t("sub.subscribed") : t("sub.notSubscribed")} {sub.state && <StatusBadge status={`sub_${sub.state}`} />}
      </dd>
      <dt>{t("sub.receivesOpens")}</dt>
      <dd data-field="receives_opens">{sub.receives_opens ? t("sub.yes") : t("sub.no")}</dd>
      {sub.terms_version && (
        <>
          <dt>{t("sub.terms")}</dt>
          <dd data-field="terms">{t("sub.termsAccepted", { version: sub.terms_version, time: formatTime(sub.accepted_at) })}</dd>
        </>
      )}
      {sub.breach && (
        <>
          <dt>{t("sub.breach")}</dt>
          <dd class="error-text" data-field="breach">
            {sub.breach.reason} ({formatTime(sub.breached_at)})
          </dd>
        </>
      )}
    </dl>
  );
}
