// The position-size calculator (gold first): risk in percent, a stop loss, up to three take
// profits; the answer per leg, and the margin. The account's live terms come from its terminal.
import { useState } from "preact/hooks";
import { api } from "../api/client";
import type { Account, Calculation, SymbolSummary } from "../api/types";
import { ErrorBox, HeaderRow, num, SelectField, Submit, TextField, useAction, useLoad } from "../components/forms";
import { TakeProfits, takeProfitsBody } from "../components/TakeProfits";
import { t } from "../i18n";
import { navigate } from "../router";
import { useStore } from "../store";
import { ORDER_TYPES, SIDES, tradeDraft, type TradeDraft } from "./tradeDraft";

export function calculateBody(draft: TradeDraft, accountId: number): Record<string, unknown> {
  const trade: Record<string, unknown> = {
    side: draft.side,
    order_type: draft.orderType === "market" ? "market" : "pending",
    stop_loss: draft.stopLoss.trim(),
    take_profits: takeProfitsBody(draft.takeProfits),
  };
  if (draft.orderType !== "market") trade.entry = draft.price.trim();
  return { account_id: accountId, symbol: draft.symbol, risk: { percent: draft.riskPercent.trim() }, trade };
}

export function CalculatorPage() {
  const draft = useStore(tradeDraft);
  const accounts = useLoad(() => api.get<{ accounts: Account[] }>("/accounts").then((b) => b.accounts));
  const symbols = useLoad(() => api.get<{ symbols: SymbolSummary[] }>("/symbols").then((b) => b.symbols));
  const [result, setResult] = useState<Calculation | null>(null);
  const set = (patch: Partial<TradeDraft>) => tradeDraft.set({ ...tradeDraft.get(), ...patch });
  const accountId = draft.accountIds[0] ?? accounts.data?.[0]?.id;
  const calculate = useAction(async () => {
    if (accountId === undefined) return;
    setResult(null);
    setResult((await api.post<Calculation>("/calculate", calculateBody(draft, accountId))).body);
    set({ accountIds: [accountId] });
  });
  const accountOptions = (accounts.data ?? []).map((a): [string, string] => [String(a.id), `${a.account_name} (${a.login})`]);
  const symbolOptions = (symbols.data ?? [{ name: draft.symbol }]).map((s): [string, string] => [s.name, s.name]);

  return (
    <section class="two-columns">
      <form class="card" onSubmit={calculate.run} data-testid="calculator-form">
        <h1>{t("calc.title")}</h1>
        <ErrorBox error={accounts.error ?? symbols.error} />
        {accounts.data?.length === 0 && <p class="empty">{t("calc.noAccount")}</p>}
        <div class="grid">
          <SelectField label={t("calc.account")} name="account" value={String(accountId ?? "")} options={accountOptions} onChange={(id) => set({ accountIds: [Number(id)] })} />
          <SelectField label={t("trade.symbol")} name="symbol" value={draft.symbol} options={symbolOptions} onChange={(symbol) => set({ symbol })} />
          <SideAndType draft={draft} set={set} />
          <TextField label={t("calc.riskPercent")} name="risk_percent" inputMode="decimal" required value={draft.riskPercent} onChange={(riskPercent) => set({ riskPercent })} />
          <TextField label={t("trade.stopLoss")} name="stop_loss" inputMode="decimal" required value={draft.stopLoss} onChange={(stopLoss) => set({ stopLoss })} />
        </div>
        <TakeProfits value={draft.takeProfits} onChange={(takeProfits) => set({ takeProfits })} />
        <Submit action={calculate} label={t("calc.submit")} disabled={accountId === undefined} />
      </form>
      {result && <CalculationResult result={result} />}
    </section>
  );
}

/** Side, order type and (for a pending order) its price: shared with the order form. */
export function SideAndType({ draft, set }: { draft: TradeDraft; set: (patch: Partial<TradeDraft>) => void }) {
  return (
    <>
      <SelectField label={t("trade.side")} name="side" value={draft.side} options={SIDES.map((side) => [side, t(`trade.${side}`)])} onChange={(side) => set({ side })} />
      <SelectField label={t("trade.orderType")} name="order_type" value={draft.orderType} options={ORDER_TYPES.map((type) => [type, t(`trade.${type}`)])} onChange={(orderType) => set({ orderType })} />
      {draft.orderType !== "market" && (
        <TextField label={t("trade.price")} name="price" inputMode="decimal" required value={draft.price} onChange={(price) => set({ price })} />
      )}
    </>
  );
}

function CalculationResult({ result }: { result: Calculation }) {
  return (
    <div class="card result" data-testid="calculation">
      <h2>{t("calc.result")}</h2>
      <dl>
        <dt>{t("calc.lots")}</dt>
        <dd class="big" data-field="lots">{result.lots}</dd>
        <dt>{t("calc.riskMoney")}</dt>
        <dd>
          {result.actual_risk_money} ({result.actual_risk_percent ?? "—"}%)
        </dd>
        <dt>{t("calc.entry")}</dt>
        <dd>{result.effective_entry}</dd>
        <dt>{t("calc.slDistance")}</dt>
        <dd>{t("calc.points", { n: result.sl_distance_points })}</dd>
        <dt>{t("calc.lossPerLot")}</dt>
        <dd>{result.loss_per_lot}</dd>
        <dt>{t("calc.margin")}</dt>
        <dd data-field="margin">{result.margin_required ?? "—"}</dd>
        <dt>{t("calc.maxLotsByMargin")}</dt>
        <dd>{result.max_lots_by_margin ?? "—"}</dd>
      </dl>
      {result.orders.length > 0 && (
        <table data-testid="legs">
          <HeaderRow columns={["calc.leg", num("calc.takeProfit"), num("calc.share"), num("calc.lots"), num("calc.riskMoney"), num("calc.reward"), num("calc.rr")]} />
          <tbody>
            {result.orders.map((leg, index) => (
              <tr key={index} class={leg.sent ? undefined : "dropped"}>
                <td>{index + 1}</td>
                <td class="num">{leg.take_profit ?? "—"}</td>
                <td class="num">{leg.share_percent}%</td>
                <td class="num">{leg.lots}</td>
                <td class="num">{leg.risk_money}</td>
                <td class="num">{leg.reward_money ?? "—"}</td>
                <td class="num">{leg.reward_to_risk ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {[...result.flags, ...result.warnings].map((note) => (
        <p class="notice" key={note}>
          {note}
        </p>
      ))}
      <button type="button" onClick={() => navigate({ name: "send" })} data-testid="send-this">
        {t("calc.sendThis")}
      </button>
    </div>
  );
}
