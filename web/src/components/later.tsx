// Places kept for what the server cannot do yet. Each renders nothing today (nothing is faked);
// when its API lands, the component gets its body here and every page that shows it already
// has it in the right spot.

import type { Position } from "../api/types";

/** Modify SL/TP, breakeven, close, close half, on one open position.
 *  Needs the trade-management API (backend/ledger actions behind new /api routes). */
export function PositionActions(_props: { accountId: number; position: Position }) {
  return null;
}

/** An account's pending orders with modify and cancel (the same trade-management API). */
export function PendingOrders(_props: { accountId: number }) {
  return null;
}

/** The broadcast composer's dry run: each target's size and checks before sending. */
export function DryRunPreview(_props: { body: unknown }) {
  return null;
}

/** A finished broadcast's results and P&L per target, with follow-ups (breakeven, close half,
 *  close all): GET /api/broadcasts/{id}/results and the trade-management API. */
export function BroadcastResults(_props: { broadcastId: number }) {
  return null;
}
