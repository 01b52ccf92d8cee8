// An account's open positions, read from its terminal, each with modify SL/TP, breakeven, close
// half and close; then its pending orders with modify and cancel (components/trades.tsx).
import { api } from "../api/client";
import type { Account, Position } from "../api/types";
import { DataTable, ErrorBox, num, PageHead, useLoad, type Column } from "../components/forms";
import { PendingOrders, PositionActions } from "../components/trades";
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
        <DataTable
          testId="positions"
          columns={COLUMNS}
          rows={positions.data}
          keyOf={(p) => p.ticket}
          cells={(p) => (
            <>
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
                <PositionActions accountId={accountId} position={p} onDone={positions.reload} />
              </td>
            </>
          )}
        />
      )}
      <PendingOrders accountId={accountId} />
    </section>
  );
}
