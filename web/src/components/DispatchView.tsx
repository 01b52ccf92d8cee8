// A dispatch (an order, a broadcast's follow-up) with its counts and every target, polled at
// GET /api/dispatches/{id} until it is final.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import { FINAL_DISPATCH_STATUSES, type Dispatch } from "../api/types";
import { t } from "../i18n";
import { href } from "../router";
import { ErrorBox } from "./forms";
import { StatusBadge } from "./StatusBadge";
import { Counts, TargetsTable } from "./TargetsTable";

const POLL_MS = 1000;

/** ``linkPositions``: the accounts are the caller's own, so link to their positions. */
export function DispatchView({ initial, linkPositions = false }: { initial: Dispatch; linkPositions?: boolean }) {
  const [dispatch, setDispatch] = useState(initial);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (FINAL_DISPATCH_STATUSES.has(dispatch.status)) return;
    const timer = setTimeout(() => {
      api.get<Dispatch>(`/dispatches/${dispatch.dispatch_id}`).then(setDispatch, setError);
    }, POLL_MS);
    return () => clearTimeout(timer);
  }, [dispatch]);
  const accountIds = linkPositions ? [...new Set(dispatch.targets.map((row) => row.account_id))] : [];
  return (
    <div class="card" data-testid="dispatch" data-dispatch={dispatch.dispatch_id} data-kind={dispatch.kind} data-status={dispatch.status}>
      <h2>
        {t("dispatch.title", { id: dispatch.dispatch_id })} <StatusBadge status={dispatch.status} />
      </h2>
      <Counts counts={dispatch.counts} total={dispatch.total} />
      <TargetsTable targets={dispatch.targets} />
      <ErrorBox error={error} />
      <p>
        {accountIds.map((id) => (
          <a key={id} class="button secondary" href={href({ name: "positions", id })}>
            {t("send.seePositions", { id })}
          </a>
        ))}
      </p>
    </div>
  );
}
