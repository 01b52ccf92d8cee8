// A super admin's broadcast: the targets (everyone who copies, some users, some accounts), the
// order, and how each target is sized; sent with POST /api/broadcast_orders, then followed live.
import { useState } from "preact/hooks";
import { api } from "../api/client";
import { idempotencyKey } from "../api/http";
import { ErrorBox, Field, valueOf } from "../components/forms";
import { DryRunPreview } from "../components/later";
import { TakeProfits } from "../components/TakeProfits";
import { t } from "../i18n";
import { navigate } from "../router";
import { SideAndType } from "./CalculatorPage";
import { orderFields } from "./SendOrderPage";
import { tradeDraft, type TradeDraft } from "./tradeDraft";

export type TargetMode = "all" | "user_ids" | "account_ids";
export type SizingMode = "account_risk" | "risk_percent" | "fixed_volume" | "multiplier";

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

export function broadcastBody(draft: BroadcastDraft, order: TradeDraft): Record<string, unknown> {
  const targets = draft.targetMode === "all" ? { all: true } : { [draft.targetMode]: parseIds(draft.ids) };
  const sizing: Record<string, unknown> = { mode: draft.sizingMode };
  if (draft.sizingMode === "risk_percent") sizing.percent = draft.percent.trim();
  if (draft.sizingMode === "fixed_volume" || draft.sizingMode === "multiplier") sizing.volume = draft.volume.trim();
  if (draft.sizingMode === "account_risk" && draft.defaultPercent.trim()) sizing.default_percent = draft.defaultPercent.trim();
  const fields: Record<string, unknown> = { ...orderFields(order), deviation: Number(draft.deviation) };
  if (draft.comment.trim()) fields.comment = draft.comment.trim();
  return { targets, order: fields, sizing, expires_in_s: Number(draft.expiresInS) };
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
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<BroadcastDraft>) => setDraft({ ...draft, ...patch });
  const setOrderFields = (patch: Partial<TradeDraft>) => setOrder({ ...order, ...patch });
  const body = broadcastBody(draft, order);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await api.post<{ broadcast_id: number }>("/broadcast_orders", body, { "Idempotency-Key": idempotencyKey() });
      navigate({ name: "broadcast", id: created.body.broadcast_id });
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  }

  return (
    <form class="card" onSubmit={submit} data-testid="broadcast-form">
      <h1>{t("broadcast.title")}</h1>
      <fieldset>
        <legend>{t("broadcast.targets")}</legend>
        {(["all", "user_ids", "account_ids"] as const).map((mode) => (
          <label class="check" key={mode}>
            <input type="radio" name="target_mode" value={mode} checked={draft.targetMode === mode} onChange={() => set({ targetMode: mode })} />
            {t(`broadcast.target.${mode}`)}
          </label>
        ))}
        {draft.targetMode !== "all" && (
          <Field label={t("broadcast.ids")} hint={t("broadcast.idsHint")}>
            <input name="ids" required value={draft.ids} onInput={(e) => set({ ids: valueOf(e) })} />
          </Field>
        )}
      </fieldset>
      <fieldset>
        <legend>{t("broadcast.order")}</legend>
        <div class="grid">
          <Field label={t("trade.symbol")}>
            <input name="symbol" required value={order.symbol} onInput={(e) => setOrderFields({ symbol: valueOf(e).toUpperCase() })} />
          </Field>
          <SideAndType draft={order} set={setOrderFields} />
          <Field label={t("trade.stopLoss")}>
            <input name="stop_loss" inputMode="decimal" value={order.stopLoss} onInput={(e) => setOrderFields({ stopLoss: valueOf(e) })} />
          </Field>
          <Field label={t("broadcast.deviation")}>
            <input name="deviation" inputMode="numeric" value={draft.deviation} onInput={(e) => set({ deviation: valueOf(e) })} />
          </Field>
          <Field label={t("broadcast.comment")}>
            <input name="comment" maxLength={20} value={draft.comment} onInput={(e) => set({ comment: valueOf(e) })} />
          </Field>
        </div>
        <TakeProfits value={order.takeProfits} onChange={(takeProfits) => setOrderFields({ takeProfits })} />
      </fieldset>
      <fieldset>
        <legend>{t("broadcast.sizing")}</legend>
        <div class="grid">
          <Field label={t("broadcast.sizingMode")}>
            <select name="sizing_mode" value={draft.sizingMode} onChange={(e) => set({ sizingMode: valueOf(e) as SizingMode })}>
              {(["account_risk", "risk_percent", "fixed_volume", "multiplier"] as const).map((mode) => (
                <option key={mode} value={mode}>
                  {t(`broadcast.sizing.${mode}`)}
                </option>
              ))}
            </select>
          </Field>
          {draft.sizingMode === "risk_percent" && (
            <Field label={t("calc.riskPercent")}>
              <input name="percent" inputMode="decimal" required value={draft.percent} onInput={(e) => set({ percent: valueOf(e) })} />
            </Field>
          )}
          {(draft.sizingMode === "fixed_volume" || draft.sizingMode === "multiplier") && (
            <Field label={draft.sizingMode === "multiplier" ? t("broadcast.multiplierVolume") : t("send.volume")}>
              <input name="volume" inputMode="decimal" required value={draft.volume} onInput={(e) => set({ volume: valueOf(e) })} />
            </Field>
          )}
          {draft.sizingMode === "account_risk" && (
            <Field label={t("broadcast.defaultPercent")}>
              <input name="default_percent" inputMode="decimal" value={draft.defaultPercent} onInput={(e) => set({ defaultPercent: valueOf(e) })} />
            </Field>
          )}
          <Field label={t("broadcast.expiresIn")}>
            <input name="expires_in_s" inputMode="numeric" value={draft.expiresInS} onInput={(e) => set({ expiresInS: valueOf(e) })} />
          </Field>
        </div>
      </fieldset>
      <DryRunPreview body={body} />
      <ErrorBox error={error} />
      <button type="submit" disabled={busy}>
        {t("broadcast.submit")}
      </button>
    </form>
  );
}
