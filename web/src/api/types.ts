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
  // Live figures, once the session keeper reports them with the account (shown when present).
  last_seen_at?: string | null;
  latency_ms?: number | null;
  balance?: string | null;
  equity?: string | null;
  margin?: string | null;
  margin_free?: string | null;
  margin_level?: string | null;
  currency?: string | null;
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

export interface Trailing {
  start_points: number;
  distance_points: number;
  step_points: number;
}

/** Server-side rules of an open (README "Rules the server runs for you"). */
export interface Automation {
  breakeven_after_tp?: number;
  breakeven_offset_points?: number;
  trailing?: Trailing;
}

export interface ActionSummary {
  action_id: number;
  action: string;
  status: string;
  created_at: string;
}

export interface Dispatch {
  dispatch_id: number;
  kind: "orders" | "broadcast" | "action";
  parent_id?: number | null;
  automation?: Automation | null;
  actions?: ActionSummary[];
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

export interface AppliedAction {
  action_id: number;
  action: string;
  status: string;
  closed_volume: string | null;
  executed_at: string | null;
}

export type ResultStatus = "pending" | "open" | "closed" | "failed" | "skipped";

export interface TargetResult {
  account_id: number;
  user_id: number;
  status: ResultStatus;
  currency: string | null;
  opened_volume: string | null;
  open_price: string | null;
  closed_volume: string | null;
  close_price: string | null;
  realised: string | null;
  commission: string | null;
  swap: string | null;
  floating: string | null;
  net: string | null;
  positions: number[];
  legs: number;
  actions: AppliedAction[];
  reason: string | null;
  error: string | null;
  computed_at: string | null;
}

export interface CurrencyTotal {
  currency: string;
  targets: number;
  realised: string;
  floating: string;
  net: string;
  usd: { rate: string; realised: string; floating: string; net: string; quote: { pair: string; quoted_at: string } | null } | null;
}

export interface Results {
  dispatch_id: number;
  kind: "orders" | "broadcast";
  symbol: string | null;
  side: string | null;
  status: string;
  total: number;
  page: number;
  per_page: number;
  refresh: { read_now: number; waiting: number; refresh_s: number; max_reads: number };
  totals: {
    by_currency: CurrencyTotal[];
    usd: { realised: string; floating: string; net: string; complete: boolean };
    winners: number;
    losers: number;
    breakeven: number;
    by_status: Record<string, number>;
  };
  targets: TargetResult[];
}

export interface Channel {
  enabled: boolean;
  events: string[] | null;
  chat_id?: string;
  url?: string;
  address?: string;
  has_secret?: boolean;
}

export type ChannelKind = "telegram" | "webhook" | "email";

export interface NotificationSettings {
  locale: "en" | "th";
  events: string[];
  channels: Partial<Record<ChannelKind, Channel>>;
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

/** A follower's own sizing of broadcasts sent with sizing mode "follower". */
export type FollowerMode = "risk_percent" | "fixed_volume" | "multiplier" | "balance_ratio";

export interface FollowerSizing {
  mode: FollowerMode;
  percent?: string;
  volume?: string;
  factor?: string;
  base_balance?: string;
  max_volume?: string;
  below_min?: "skip" | "min_lot";
  max_risk_percent?: string;
}

export interface Protection {
  on_breach?: "close_only" | "close_all";
  max_open_positions?: number;
  daily_loss_limit?: { percent?: string; amount?: string };
  max_drawdown_percent?: string;
}

export interface Subscription {
  account_id: number;
  subscribed: boolean;
  receives_opens: boolean;
  state: string | null;
  consent: string | null;
  terms_version: string | null;
  current_terms_version: string;
  accepted_at: string | null;
  sizing: FollowerSizing | null;
  symbols: { include?: string[]; exclude?: string[] } | null;
  protection: Protection | null;
  breach: { rule: string; reason: string; figures: Record<string, string> } | null;
  breached_at: string | null;
  updated_at: string | null;
}

/** What one target of a dry run would do (nothing was created or sent). */
export interface PreviewTarget {
  account_id: number;
  user_id: number | null;
  verdict: "would_send" | "would_skip" | "would_fail";
  symbol: string | null;
  volume: string | null;
  legs: string[];
  risk: { amount: string; currency: string; usd: string | null } | null;
  reason: string | null;
  message: string | null;
  warnings: string[];
  details: Record<string, unknown> | null;
}

export interface Preview {
  dry_run: boolean;
  accounts: number;
  counts: Record<string, number>;
  targets: PreviewTarget[];
}

/** A dispatch that reached the caller's accounts (GET /api/me/dispatches). */
export interface MyDispatch {
  dispatch_id: number;
  kind: "orders" | "broadcast" | "action";
  parent_id: number | null;
  symbol: string | null;
  side: string | null;
  action: string | null;
  status: string;
  counts: Record<string, number>;
  account_ids: number[];
  created_at: string;
  finished_at: string | null;
}

export interface MyDispatchList {
  dispatches: MyDispatch[];
  total: number;
  page: number;
  per_page: number;
}

export interface SignalToken {
  id: number;
  prefix: string;
  name: string | null;
  symbols: string[] | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface SignalTokenCreated extends SignalToken {
  token: string;
  webhook_path: string;
}

export interface SignalPreview {
  parsed: Record<string, unknown>;
  summary: string;
}
