// The position-size calculator (gold first): risk in percent, a stop loss, up to three take
// profits; the answer per leg, and the margin. The account's live terms come from its terminal.
import { useState } from "preact/hooks";
import { api } from "../api/client";
import type { Account, Calculation, SymbolSummary } from "../api/types";
import { ErrorBox, Field, useLoad, valueOf } from "../components/forms";
import { TakeProfits, takeProfitsBody } from "../components/TakeProfits";
import { t } from "../i18n";
import { navigate } from "../router";
import { useStore } from "../store";
import { tradeDraft, type OrderType, type TradeDraft } from "./tradeDraft";

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
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<TradeDraft>) => tradeDraft.set({ ...tradeDraft.get(), ...patch });
  const accountId = draft.accountIds[0] ?? accounts.data?.[0]?.id;

  async function submit(event: Event) {
    event.preventDefault();
    if (accountId === undefined) return;
    setBusy(true);
    setError(null);
    try {
      setResult((await api.post<Calculation>("/calculate", calculateBody(draft, accountId))).body);
      set({ accountIds: [accountId] });
    } catch (failure) {
      setResult(null);
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="two-columns">
      <form class="card" onSubmit={submit} data-testid="calculator-form">
        <h1>{t("calc.title")}</h1>
        <ErrorBox error={accounts.error ?? symbols.error} />
        {accounts.data?.length === 0 && <p class="empty">{t("calc.noAccount")}</p>}
        <div class="grid">
          <Field label={t("calc.account")}>
            <select name="account" value={String(accountId ?? "")} onChange={(e) => set({ accountIds: [Number(valueOf(e))] })}>
              {accounts.data?.map((a) => (
                <option key={a.id} value={String(a.id)}>
                  {a.account_name} ({a.login})
                </option>
              ))}
            </select>
          </Field>
          <Field label={t("trade.symbol")}>
            <select name="symbol" value={draft.symbol} onChange={(e) => set({ symbol: valueOf(e) })}>
              {(symbols.data ?? [{ name: draft.symbol, description: "" }]).map((s) => (
                <option key={s.name} value={s.name}>
                  {s.name}
                </option>
              ))}
            </select>
          </Field>
          <SideAndType draft={draft} set={set} />
          <Field label={t("calc.riskPercent")}>
            <input name="risk_percent" inputMode="decimal" required value={draft.riskPercent} onInput={(e) => set({ riskPercent: valueOf(e) })} />
          </Field>
          <Field label={t("trade.stopLoss")}>
            <input name="stop_loss" inputMode="decimal" required value={draft.stopLoss} onInput={(e) => set({ stopLoss: valueOf(e) })} />
          </Field>
        </div>
        <TakeProfits value={draft.takeProfits} onChange={(takeProfits) => set({ takeProfits })} />
        <ErrorBox error={error} />
        <button type="submit" disabled={busy || accountId === undefined}>
          {t("calc.submit")}
        </button>
      </form>
      {result && <CalculationResult result={result} />}
    </section>
  );
}

/** Side, order type and (for a pending order) its price: shared with the order form. */
export function SideAndType({ draft, set }: { draft: TradeDraft; set: (patch: Partial<TradeDraft>) => void }) {
  return (
    <>
      <Field label={t("trade.side")}>
        <select name="side" value={draft.side} onChange={(e) => set({ side: valueOf(e) as TradeDraft["side"] })}>
          <option value="buy">{t("trade.buy")}</option>
          <option value="sell">{t("trade.sell")}</option>
        </select>
      </Field>
      <Field label={t("trade.orderType")}>
        <select name="order_type" value={draft.orderType} onChange={(e) => set({ orderType: valueOf(e) as OrderType })}>
          <option value="market">{t("trade.market")}</option>
          <option value="limit">{t("trade.limit")}</option>
          <option value="stop">{t("trade.stop")}</option>
        </select>
      </Field>
      {draft.orderType !== "market" && (
        <Field label={t("trade.price")}>
          <input name="price" inputMode="decimal" required value={draft.price} onInput={(e) => set({ price: valueOf(e) })} />
        </Field>
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
          <thead>
            <tr>
              <th>{t("calc.leg")}</th>
              <th class="num">{t("calc.takeProfit")}</th>
              <th class="num">{t("calc.share")}</th>
              <th class="num">{t("calc.lots")}</th>
              <th class="num">{t("calc.riskMoney")}</th>
              <th class="num">{t("calc.reward")}</th>
              <th class="num">{t("calc.rr")}</th>
            </tr>
          </thead>
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
