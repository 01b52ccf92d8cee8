// The recent broadcasts, newest first, each opening its live page; "Results" shows one
// broadcast's results and P&L under the table (read only when asked: a broadcast of a thousand
// followers costs terminal reads).
import { useState } from "preact/hooks";
import { api } from "../api/client";
import type { BroadcastSummary } from "../api/types";
import { ErrorBox, HeaderRow, num, PageHead, useLoad } from "../components/forms";
import { ResultsView } from "../components/Results";
import { StatusBadge } from "../components/StatusBadge";
import { formatTime, t } from "../i18n";
import { href } from "../router";

export function BroadcastHistoryPage() {
  const list = useLoad(() => api.get<{ broadcasts: BroadcastSummary[] }>("/broadcast_status").then((b) => b.broadcasts));
  const [shown, setShown] = useState<number | null>(null);
  return (
    <section>
      <PageHead title={t("history.title")} link={{ to: { name: "broadcast-new" }, label: t("nav.broadcast") }} />
      <ErrorBox error={list.error} />
      {list.data?.length === 0 && <p class="empty">{t("history.none")}</p>}
      {list.data && list.data.length > 0 && (
        <table data-testid="history">
          <HeaderRow columns={["history.id", "history.created", "trade.symbol", "trade.side", "dispatch.status", num("status.executed"), num("status.failed"), ""]} />
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
                <td>
                  <button type="button" class="link" onClick={() => setShown(shown === b.broadcast_id ? null : b.broadcast_id)}>
                    {t("results.show")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown !== null && (
        <div data-broadcast-results={shown}>
          <h2>{t("broadcast.progressTitle", { id: shown })}</h2>
          <ResultsView key={shown} path={`/broadcasts/${shown}/results`} />
        </div>
      )}
    </section>
  );
}
