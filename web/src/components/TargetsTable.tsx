// Every target row of a dispatch (one account x take-profit leg) and where it stands.
import { formatTime, t } from "../i18n";
import type { Target } from "../api/types";
import { StatusBadge } from "./StatusBadge";

export function Counts({ counts, total }: { counts: Record<string, number>; total: number }) {
  const done = total - (counts.pending ?? 0) - (counts.in_flight ?? 0);
  return (
    <div class="counts" data-testid="counts">
      <progress max={total || 1} value={done} />
      <span>{t("dispatch.progress", { done, total })}</span>
      {Object.entries(counts)
        .filter(([, n]) => n > 0)
        .map(([status, n]) => (
          <span key={status} class="count">
            <StatusBadge status={status} /> {n}
          </span>
        ))}
    </div>
  );
}

export function TargetsTable({ targets }: { targets: Target[] }) {
  return (
    <table class="targets" data-testid="targets">
      <thead>
        <tr>
          <th>{t("dispatch.account")}</th>
          <th>{t("dispatch.leg")}</th>
          <th>{t("dispatch.symbol")}</th>
          <th class="num">{t("dispatch.volume")}</th>
          <th>{t("dispatch.status")}</th>
          <th class="num">{t("dispatch.price")}</th>
          <th>{t("dispatch.position")}</th>
          <th>{t("dispatch.executedAt")}</th>
          <th>{t("dispatch.error")}</th>
        </tr>
      </thead>
      <tbody>
        {targets.map((row) => (
          <tr key={row.row_id} data-row={row.row_id}>
            <td>{row.account_id}</td>
            <td>{row.leg}</td>
            <td>{row.symbol ?? "—"}</td>
            <td class="num">{row.filled_volume ?? row.volume ?? "—"}</td>
            <td>
              <StatusBadge status={row.status} />
            </td>
            <td class="num">{row.price ?? "—"}</td>
            <td>{row.position ?? "—"}</td>
            <td>{formatTime(row.executed_at)}</td>
            <td class="error-text">{row.error ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
