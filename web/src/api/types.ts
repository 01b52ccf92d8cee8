// The API's shapes as the dashboard reads them (money, prices and volumes are decimal strings).

export type Role = "user" | "admin" | "super_admin";

export interface User {
  id: number;
  username: string;
  email: string;
  role: Role;
  mfa_enabled: boolean;
  mfa_enrollment_required: boolean;
}

export interface Account {
  id: number;
  account_name: string;
  login: string;
  server: string;
  broker: string | null;
  account_type: "demo" | "live";
  is_active: boolean;
  terminal: string;
  connection_status: "never" | "connected" | "failed" | "disconnected" | "auth_failed" | "unreachable";
  last_error: string | null;
  last_connected_at: string | null;
  copy_enabled: boolean;
  risk_percent: string | null;
  fixed_volume: string | null;
  volume_multiplier: string | null;
  max_volume: string | null;
  // Live figures of the session keeper's last heartbeat (null before the first one).
  balance?: string | null;
  equity?: string | null;
  margin?: string | null;
  margin_free?: string | null;
  margin_level?: string | null;
  currency?: string | null;
  last_seen_at?: string | null;
  latency_ms?: string | null;
}

export interface AccountInfo {
  login: number;
  currency: string;
  balance: string;
  equity: string;
  margin: string;
  margin_free: string;
  leverage: number;
}

export interface ConnectResult {
  connected: boolean;
  account_info: AccountInfo;
  latency_ms: number;
}

export interface Position {
  ticket: number;
  symbol: string;
  type: "buy" | "sell";
  volume: string;
  price_open: string;
  sl: string;
  tp: string;
  price_current: string;
  profit: string;
  swap: string;
  magic: number;
  comment: string;
  time: string;
}

export interface PendingOrder {
  ticket: number;
  symbol: string;
  type: "buy_limit" | "sell_limit" | "buy_stop" | "sell_stop" | "buy_stop_limit" | "sell_stop_limit";
  volume: string;
  price_open: string;
  sl: string;
  tp: string;
  time_setup: string;
  expiration: string | null;
}

export interface SymbolSummary {
  name: string;
  description: string;
}

export interface OrderLeg {
  take_profit: string | null;
  share_percent: string;
  lots: string;
  risk_money: string;
  reward_money: string | null;
  reward_to_risk: string | null;
  sent: boolean;
}

export interface Calculation {
  lots: string;
  risk_money: string;
  actual_risk_money: string;
  actual_risk_percent: string | null;
  effective_entry: string;
  side: "buy" | "sell";
  sl_distance_points: string;
  tick_value: string;
  loss_per_lot: string;
  margin_required: string | null;
  max_lots_by_margin: string | null;
  orders: OrderLeg[];
  total_reward_money: string | null;
  reward_to_risk: string | null;
  flags: string[];
  warnings: string[];
}

export type RowStatus = "pending" | "in_flight" | "executed" | "placed" | "skipped" | "failed" | "expired" | "cancelled";

export interface Target {
  row_id: number;
  account_id: number;
  user_id: number;
  leg: number;
  symbol: string | null;
  volume: string | null;
  status: RowStatus;
  retcode: number | null;
  price: string | null;
  filled_volume: string | null;
  position: number | null;
  attempts: number;
  latency_ms: number | null;
  error: string | null;
  executed_at: string | null;
}

export interface Dispatch {
  dispatch_id: number;
  kind: "orders" | "broadcast" | "action";
  status: string;
  created_at: string;
  finished_at: string | null;
  counts: Record<string, number>;
  total: number;
  targets: Target[];
}

export interface BroadcastSummary {
  broadcast_id: number;
  status: string;
  created_at: string;
  finished_at: string | null;
  counts: Record<string, number>;
  symbol: string;
  side: string;
}

export interface EquityPoint {
  time: string;
  balance: string;
  equity: string;
}

export const OPEN_STATUSES: ReadonlySet<string> = new Set(["pending", "in_flight"]);
export const FINAL_DISPATCH_STATUSES: ReadonlySet<string> = new Set([
  "completed",
  "partial",
  "failed",
  "expired",
  "cancelled",
]);
