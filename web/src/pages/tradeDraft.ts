// One trade as the calculator and the order form edit it: sized in the calculator, sent from
// the order form without typing it again.
import type { TakeProfitDraft } from "../components/TakeProfits";
import { createStore } from "../store";

export const SIDES = ["buy", "sell"] as const;
export const ORDER_TYPES = ["market", "limit", "stop"] as const;
export type OrderType = (typeof ORDER_TYPES)[number];

export interface TradeDraft {
  accountIds: number[];
  symbol: string;
  side: (typeof SIDES)[number];
  orderType: OrderType;
  price: string;
  stopLoss: string;
  takeProfits: TakeProfitDraft[];
  sizing: "risk" | "volume";
  riskPercent: string;
  volume: string;
}

export const tradeDraft = createStore<TradeDraft>({
  accountIds: [],
  symbol: "XAUUSD", // gold first
  side: "buy",
  orderType: "market",
  price: "",
  stopLoss: "",
  takeProfits: [],
  sizing: "risk",
  riskPercent: "1",
  volume: "",
});
