// The recent broadcasts, newest first, each opening its live page. Results and P&L per
// broadcast join this table once GET /api/broadcasts/{id}/results exists.
import { api } from "../api/client";
import type { BroadcastSummary } from "../api/types";
import { ErrorBox, useLoad } from "../components/forms";
import { StatusBadge } from "../components/StatusBadge";
import { formatTime, t } from "../i18n";
import { href } from "../router";

export function BroadcastHistoryPage() {
  const list = useLoad(() => api.get<{ broadcasts: BroadcastSummary[] }>("/broadcast_status").then((b) => b.broadcasts));
  return (
    <section>
      <div class="page-head">
        <h1>{t("history.title")}</h1>
        <a class="button" href={href({ name: "broadcast-new" })}>
          {t("nav.broadcast")}
        </a>
      </div>
      <ErrorBox error={list.error} />
      {list.data?.length === 0 && <p class="empty">{t("history.none")}</p>}
      {list.data && list.data.length > 0 && (
        <table data-testid="history">
          <thead>
            <tr>
              <th>#</th>
              <th>{t("history.created")}</th>
              <th>{t("trade.symbol")}</th>
              <th>{t("trade.side")}</th>
              <th>{t("dispatch.status")}</th>
              <th class="num">{t("status.executed")}</th>
              <th class="num">{t("status.failed")}</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((b) => (
              <tr key={b.broadcast_id} data-broadcast={b.broadcast_id}>
                <td>
                  <a href={href({ name: "broadcast", id: b.broadcast_id })}>{b.broadcast_id}</a>
                </td>
                <td>{formatTime(b.created_at)}</td>
                <td>{b.symbol}</td>
                <td>{t(b.side === "sell" ? "trade.sell" : "trade.buy")}</td>
                <td>
                  <StatusBadge status={b.status} />
                </td>
                <td class="num">{b.counts.executed ?? 0}</td>
                <td class="num">{b.counts.failed ?? 0}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
