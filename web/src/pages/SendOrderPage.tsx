// Send one order to some of the caller's own accounts (POST /api/send_orders), then follow
// its dispatch until every target is final; a dry run first shows what each account would do.
import { useState } from "preact/hooks";
import { api } from "../api/client";
import { idempotencyKey } from "../api/http";
import type { Account, Dispatch } from "../api/types";
import { AutomationFields, automationBody, NO_RULES, type AutomationDraft } from "../components/AutomationEditor";
import { DispatchView } from "../components/DispatchView";
import { DryRunPreview } from "../components/DryRunPreview";
import { ErrorBox, SelectField, Submit, TextField, useAction, useLoad } from "../components/forms";
import { TakeProfits, takeProfitsBody } from "../components/TakeProfits";
import { t } from "../i18n";
import { useStore } from "../store";
import { SideAndType } from "./CalculatorPage";
import { tradeDraft, type TradeDraft } from "./tradeDraft";

/** The order's fields as send_orders and broadcast_orders both take them. */
export function orderFields(draft: TradeDraft): Record<string, unknown> {
  const order: Record<string, unknown> = { symbol: draft.symbol, side: draft.side, order_type: draft.orderType };
  if (draft.orderType !== "market") order.price = draft.price.trim();
  if (draft.stopLoss.trim()) order.stop_loss = draft.stopLoss.trim();
  const takeProfits = takeProfitsBody(draft.takeProfits);
  if (takeProfits.length) order.take_profits = takeProfits;
  return order;
}

export function sendOrdersBody(draft: TradeDraft, rules: AutomationDraft = NO_RULES): Record<string, unknown> {
  const sizing = draft.sizing === "risk" ? { risk: { percent: draft.riskPercent.trim() } } : { volume: draft.volume.trim() };
  const body: Record<string, unknown> = { account_ids: draft.accountIds, ...orderFields(draft), ...sizing, wait_s: 10 };
  const automation = automationBody(rules);
  if (Object.keys(automation).length) body.automation = automation;
  return body;
}

export function SendOrderPage() {
  const draft = useStore(tradeDraft);
  const accounts = useLoad(() => api.get<{ accounts: Account[] }>("/accounts").then((b) => b.accounts));
  const [dispatch, setDispatch] = useState<Dispatch | null>(null);
  const [rules, setRules] = useState<AutomationDraft>(NO_RULES);
  const set = (patch: Partial<TradeDraft>) => tradeDraft.set({ ...tradeDraft.get(), ...patch });
  const toggle = (id: number, on: boolean) =>
    set({ accountIds: on ? [...draft.accountIds, id] : draft.accountIds.filter((a) => a !== id) });
  const send = useAction(async () => {
    setDispatch(null);
    const sent = await api.post<Dispatch>("/send_orders", sendOrdersBody(draft, rules), { "Idempotency-Key": idempotencyKey() });
    setDispatch(sent.body);
  });
  const sizings: [TradeDraft["sizing"], string][] = [
    ["risk", t("send.byRisk")],
    ["volume", t("send.byVolume")],
  ];

  return (
    <section class="two-columns">
      <form class="card" onSubmit={send.run} data-testid="send-form">
        <h1>{t("send.title")}</h1>
        <ErrorBox error={accounts.error} />
        <fieldset>
          <legend>{t("send.accounts")}</legend>
          {accounts.data?.map((a) => (
            <label class="check" key={a.id}>
              <input type="checkbox" name="account" value={String(a.id)} checked={draft.accountIds.includes(a.id)} onChange={(e) => toggle(a.id, (e.currentTarget as HTMLInputElement).checked)} />
              {a.account_name} ({a.login})
            </label>
          ))}
        </fieldset>
        <div class="grid">
          <OrderFields draft={draft} set={set} />
          <SelectField label={t("send.sizing")} name="sizing" value={draft.sizing} options={sizings} onChange={(sizing) => set({ sizing })} />
          {draft.sizing === "risk" ? (
            <TextField label={t("calc.riskPercent")} name="risk_percent" inputMode="decimal" required value={draft.riskPercent} onChange={(riskPercent) => set({ riskPercent })} />
          ) : (
            <TextField label={t("send.volume")} name="volume" inputMode="decimal" required value={draft.volume} onChange={(volume) => set({ volume })} />
          )}
        </div>
        <TakeProfits value={draft.takeProfits} onChange={(takeProfits) => set({ takeProfits })} />
        <details class="rules">
          <summary>{t("automation.title")}</summary>
          <AutomationFields draft={rules} set={setRules} />
        </details>
        <DryRunPreview path="/send_orders" body={sendOrdersBody(draft, rules)} disabled={draft.accountIds.length === 0} />
        <Submit action={send} label={t("send.submit")} disabled={draft.accountIds.length === 0} />
      </form>
      {dispatch && <DispatchView key={dispatch.dispatch_id} initial={dispatch} linkPositions own />}
    </section>
  );
}

/** Symbol, side, type, price and stop loss: the order form's and the broadcast composer's. */
export function OrderFields({ draft, set }: { draft: TradeDraft; set: (patch: Partial<TradeDraft>) => void }) {
  return (
    <>
      <TextField label={t("trade.symbol")} name="symbol" required value={draft.symbol} onChange={(symbol) => set({ symbol: symbol.toUpperCase() })} />
      <SideAndType draft={draft} set={set} />
      <TextField label={t("trade.stopLoss")} name="stop_loss" inputMode="decimal" value={draft.stopLoss} onChange={(stopLoss) => set({ stopLoss })} />
    </>
  );
}
