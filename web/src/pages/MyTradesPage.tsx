// "My trades": every dispatch that traded the caller's accounts (GET /api/me/dispatches, newest
// first, a page at a time), whoever sent it: their own orders, the broadcasts they follow and
// their follow-ups. One opens with only the caller's own targets and results
// (GET /api/me/dispatches/{id} and .../results), polled until final.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import { FINAL_DISPATCH_STATUSES, type Dispatch, type MyDispatchList } from "../api/types";
import { ErrorBox, HeaderRow, PageHead, useLoad } from "../components/forms";
import { ResultsView } from "../components/Results";
import { StatusBadge } from "../components/StatusBadge";
import { Counts, TargetsTable } from "../components/TargetsTable";
import { formatTime, t } from "../i18n";
import { href } from "../router";

const PER_PAGE = 25;
const POLL_MS = 1000;

export function MyTradesPage() {
  const [page, setPage] = useState(1);
  const list = useLoad(() => api.get<MyDispatchList>(`/me/dispatches?page=${page}&per_page=${PER_PAGE}`), [page]);
  const data = list.data;
  const pages = data ? Math.max(1, Math.ceil(data.total / data.per_page)) : 1;
  return (
    <section>
      <PageHead title={t("mine.title")}>
        <button type="button" class="secondary" disabled={list.loading} onClick={list.reload}>
          {t("results.refresh")}
        </button>
      </PageHead>
      <p class="muted">{t("mine.intro")}</p>
      <ErrorBox error={list.error} />
      {data?.dispatches.length === 0 && <p class="empty">{t("mine.none")}</p>}
      {data && data.dispatches.length > 0 && (
        <table data-testid="my-dispatches">
          <HeaderRow columns={["history.id", "history.created", "mine.kind", "trade.symbol", "trade.side", "mine.accounts", "dispatch.status", "mine.rows"]} />
          <tbody>
            {data.dispatches.map((d) => (
              <tr key={d.dispatch_id} data-dispatch={d.dispatch_id} data-kind={d.kind}>
                <td>
                  <a href={href({ name: "my-trade", id: d.dispatch_id })}>{d.dispatch_id}</a>
                </td>
                <td>{formatTime(d.created_at)}</td>
                <td>
                  {t(`mine.kind.${d.kind}`)}
                  {d.action ? ` (${d.action})` : ""}
                </td>
                <td>{d.symbol ?? "—"}</td>
                <td>{d.side ? t(d.side === "sell" ? "trade.sell" : "trade.buy") : "—"}</td>
                <td>{d.account_ids.join(", ")}</td>
                <td>
                  <StatusBadge status={d.status} />
                </td>
                <td>
                  {Object.entries(d.counts)
                    .filter(([, n]) => n > 0)
                    .map(([status, n]) => (
                      <span key={status} class="count">
                        <StatusBadge status={status} /> {n}
                      </span>
                    ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && pages > 1 && (
        <p class="row" data-testid="pager">
          <button type="button" class="secondary" disabled={page <= 1 || list.loading} onClick={() => setPage(page - 1)}>
            {t("mine.previous")}
          </button>
          <span>{t("mine.page", { page, pages })}</span>
          <button type="button" class="secondary" disabled={page >= pages || list.loading} onClick={() => setPage(page + 1)}>
            {t("mine.next")}
          </button>
        </p>
      )}
    </section>
  );
}

/** One dispatch as it reached the caller's accounts: their targets, then their results. */
export function MyTradePage({ id }: { id: number }) {
  const loaded = useLoad(() => api.get<Dispatch>(`/me/dispatches/${id}?per_page=1000`), [id]);
  const [dispatch, setDispatch] = useState<Dispatch | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => setDispatch(loaded.data), [loaded.data]);
  const final = dispatch ? FINAL_DISPATCH_STATUSES.has(dispatch.status) : false;
  useEffect(() => {
    if (!dispatch || final) return;
    const timer = setTimeout(() => {
      api.get<Dispatch>(`/me/dispatches/${id}?per_page=1000`).then(setDispatch, setError);
    }, POLL_MS);
    return () => clearTimeout(timer);
  }, [dispatch]);
  return (
    <section>
      <PageHead title={t("mine.dispatchTitle", { id })} link={{ to: { name: "my-trades" }, label: t("mine.back") }} />
      <ErrorBox error={loaded.error ?? error} />
      {dispatch && (
        <div class="card" data-testid="my-dispatch" data-dispatch={dispatch.dispatch_id} data-kind={dispatch.kind} data-status={dispatch.status}>
          <h2>
            {t(`mine.kind.${dispatch.kind}`)} <StatusBadge status={dispatch.status} />
          </h2>
          <Counts counts={dispatch.counts} total={dispatch.total} />
          <TargetsTable targets={dispatch.targets} />
        </div>
      )}
      {dispatch && final && dispatch.kind !== "action" && <ResultsView path={`/me/dispatches/${id}/results`} />}
    </section>
  );
}
