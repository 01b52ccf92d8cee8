// An account's open positions, read from its terminal. The trade-management actions (modify,
// breakeven, close, close half) and the pending orders plug in at PositionActions and
// PendingOrders (components/later.tsx) once their API exists.
import { api } from "../api/client";
import type { Account, Position } from "../api/types";
import { ErrorBox, useLoad } from "../components/forms";
import { PendingOrders, PositionActions } from "../components/later";
import { formatTime, t } from "../i18n";
import { href } from "../router";

export function PositionsPage({ accountId }: { accountId: number }) {
  const account = useLoad(() => api.get<Account>(`/accounts/${accountId}`), [accountId]);
  const positions = useLoad(() => api.get<{ positions: Position[] }>(`/accounts/${accountId}/positions`).then((b) => b.positions), [accountId]);
  return (
    <section>
      <div class="page-head">
        <h1>{t("positions.title", { name: account.data?.account_name ?? String(accountId) })}</h1>
        <button type="button" class="secondary" onClick={positions.reload}>
          {t("positions.reload")}
        </button>
        <a href={href({ name: "accounts" })}>{t("positions.back")}</a>
      </div>
      <ErrorBox error={account.error ?? positions.error} />
      {positions.data && positions.data.length === 0 && <p class="empty">{t("positions.none")}</p>}
      {positions.data && positions.data.length > 0 && (
        <table data-testid="positions">
          <thead>
            <tr>
              <th>{t("positions.ticket")}</th>
              <th>{t("trade.symbol")}</th>
              <th>{t("trade.side")}</th>
              <th class="num">{t("send.volume")}</th>
              <th class="num">{t("positions.open")}</th>
              <th class="num">{t("positions.current")}</th>
              <th class="num">SL</th>
              <th class="num">TP</th>
              <th class="num">{t("positions.profit")}</th>
              <th class="num">{t("positions.swap")}</th>
              <th>{t("positions.time")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {positions.data.map((p) => (
              <tr key={p.ticket} data-ticket={p.ticket}>
                <td>{p.ticket}</td>
                <td>{p.symbol}</td>
                <td class={`side-${p.type}`}>{t(p.type === "buy" ? "trade.buy" : "trade.sell")}</td>
                <td class="num">{p.volume}</td>
                <td class="num">{p.price_open}</td>
                <td class="num">{p.price_current}</td>
                <td class="num">{p.sl}</td>
                <td class="num">{p.tp}</td>
                <td class={`num ${Number(p.profit) < 0 ? "loss" : "gain"}`}>{p.profit}</td>
                <td class="num">{p.swap}</td>
                <td>{formatTime(p.time)}</td>
                <td>
                  <PositionActions accountId={accountId} position={p} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <PendingOrders accountId={accountId} />
    </section>
  );
}
