// A dispatch (an order, a broadcast's follow-up) with its counts and every target, polled at
// GET /api/dispatches/{id} until it is final; an order of the caller's own also shows its rules
// (editable) and, once final, its results and P&L.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api/client";
import { FINAL_DISPATCH_STATUSES, type Dispatch } from "../api/types";
import { t } from "../i18n";
import { href } from "../router";
import { AutomationEditor } from "./AutomationEditor";
import { ErrorBox } from "./forms";
import { ResultsView } from "./Results";
import { DispatchFollowUps } from "./trades";
import { StatusBadge } from "./StatusBadge";
import { Counts, TargetsTable } from "./TargetsTable";

const POLL_MS = 1000;

interface Props {
  initial: Dispatch;
  /** The accounts are the caller's own, so link to their positions. */
  linkPositions?: boolean;
  /** An order of the caller's: its rules (editable) and its results once final. */
  own?: boolean;
  /** Called once, when the dispatch is final (a follow-up: the results are worth reading again). */
  onFinal?: () => void;
}

export function DispatchView({ initial, linkPositions = false, own = false, onFinal }: Props) {
  const [dispatch, setDispatch] = useState(initial);
  const [error, setError] = useState<unknown>(null);
  const [resultsVersion, setResultsVersion] = useState(0);
  const final = FINAL_DISPATCH_STATUSES.has(dispatch.status);
  useEffect(() => {
    if (final) onFinal?.();
  }, [final]);
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
        {own ? <a href={href({ name: "dispatch", id: dispatch.dispatch_id })}>{t("dispatch.title", { id: dispatch.dispatch_id })}</a> : t("dispatch.title", { id: dispatch.dispatch_id })}{" "}
        <StatusBadge status={dispatch.status} />
      </h2>
      <Counts counts={dispatch.counts} total={dispatch.total} />
      <TargetsTable targets={dispatch.targets} />
      <ErrorBox error={error} />
      {own && dispatch.kind === "orders" && (
        <>
          <AutomationEditor path={`/dispatches/${dispatch.dispatch_id}/automation`} current={dispatch.automation} />
          {final && <DispatchFollowUps dispatchId={dispatch.dispatch_id} onDone={() => setResultsVersion((n) => n + 1)} />}
          {final && <ResultsView path={`/dispatches/${dispatch.dispatch_id}/results`} version={resultsVersion} />}
        </>
      )}
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
