// The caller's MT5 accounts: connection state (live from the session keeper when the server
// reports it: last seen, latency), balance, equity, free margin and margin level, connect, edit,
// positions, and the equity chart of the chosen account. Without live figures the page shows
// what the last connect read, and "—" before that.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import type { Account, ConnectResult } from "../api/types";
import { EquityChart } from "../components/EquityChart";
import { ErrorBox, HeaderRow, num, PageHead, useAction, useLoad } from "../components/forms";
import { StatusBadge } from "../components/StatusBadge";
import { formatTime, t } from "../i18n";
import { href } from "../router";
import { createStore, useStore } from "../store";

/** What the last connect of each account said (balance, equity, currency), this page visit on. */
export const lastConnect = createStore<Record<number, ConnectResult>>({});

const LIVE_REFRESH_MS = 5000;

export interface Figures {
  currency: string;
  balance: string;
  equity: string;
  margin_free: string;
  margin_level: string | null;
  /** From the session keeper (live), or from this visit's last connect. */
  live: boolean;
}

/** The live figures: from the account itself once the server reports them (the session
 *  keeper's balance, equity, margin_free, margin_level), else the last connect's. */
export function figuresOf(account: Account, connected?: ConnectResult): Figures | null {
  const currency = account.currency ?? connected?.account_info.currency ?? "";
  if (account.balance != null && account.equity != null) {
    const free = account.margin_free ?? null;
    return { currency, balance: account.balance, equity: account.equity, margin_free: free ?? "—", margin_level: account.margin_level ?? null, live: true };
  }
  if (!connected) return null;
  const info = connected.account_info;
  return { currency, balance: info.balance, equity: info.equity, margin_free: info.margin_free, margin_level: null, live: false };
}

/** When the server last heard from the terminal, and how fast it answered, if it says. */
function SeenLine({ account }: { account: Account }) {
  if (account.last_error) return <div class="muted small">{account.last_error}</div>;
  const seen = account.last_seen_at ?? account.last_connected_at;
  return (
    <div class="muted small" data-field="last-seen">
      {seen ? t(account.last_seen_at ? "accounts.seen" : "accounts.connectedAt", { time: formatTime(seen) }) : "—"}
      {account.latency_ms != null && <span data-field="latency"> · {t("accounts.latency", { ms: account.latency_ms })}</span>}
    </div>
  );
}

export function AccountsPage() {
  const accounts = useLoad(() => api.get<{ accounts: Account[] }>("/accounts").then((b) => b.accounts));
  const connects = useStore(lastConnect);
  const [chartOf, setChartOf] = useState<number | null>(null);
  const [connecting, setConnecting] = useState<number | null>(null);
  const connect = useAction();
  // Live figures (a session keeper reports them): read again every few seconds while shown.
  const live = accounts.data?.some((a) => a.last_seen_at != null || a.balance != null) ?? false;
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(accounts.reload, LIVE_REFRESH_MS);
    return () => clearInterval(timer);
  }, [live]);
  const connectAccount = (id: number) => {
    setConnecting(id);
    void connect.runTask(async () => {
      try {
        const result = (await api.post<ConnectResult>(`/accounts/${id}/connect`)).body;
        lastConnect.set({ ...lastConnect.get(), [id]: result });
      } finally {
        setConnecting(null);
        accounts.reload();
      }
    });
  };

  return (
    <section>
      <PageHead title={t("accounts.title")} link={{ to: { name: "account-new" }, label: t("accounts.add") }} />
      <ErrorBox error={accounts.error ?? connect.error} />
      {accounts.data && accounts.data.length === 0 && <p class="empty">{t("accounts.none")}</p>}
      {accounts.data && accounts.data.length > 0 && (
        <table data-testid="accounts">
          <HeaderRow columns={["accounts.name", "accounts.login", "accounts.state", num("accounts.balance"), num("accounts.equity"), num("accounts.freeMargin"), num("accounts.marginLevel"), ""]} />
          <tbody>
            {accounts.data.map((account) => {
              const figures = figuresOf(account, connects[account.id]);
              return (
                <tr key={account.id} data-account={account.id}>
                  <td>
                    {account.account_name} <span class="muted">{t(account.account_type === "live" ? "accounts.live" : "accounts.demo")}</span>
                  </td>
                  <td>
                    {account.login} @ {account.server}
                  </td>
                  <td>
                    <StatusBadge status={account.connection_status} />
                    <SeenLine account={account} />
                  </td>
                  <td class="num" data-field="balance">{figures ? `${figures.balance} ${figures.currency}`.trim() : "—"}</td>
                  <td class="num" data-field="equity">{figures ? figures.equity : "—"}</td>
                  <td class="num" data-field="free-margin">{figures ? figures.margin_free : "—"}</td>
                  <td class="num" data-field="margin-level">{figures?.margin_level ? `${figures.margin_level} %` : "—"}</td>
                  <td class="actions">
                    <button type="button" disabled={connecting !== null} onClick={() => connectAccount(account.id)}>
                      {connecting === account.id ? t("accounts.connecting") : t("accounts.connect")}
                    </button>
                    <a href={href({ name: "positions", id: account.id })}>{t("accounts.positions")}</a>
                    <a href={href({ name: "account-edit", id: account.id })}>{t("accounts.edit")}</a>
                    <button type="button" class="link" onClick={() => setChartOf(chartOf === account.id ? null : account.id)}>
                      {t("accounts.chart")}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {chartOf !== null && (
        <div class="card">
          <h2>{t("equity.title", { name: accounts.data?.find((a) => a.id === chartOf)?.account_name ?? "" })}</h2>
          <EquityChart accountId={chartOf} />
        </div>
      )}
    </section>
  );
}
