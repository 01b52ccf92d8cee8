// An account's open positions, read from its terminal. The trade-management actions (modify,
// breakeven, close, close half) and the pending orders plug in at PositionActions and
// PendingOrders (components/later.tsx) once their API exists.
import { api } from "../api/client";
import type { Account, Position } from "../api/types";
import { ErrorBox, HeaderRow, num, PageHead, useLoad, type Column } from "../components/forms";
import { PendingOrders, PositionActions } from "../components/later";
import { formatTime, t } from "../i18n";
import { href } from "../router";

const COLUMNS: Column[] = ["positions.ticket", "trade.symbol", "trade.side", num("send.volume"), num("positions.open")];
COLUMNS.push(num("positions.current"), num("positions.sl"), num("positions.tp"), num("positions.profit"), num("positions.swap"), "positions.time", "");

export function PositionsPage({ accountId }: { accountId: number }) {
  const account = useLoad(() => api.get<Account>(`/accounts/${accountId}`), [accountId]);
  const positions = useLoad(() => api.get<{ positions: Position[] }>(`/accounts/${accountId}/positions`).then((b) => b.positions), [accountId]);
  return (
    <section>
      <PageHead title={t("positions.title", { name: account.data?.account_name ?? String(accountId) })}>
        <button type="button" class="secondary" onClick={positions.reload}>
          {t("positions.reload")}
        </button>
        <a href={href({ name: "accounts" })}>{t("positions.back")}</a>
      </PageHead>
      <ErrorBox error={account.error ?? positions.error} />
      {positions.data && positions.data.length === 0 && <p class="empty">{t("positions.none")}</p>}
      {positions.data && positions.data.length > 0 && (
        <table data-testid="positions">
          <HeaderRow columns={COLUMNS} />
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
