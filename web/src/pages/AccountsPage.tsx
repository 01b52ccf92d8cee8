// The caller's MT5 accounts: connection state, the last known balance and equity, connect,
// edit, positions, and the equity chart of the chosen account.
import { useState } from "preact/hooks";
import { api } from "../api/client";
import type { Account, ConnectResult } from "../api/types";
import { EquityChart } from "../components/EquityChart";
import { ErrorBox, useLoad } from "../components/forms";
import { StatusBadge } from "../components/StatusBadge";
import { formatTime, t } from "../i18n";
import { href } from "../router";
import { createStore, useStore } from "../store";

/** What the last connect of each account said (balance, equity, currency), this page visit on. */
export const lastConnect = createStore<Record<number, ConnectResult>>({});

export interface Figures {
  currency: string;
  balance: string;
  equity: string;
  margin_free: string;
}

/** The live figures: from the account itself once the server reports them, else the last connect. */
export function figuresOf(account: Account, connected?: ConnectResult): Figures | null {
  if (account.balance != null && account.equity != null) {
    return { currency: account.currency ?? "", balance: account.balance, equity: account.equity, margin_free: account.margin_free ?? "—" };
  }
  if (!connected) return null;
  const info = connected.account_info;
  return { currency: info.currency, balance: info.balance, equity: info.equity, margin_free: info.margin_free };
}

export function AccountsPage() {
  const accounts = useLoad(() => api.get<{ accounts: Account[] }>("/accounts").then((b) => b.accounts));
  const connects = useStore(lastConnect);
  const [chartOf, setChartOf] = useState<number | null>(null);
  const [busy, setBusy] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function connect(id: number) {
    setBusy(id);
    setError(null);
    try {
      const result = (await api.post<ConnectResult>(`/accounts/${id}/connect`)).body;
      lastConnect.set({ ...lastConnect.get(), [id]: result });
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
      accounts.reload();
    }
  }

  return (
    <section>
      <div class="page-head">
        <h1>{t("accounts.title")}</h1>
        <a class="button" href={href({ name: "account-new" })}>
          {t("accounts.add")}
        </a>
      </div>
      <ErrorBox error={accounts.error ?? error} />
      {accounts.data && accounts.data.length === 0 && <p class="empty">{t("accounts.none")}</p>}
      {accounts.data && accounts.data.length > 0 && (
        <table data-testid="accounts">
          <thead>
            <tr>
              <th>{t("accounts.name")}</th>
              <th>{t("accounts.login")}</th>
              <th>{t("accounts.state")}</th>
              <th class="num">{t("accounts.balance")}</th>
              <th class="num">{t("accounts.equity")}</th>
              <th class="num">{t("accounts.freeMargin")}</th>
              <th />
            </tr>
          </thead>
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
                    <div class="muted small">{account.last_error ?? formatTime(account.last_connected_at)}</div>
                  </td>
                  <td class="num" data-field="balance">{figures ? `${figures.balance} ${figures.currency}` : "—"}</td>
                  <td class="num" data-field="equity">{figures ? figures.equity : "—"}</td>
                  <td class="num">{figures ? figures.margin_free : "—"}</td>
                  <td class="actions">
                    <button type="button" disabled={busy === account.id} onClick={() => void connect(account.id)}>
                      {busy === account.id ? t("accounts.connecting") : t("accounts.connect")}
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
