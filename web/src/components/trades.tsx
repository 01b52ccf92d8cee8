// Managing open trades (the trade-management API): on a position modify SL/TP, breakeven,
// close half, close; on a pending order modify and cancel. Each goes through the order ledger
// as an action dispatch, sent with an Idempotency-Key and answered when final (wait_s).
import { useState } from "preact/hooks";
import { api, request } from "../api/client";
import { ApiError, idempotencyKey } from "../api/http";
import type { Dispatch, PendingOrder, Position } from "../api/types";
import { formatTime, t } from "../i18n";
import type { MessageKey } from "../i18n/en";
import { DispatchView } from "./DispatchView";
import { DataTable, ErrorBox, num, TextField, useAction, useLoad, type Column } from "./forms";

const WAIT_S = 10;

/** Send one trade action; an action the terminal refused is thrown with the terminal's reason. */
export async function tradeAction(method: string, path: string, body?: unknown): Promise<Dispatch> {
  const sent = await request<Dispatch>(method, `${path}?wait_s=${WAIT_S}`, { body, headers: { "Idempotency-Key": idempotencyKey() } });
  const failed = sent.body.targets.find((row) => row.status === "failed" || row.status === "expired");
  if (failed) throw new ApiError(422, "action_failed", failed.error ?? failed.status);
  return sent.body;
}

/** MT5 writes "no stop" as 0; the form shows it empty, and an empty field removes the stop. */
const stopText = (value: string) => (Number(value) === 0 ? "" : value);
const stopValue = (text: string) => (text.trim() === "" ? null : text.trim());

interface Stops {
  stop_loss: string | null;
  take_profit: string | null;
}

function StopsEditor(props: { stopLoss: string; takeProfit: string; onSave: (stops: Stops) => void; onCancel: () => void }) {
  const [stopLoss, setStopLoss] = useState(stopText(props.stopLoss));
  const [takeProfit, setTakeProfit] = useState(stopText(props.takeProfit));
  return (
    <div class="stops-editor">
      <TextField label="SL" name="new_sl" inputMode="decimal" value={stopLoss} onChange={setStopLoss} />
      <TextField label="TP" name="new_tp" inputMode="decimal" value={takeProfit} onChange={setTakeProfit} />
      <button type="button" onClick={() => props.onSave({ stop_loss: stopValue(stopLoss), take_profit: stopValue(takeProfit) })}>
        {t("trades.save")}
      </button>
      <button type="button" class="link" onClick={props.onCancel}>
        {t("trades.cancelEdit")}
      </button>
    </div>
  );
}

type RowButton = [MessageKey, () => Promise<unknown>, "danger"?];

/** A position's or an order's actions: SL/TP (PATCH ``path``) and ``buttons``, one at a time;
 *  after each the editor closes and the table reloads (``onDone``). */
function RowActions(props: { path: string; sl: string; tp: string; buttons: RowButton[]; onDone: () => void }) {
  const [editing, setEditing] = useState(false);
  const action = useAction();
  const run = (task: () => Promise<unknown>) =>
    void action.runTask(async () => {
      await task();
      setEditing(false);
      props.onDone();
    });
  const save = (stops: Stops) => run(() => tradeAction("PATCH", props.path, stops));
  return (
    <div class="actions">
      {editing ? (
        <StopsEditor stopLoss={props.sl} takeProfit={props.tp} onCancel={() => setEditing(false)} onSave={save} />
      ) : (
        <button type="button" class="secondary" disabled={action.busy} onClick={() => setEditing(true)}>
          {t("trades.stops")}
        </button>
      )}
      {!editing &&
        props.buttons.map(([label, task, style]) => (
          <button key={label} type="button" class={style ?? "secondary"} disabled={action.busy} onClick={() => run(task)}>
            {t(label)}
          </button>
        ))}
      <ErrorBox error={action.error} />
    </div>
  );
}

/** Modify SL/TP, breakeven, close half, close: one open position's actions. */
export function PositionActions({ accountId, position, onDone }: { accountId: number; position: Position; onDone: () => void }) {
  const path = `/accounts/${accountId}/positions/${position.ticket}`;
  const buttons: RowButton[] = [
    ["trades.breakeven", () => tradeAction("POST", `${path}/breakeven`, {})],
    ["trades.closeHalf", () => tradeAction("POST", `${path}/close`, { percent: "50" })],
    ["trades.close", () => tradeAction("POST", `${path}/close`, {}), "danger"],
  ];
  return <RowActions path={path} sl={position.sl} tp={position.tp} buttons={buttons} onDone={onDone} />;
}

