// A dry run before sending (POST /api/broadcast_orders or /api/send_orders with "dry_run": true):
// per target the volume, the legs, the risk at the stop in the account's currency and in USD,
// or why it would be skipped or fail. Nothing is created or sent; sending stays its own click.
// A preview of another body than the form's current one is not shown (it would mislead).
import { useState } from "preact/hooks";
import { api } from "../api/client";
import type { Preview, PreviewTarget } from "../api/types";
import { t } from "../i18n";
import type { MessageKey } from "../i18n/en";
import { DataTable, ErrorBox, num, useAction } from "./forms";

export function DryRunPreview({ path, body, disabled = false }: { path: string; body: Record<string, unknown>; disabled?: boolean }) {
  const [shown, setShown] = useState<{ for: string; preview: Preview } | null>(null);
  const current = JSON.stringify(body);
  const run = useAction();
  const preview = () =>
    run.runTask(async () => {
      setShown(null);
      const answer = await api.post<Preview>(path, { ...body, dry_run: true });
      setShown({ for: current, preview: answer.body });
    });
  const fresh = shown && shown.for === current ? shown.preview : null;
  return (
    <div class="preview" data-testid="dry-run">
      <button type="button" class="secondary" data-testid="dry-run-button" disabled={run.busy || disabled} onClick={() => void preview()}>
        {t("preview.run")}
      </button>
      <ErrorBox error={run.error} />
      {shown && !fresh && <p class="muted small">{t("preview.stale")}</p>}
      {fresh && <PreviewTable preview={fresh} />}
    </div>
  );
}

function PreviewTable({ preview }: { preview: Preview }) {
  return (
    <>
      <p data-testid="preview-counts">
        {t("preview.summary", { accounts: preview.accounts })}{" "}
        {Object.entries(preview.counts)
          .filter(([, n]) => n > 0)
          .map(([verdict, n]) => (
            <span key={verdict} class="count">
              <Verdict verdict={verdict} /> {n}
            </span>
          ))}
      </p>
      <DataTable
        testId="preview"
        mark="account"
        columns={["dispatch.account", "preview.verdict", "trade.symbol", num("dispatch.volume"), "preview.legs", num("preview.risk"), num("preview.riskUsd"), "preview.reason"]}
        rows={preview.targets}
        keyOf={(row) => row.account_id}
        cells={(row) => <PreviewCells row={row} />}
      />
    </>
  );
}

function Verdict({ verdict }: { verdict: string }) {
  const key = `preview.${verdict}` as MessageKey;
  return (
    <span class={`badge badge-${verdict}`} data-verdict={verdict}>
      {t(key) === key ? verdict : t(key)}
    </span>
  );
}

function PreviewCells({ row }: { row: PreviewTarget }) {
  return (
    <>
      <td>{row.account_id}</td>
      <td>
        <Verdict verdict={row.verdict} />
      </td>
      <td>{row.symbol ?? "—"}</td>
      <td class="num" data-field="volume">
        {row.volume ?? "—"}
      </td>
      <td>{row.legs.length > 1 ? row.legs.join(" + ") : ""}</td>
      <td class="num" data-field="risk">
        {row.risk ? `${row.risk.amount} ${row.risk.currency}` : "—"}
      </td>
      <td class="num">{row.risk?.usd ?? "—"}</td>
      <td class="error-text">
        {row.reason && <code>{row.reason}</code>} {row.message ?? ""}
        {row.warnings.length > 0 && <small class="muted"> {row.warnings.join("; ")}</small>}
      </td>
    </>
  );
}
