// The caller's MT5 accounts: connection state, the last known balance and equity, connect,
// edit, positions, and the equity chart of the chosen account.
import { useState } from "preact/hooks";
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
  const [connecting, setConnecting] = useState<number | null>(null);
  const connect = useAction();
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
          <HeaderRow columns={["accounts.name", "accounts.login", "accounts.state", num("accounts.balance"), num("accounts.equity"), num("accounts.freeMargin"), ""]} />
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