/** Modify SL/TP and cancel: one pending order's actions. */
export function OrderActions({ accountId, order, onDone }: { accountId: number; order: PendingOrder; onDone: () => void }) {
  const path = `/accounts/${accountId}/orders/${order.ticket}`;
  const buttons: RowButton[] = [["trades.cancelOrder", () => tradeAction("DELETE", path), "danger"]];
  return <RowActions path={path} sl={order.sl} tp={order.tp} buttons={buttons} onDone={onDone} />;
}

const ORDER_COLUMNS: Column[] = ["positions.ticket", "trade.symbol", "orders.type", num("send.volume"), num("trade.price")];
ORDER_COLUMNS.push(num("positions.sl"), num("positions.tp"), "orders.placed", "orders.expiration", "");

/** An account's pending orders (GET /api/accounts/{id}/orders), each with modify and cancel. */
export function PendingOrders({ accountId }: { accountId: number }) {
  const orders = useLoad(() => api.get<{ orders: PendingOrder[] }>(`/accounts/${accountId}/orders`).then((b) => b.orders), [accountId]);
  if (!orders.data?.length) return <ErrorBox error={orders.error} />;
  return (
    <div class="card">
      <h2>{t("orders.title")}</h2>
      <DataTable testId="orders" columns={ORDER_COLUMNS} rows={orders.data} keyOf={(o) => o.ticket} cells={(o) => <OrderCells accountId={accountId} order={o} onDone={orders.reload} />} />
    </div>
  );
}

function OrderCells({ accountId, order, onDone }: { accountId: number; order: PendingOrder; onDone: () => void }) {
  return (
    <>
      <td>{order.ticket}</td>
      <td>{order.symbol}</td>
      <td>{order.type}</td>
      <td class="num">{order.volume}</td>
      <td class="num">{order.price_open}</td>
      <td class="num">{order.sl}</td>
      <td class="num">{order.tp}</td>
      <td>{formatTime(order.time_setup)}</td>
      <td>{formatTime(order.expiration)}</td>
      <td>
        <OrderActions accountId={accountId} order={order} onDone={onDone} />
      </td>
    </>
  );
}

const FOLLOW_UPS = {
  breakeven: { action: "breakeven" },
  closeHalf: { action: "close", percent: "50" },
  closeAll: { action: "close" },
} as const;

/** A super admin's follow-ups on every position a broadcast opened, then the action's dispatch. */
export function BroadcastFollowUps({ broadcastId, onDone }: { broadcastId: number; onDone?: () => void }) {
  return <FollowUps path={`/broadcasts/${broadcastId}/actions`} title={t("followUps.title")} onDone={onDone} />;
}

/** The same on one of the caller's own dispatches (POST /api/dispatches/{id}/actions). (DispatchView
 *  shows these and they show DispatchView: the modules import each other, used only in render.) */
export function DispatchFollowUps({ dispatchId, onDone }: { dispatchId: number; onDone?: () => void }) {
  return <FollowUps path={`/dispatches/${dispatchId}/actions`} title={t("followUps.ownTitle")} onDone={onDone} />;
}

/** ``path``: where the follow-up is posted; then the action's dispatch, until final (``onDone``). */
function FollowUps({ path, title, onDone }: { path: string; title: string; onDone?: () => void }) {
  const [followUp, setFollowUp] = useState<Dispatch | null>(null);
  const action = useAction();
  const send = (name: keyof typeof FOLLOW_UPS) =>
    void action.runTask(async () => {
      const headers = { "Idempotency-Key": idempotencyKey() };
      const created = await api.post<{ action_id: number }>(path, FOLLOW_UPS[name], headers);
      setFollowUp(await api.get<Dispatch>(`/dispatches/${created.body.action_id}`));
    });
  return (
    <div class="follow-ups" data-testid="follow-ups">
      <h2>{title}</h2>
      <div class="actions">
        {(Object.keys(FOLLOW_UPS) as (keyof typeof FOLLOW_UPS)[]).map((name) => (
          <button key={name} type="button" class={name === "closeAll" ? "danger" : "secondary"} disabled={action.busy} onClick={() => send(name)}>
            {t(`followUps.${name}`)}
          </button>
        ))}
      </div>
      <ErrorBox error={action.error} />
      {followUp && <DispatchView key={followUp.dispatch_id} initial={followUp} onFinal={onDone} />}
    </div>
  );
}
