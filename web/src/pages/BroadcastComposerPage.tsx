// A super admin's broadcast: the targets (everyone who copies, some users, some accounts), the
// order, and how each target is sized; previewed as a dry run (nothing sent), sent with
// POST /api/broadcast_orders, then followed live.
import { useState } from "preact/hooks";
import { api } from "../api/client";
import { idempotencyKey } from "../api/http";
import { AutomationFields, automationBody, NO_RULES, type AutomationDraft } from "../components/AutomationEditor";
import { SelectField, Submit, TextField, useAction } from "../components/forms";
import { DryRunPreview } from "../components/DryRunPreview";
import { TakeProfits } from "../components/TakeProfits";
import { t } from "../i18n";
import { navigate } from "../router";
import { OrderFields, orderFields } from "./SendOrderPage";
import { tradeDraft, type TradeDraft } from "./tradeDraft";

export type TargetMode = "all" | "user_ids" | "account_ids";
const SIZING_MODES = ["account_risk", "risk_percent", "fixed_volume", "multiplier", "follower"] as const;
export type SizingMode = (typeof SIZING_MODES)[number];

export interface BroadcastDraft {
  targetMode: TargetMode;
  ids: string;
  sizingMode: SizingMode;
  percent: string;
  volume: string;
  defaultPercent: string;
  deviation: string;
  comment: string;
  expiresInS: string;
}

/** "1, 2 3" -> [1, 2, 3]; anything else is left for the server to refuse. */
export function parseIds(text: string): number[] {
  return text.split(/[\s,]+/).filter(Boolean).map(Number);
}

export function broadcastBody(draft: BroadcastDraft, order: TradeDraft, rules: AutomationDraft = NO_RULES): Record<string, unknown> {
  const targets = draft.targetMode === "all" ? { all: true } : { [draft.targetMode]: parseIds(draft.ids) };
  const sizing: Record<string, unknown> = { mode: draft.sizingMode };
  if (draft.sizingMode === "risk_percent") sizing.percent = draft.percent.trim();
  if (draft.sizingMode === "fixed_volume" || draft.sizingMode === "multiplier") sizing.volume = draft.volume.trim();
  if (draft.sizingMode === "follower" && draft.volume.trim()) sizing.volume = draft.volume.trim();
  if (draft.sizingMode === "account_risk" && draft.defaultPercent.trim()) sizing.default_percent = draft.defaultPercent.trim();
  const fields: Record<string, unknown> = { ...orderFields(order), deviation: Number(draft.deviation) };
  if (draft.comment.trim()) fields.comment = draft.comment.trim();
  const body: Record<string, unknown> = { targets, order: fields, sizing, expires_in_s: Number(draft.expiresInS) };
  const automation = automationBody(rules);
  if (Object.keys(automation).length) body.automation = automation;
  return body;
}

export function BroadcastComposerPage() {
  const [draft, setDraft] = useState<BroadcastDraft>({
    targetMode: "all",
    ids: "",
    sizingMode: "account_risk",
    percent: "1",
    volume: "",
    defaultPercent: "1",
    deviation: "20",
    comment: "",
    expiresInS: "60",
  });
  const [order, setOrder] = useState<TradeDraft>({ ...tradeDraft.get(), accountIds: [] });
  const [rules, setRules] = useState<AutomationDraft>(NO_RULES);
  const set = (patch: Partial<BroadcastDraft>) => setDraft({ ...draft, ...patch });
  const setOrderFields = (patch: Partial<TradeDraft>) => setOrder({ ...order, ...patch });
  const body = broadcastBody(draft, order, rules);
  const send = useAction(async () => {
    const created = await api.post<{ broadcast_id: number }>("/broadcast_orders", body, { "Idempotency-Key": idempotencyKey() });
    navigate({ name: "broadcast", id: created.body.broadcast_id });
  });
  const field = (key: "percent" | "volume" | "defaultPercent" | "deviation" | "comment" | "expiresInS" | "ids") => ({
    name: key,
    value: draft[key],
    onChange: (value: string) => set({ [key]: value }),
  });
  const sizingModes = SIZING_MODES.map((mode): [SizingMode, string] => [mode, t(`broadcast.sizing.${mode}`)]);

  return (
    <form class="card" onSubmit={send.run} data-testid="broadcast-form">
      <h1>{t("broadcast.title")}</h1>
      <fieldset>
        <legend>{t("broadcast.targets")}</legend>
        {(["all", "user_ids", "account_ids"] as const).map((mode) => (
          <label class="check" key={mode}>
            <input type="radio" name="target_mode" value={mode} checked={draft.targetMode === mode} onChange={() => set({ targetMode: mode })} />
            {t(`broadcast.target.${mode}`)}
          </label>
        ))}
        {draft.targetMode !== "all" && <TextField label={t("broadcast.ids")} hint={t("broadcast.idsHint")} required {...field("ids")} />}
      </fieldset>
      <fieldset>
        <legend>{t("broadcast.order")}</legend>
        <div class="grid">
          <OrderFields draft={order} set={setOrderFields} />
          <TextField label={t("broadcast.deviation")} inputMode="numeric" {...field("deviation")} />
          <TextField label={t("broadcast.comment")} maxLength={20} {...field("comment")} />
        </div>
        <TakeProfits value={order.takeProfits} onChange={(takeProfits) => setOrderFields({ takeProfits })} />
      </fieldset>
      <fieldset>
        <legend>{t("broadcast.sizing")}</legend>
        <div class="grid">
          <SelectField label={t("broadcast.sizingMode")} name="sizing_mode" value={draft.sizingMode} options={sizingModes} onChange={(sizingMode) => set({ sizingMode })} />
          {draft.sizingMode === "risk_percent" && <TextField label={t("calc.riskPercent")} inputMode="decimal" required {...field("percent")} />}
          {(draft.sizingMode === "fixed_volume" || draft.sizingMode === "multiplier" || draft.sizingMode === "follower") && (
            <TextField
              label={draft.sizingMode === "fixed_volume" ? t("send.volume") : t("broadcast.multiplierVolume")}
              inputMode="decimal"
              required={draft.sizingMode !== "follower"}
              {...field("volume")}
            />
          )}
          {draft.sizingMode === "account_risk" && <TextField label={t("broadcast.defaultPercent")} inputMode="decimal" {...field("defaultPercent")} />}
          <TextField label={t("broadcast.expiresIn")} inputMode="numeric" {...field("expiresInS")} />
        </div>
      </fieldset>
      <fieldset data-testid="automation-fields">
        <legend>{t("automation.title")}</legend>
        <AutomationFields draft={rules} set={setRules} />
      </fieldset>
      <DryRunPreview path="/broadcast_orders" body={body} />
      <Submit action={send} label={t("broadcast.submit")} />
    </form>
  );
}
