// Every target row of a dispatch (one account x take-profit leg) and where it stands.
import { Component } from "preact";
import { formatTime, t } from "../i18n";
import type { Target } from "../api/types";
import { HeaderRow, num, type Column } from "./forms";
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

const COLUMNS: Column[] = ["dispatch.account", "dispatch.leg", "dispatch.symbol", num("dispatch.volume"), "dispatch.status"];
COLUMNS.push(num("dispatch.price"), "dispatch.position", "dispatch.executedAt", "dispatch.error");

export function TargetsTable({ targets }: { targets: Target[] }) {
  return (
    <table class="targets" data-testid="targets">
      <HeaderRow columns={COLUMNS} />
      <tbody>
        {targets.map((row) => (
          <TargetRow key={row.row_id} row={row} />
        ))}
      </tbody>
    </table>
  );
}

/** One target row, drawn again only when its row object is replaced (an event about it): a
 *  broadcast page of a thousand rows redraws one row per event, not all of them. */
class TargetRow extends Component<{ row: Target }> {
  shouldComponentUpdate(next: { row: Target }): boolean {
    return next.row !== this.props.row;
  }

  render() {
    const { row } = this.props;
    return (
      <tr data-row={row.row_id}>
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
    );
  }
}
