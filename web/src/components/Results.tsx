// A dispatch's results and P&L (GET /api/broadcasts/{id}/results, /api/dispatches/{id}/results,
// /api/me/dispatches/{id}/results): the totals per account currency and in USD, winners and
// losers, then per target account what it opened and closed, at what average prices, realised
// and floating P&L in its own currency, and the follow-ups applied. Figures stay the server's
// decimal strings: nothing here adds money up.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { CurrencyTotal, Results, TargetResult } from "../api/types";
import { formatTime, t } from "../i18n";
import type { MessageKey } from "../i18n/en";
import { DataTable, ErrorBox, HeaderRow, num, useLoad, type Column } from "./forms";
import { StatusBadge } from "./StatusBadge";

const PER_PAGE = 1000;
const MAX_POLLS = 10;
const FIRST_ROWS = 100;

/** "gain" / "loss" for a signed decimal string (by its sign alone, no arithmetic). */
export function signClass(value: string | null | undefined): string | undefined {
  if (value == null) return undefined;
  if (value.startsWith("-")) return /^-0(\.0*)?$/.test(value) ? undefined : "loss";
  return /^\+?0(\.0*)?$/.test(value) ? undefined : "gain";
}

function Money({ value, currency }: { value: string | null | undefined; currency?: string | null }) {
  if (value == null) return <>—</>;
  return (
    <span class={signClass(value)}>
      {value}
      {currency ? ` ${currency}` : ""}
    </span>
  );
}

/** ``path``: the results route under /api; ``version``: a change loads them again (a follow-up
 *  finished). While targets are still pending or due a read, "Refresh" reads them again. */
export function ResultsView({ path, version = 0 }: { path: string; version?: number }) {
  const [round, setRound] = useState(0);
  const results = useLoad(() => api.get<Results>(`${path}?per_page=${PER_PAGE}`), [path, version, round]);
  const data = results.data;
  const waiting = data ? data.refresh.waiting + (data.totals.by_status.pending ?? 0) : 0;
  // Rows still running, or targets the server left for the next request (it reads at most
  // RESULTS_MAX_READS terminals per request): look again shortly, a bounded number of times.
  const [polls, setPolls] = useState(0);
  useEffect(() => setPolls(0), [path, version]);
  useEffect(() => {
    if (!data || waiting === 0 || polls >= MAX_POLLS) return;
    const timer = setTimeout(() => (setPolls((n) => n + 1), setRound((n) => n + 1)), 1500);
    return () => clearTimeout(timer);
  }, [data]);
  return (
    <div class="card results" data-testid="results" data-loading={results.loading ? "true" : "false"}>
      <div class="page-head">
        <h2>{t("results.title")}</h2>
        <button type="button" class="secondary" disabled={results.loading} onClick={() => setRound((n) => n + 1)}>
          {t("results.refresh")}
        </button>
      </div>
      <ErrorBox error={results.error} />
      {data && (
        <>
          <ResultTotals results={data} />
          {waiting > 0 && <p class="muted">{t("results.waiting", { n: waiting })}</p>}
          {data.total > data.targets.length && <p class="muted">{t("broadcast.shownOf", { shown: data.targets.length, total: data.total })}</p>}
          <TargetResults targets={data.targets} />
        </>
      )}
    </div>
  );
}

const TOTAL_COLUMNS: Column[] = ["results.currency", num("results.targets"), num("results.realised"), num("results.floating")];
TOTAL_COLUMNS.push(num("results.net"), num("results.usdNet"), "results.rate");

