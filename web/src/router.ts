// Routes live in the URL fragment (/#/accounts), so the server serves one page at / and every
// other path keeps its JSON 404.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "accounts" }
  | { name: "account-new" }
  | { name: "account-edit"; id: number }
  | { name: "positions"; id: number }
  | { name: "calculator" }
  | { name: "send" }
  | { name: "broadcast-new" }
  | { name: "broadcasts" }
  | { name: "broadcast"; id: number }
  | { name: "dispatch"; id: number }
  | { name: "notifications" }
  | { name: "my-trades" }
  | { name: "my-trade"; id: number }
  | { name: "signals" };

const PATTERNS: [RegExp, (m: RegExpMatchArray) => Route][] = [
  [/^\/accounts\/new$/, () => ({ name: "account-new" })],
  [/^\/accounts\/(\d+)\/edit$/, (m) => ({ name: "account-edit", id: Number(m[1]) })],
  [/^\/accounts\/(\d+)\/positions$/, (m) => ({ name: "positions", id: Number(m[1]) })],
  [/^\/calculator$/, () => ({ name: "calculator" })],
  [/^\/send$/, () => ({ name: "send" })],
  [/^\/broadcasts\/new$/, () => ({ name: "broadcast-new" })],
  [/^\/broadcasts$/, () => ({ name: "broadcasts" })],
  [/^\/broadcasts\/(\d+)$/, (m) => ({ name: "broadcast", id: Number(m[1]) })],
  [/^\/dispatches\/(\d+)$/, (m) => ({ name: "dispatch", id: Number(m[1]) })],
  [/^\/notifications$/, () => ({ name: "notifications" })],
  [/^\/my-trades$/, () => ({ name: "my-trades" })],
  [/^\/my-trades\/(\d+)$/, (m) => ({ name: "my-trade", id: Number(m[1]) })],
  [/^\/signals$/, () => ({ name: "signals" })],
];

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "") || "/accounts";
  for (const [pattern, build] of PATTERNS) {
    const match = path.match(pattern);
    if (match) return build(match);
  }
  return { name: "accounts" };
}

export function href(route: Route): string {
  switch (route.name) {
    case "accounts":
      return "#/accounts";
    case "account-new":
      return "#/accounts/new";
    case "account-edit":
      return `#/accounts/${route.id}/edit`;
    case "positions":
      return `#/accounts/${route.id}/positions`;
    case "calculator":
      return "#/calculator";
    case "send":
      return "#/send";
    case "broadcast-new":
      return "#/broadcasts/new";
    case "broadcasts":
      return "#/broadcasts";
    case "broadcast":
      return `#/broadcasts/${route.id}`;
    case "dispatch":
      return `#/dispatches/${route.id}`;
    case "notifications":
      return "#/notifications";
    case "my-trades":
      return "#/my-trades";
    case "my-trade":
      return `#/my-trades/${route.id}`;
    case "signals":
      return "#/signals";
  }
}

export function navigate(route: Route): void {
  location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}