function ResultTotals({ results }: { results: Results }) {
  const { totals } = results;
  const usd = totals.usd;
  return (
    <div data-testid="results-totals">
      <div class="counts">
        <span class="count" data-testid="winners">
          <span class="badge badge-completed">{t("results.winners")}</span> {totals.winners}
        </span>
        <span class="count" data-testid="losers">
          <span class="badge badge-failed">{t("results.losers")}</span> {totals.losers}
        </span>
        <span class="count">
          <span class="badge">{t("results.breakeven")}</span> {totals.breakeven}
        </span>
        {Object.entries(totals.by_status)
          .filter(([, n]) => n > 0)
          .map(([status, n]) => (
            <span key={status} class="count">
              <StatusBadge status={`result_${status}`} /> {n}
            </span>
          ))}
      </div>
      {totals.by_currency.length > 0 && (
        <table data-testid="currency-totals">
          <HeaderRow columns={TOTAL_COLUMNS} />
          <tbody>
            {totals.by_currency.map((row) => (
              <CurrencyRow key={row.currency} row={row} />
            ))}
            <tr class="total" data-currency="USD-total">
              <th>{t(usd.complete ? "results.usdTotal" : "results.usdTotalPartial")}</th>
              <td class="num">{totals.by_currency.reduce((n, row) => n + row.targets, 0)}</td>
              <td class="num">
                <Money value={usd.realised} currency="USD" />
              </td>
              <td class="num">
                <Money value={usd.floating} currency="USD" />
              </td>
              <td class="num" data-field="usd-net">
                <Money value={usd.net} currency="USD" />
              </td>
              <td />
              <td />
            </tr>
          </tbody>
        </table>
      )}
    </div>
  );
}

function CurrencyRow({ row }: { row: CurrencyTotal }) {
  return (
    <tr data-currency={row.currency}>
      <td>{row.currency}</td>
      <td class="num">{row.targets}</td>
      <td class="num">
        <Money value={row.realised} />
      </td>
      <td class="num">
        <Money value={row.floating} />
      </td>
      <td class="num" data-field="net">
        <Money value={row.net} />
      </td>
      <td class="num">{row.usd ? <Money value={row.usd.net} currency="USD" /> : "—"}</td>
      <td class="muted small">{rateText(row)}</td>
    </tr>
  );
}

/** How a currency was converted: the quote's pair and rate, "—" for USD itself. */
function rateText(row: CurrencyTotal): string {
  if (!row.usd) return t("results.noQuote");
  if (row.usd.quote) return `${row.usd.quote.pair} ${row.usd.rate}`;
  return row.currency === "USD" ? "—" : row.usd.rate;
}

const TARGET_COLUMNS: Column[] = ["dispatch.account", "dispatch.status", num("results.opened"), num("results.openPrice")];
TARGET_COLUMNS.push(num("results.closed"), num("results.closePrice"), num("results.realised"), num("results.floating"));
TARGET_COLUMNS.push(num("results.net"), "results.actions", "results.note");

/** The first FIRST_ROWS targets, then all of them on demand: the totals say the whole story, and
 *  a thousand more rows would hold up the page they sit under. */
function TargetResults({ targets }: { targets: TargetResult[] }) {
  const [all, setAll] = useState(false);
  if (!targets.length) return <p class="empty">{t("results.none")}</p>;
  const shown = all ? targets : targets.slice(0, FIRST_ROWS);
  return (
    <>
      <DataTable testId="target-results" mark="account" columns={TARGET_COLUMNS} rows={shown} keyOf={(r) => r.account_id} cells={(r) => <TargetCells row={r} />} />
      {shown.length < targets.length && (
        <button type="button" class="secondary" onClick={() => setAll(true)}>
          {t("results.showAll", { n: targets.length })}
        </button>
      )}
    </>
  );
}

function TargetCells({ row }: { row: TargetResult }) {
  const note = row.error ?? row.reason;
  return (
    <>
      <td>{row.account_id}</td>
      <td>
        <StatusBadge status={`result_${row.status}`} />
      </td>
      <td class="num">{row.opened_volume ?? "—"}</td>
      <td class="num">{row.open_price ?? "—"}</td>
      <td class="num">{row.closed_volume ?? "—"}</td>
      <td class="num">{row.close_price ?? "—"}</td>
      <td class="num" data-field="realised">
        <Money value={row.realised} currency={row.currency} />
      </td>
      <td class="num" data-field="floating">
        <Money value={row.floating} currency={row.currency} />
      </td>
      <td class="num" data-field="net">
        <Money value={row.net} currency={row.currency} />
      </td>
      <td data-field="actions">
        {row.actions.map((a) => (
          <div key={a.action_id} class="small">
            {actionName(a.action)} <StatusBadge status={a.status} />
            {a.closed_volume ? ` ${a.closed_volume}` : ""}
            <span class="muted"> {formatTime(a.executed_at)}</span>
          </div>
        ))}
      </td>
      <td class={row.error ? "error-text" : "muted"}>{note ?? ""}</td>
    </>
  );
}

function actionName(action: string): string {
  const key = `results.action.${action}` as MessageKey;
  return t(key) === key ? action : t(key);
}
