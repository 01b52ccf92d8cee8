// The shell: the login page until there is a session, then the navigation and the page the
// URL fragment names. Super admins also see the broadcast pages (and, on the signals page, their
// webhook tokens).
import type { ComponentChildren } from "preact";
import { logout, session } from "./api/session";
import type { User } from "./api/types";
import { locale, setLocale, t } from "./i18n";
import { href, useRoute, type Route } from "./router";
import { useStore } from "./store";
import { AccountFormPage } from "./pages/AccountFormPage";
import { AccountsPage } from "./pages/AccountsPage";
import { BroadcastComposerPage } from "./pages/BroadcastComposerPage";
import { BroadcastHistoryPage } from "./pages/BroadcastHistoryPage";
import { BroadcastProgressPage } from "./pages/BroadcastProgressPage";
import { CalculatorPage } from "./pages/CalculatorPage";
import { DispatchPage } from "./pages/DispatchPage";
import { LoginPage } from "./pages/LoginPage";
import { MyTradePage, MyTradesPage } from "./pages/MyTradesPage";
import { NotificationsPage } from "./pages/NotificationsPage";
import { PositionsPage } from "./pages/PositionsPage";
import { SendOrderPage } from "./pages/SendOrderPage";
import { SignalsPage } from "./pages/SignalsPage";

export function App() {
  const state = useStore(session);
  const current = useStore(locale);
  return (
    <div class="shell" data-locale={current}>
      <header class="topbar">
        <span class="brand">{t("app.title")}</span>
        {state.status === "authenticated" && <Nav user={state.user} />}
        <LanguageToggle />
        {state.status === "authenticated" && (
          <span class="who">
            {state.user.username}
            <button type="button" class="link" onClick={() => void logout()}>
              {t("nav.logout")}
            </button>
          </span>
        )}
      </header>
      <main>
        {state.status === "unknown" && <p class="muted">{t("app.loading")}</p>}
        {state.status === "anonymous" && <LoginPage expired={state.reason === "expired"} />}
        {state.status === "authenticated" && <Page user={state.user} />}
      </main>
    </div>
  );
}

function LanguageToggle() {
  const current = useStore(locale);
  return (
    <button type="button" class="lang" data-testid="language-toggle" onClick={() => setLocale(current === "en" ? "th" : "en")}>
      {current === "en" ? "ไทย" : "English"}
    </button>
  );
}

function NavLink({ to, children, active }: { to: Route; children: ComponentChildren; active: boolean }) {
  return (
    <a href={href(to)} class={active ? "active" : undefined}>
      {children}
    </a>
  );
}

function Nav({ user }: { user: User }) {
  const route = useRoute();
  const at = (...names: Route["name"][]) => names.includes(route.name);
  return (
    <nav>
      <NavLink to={{ name: "accounts" }} active={at("accounts", "account-new", "account-edit", "positions")}>
        {t("nav.accounts")}
      </NavLink>
      <NavLink to={{ name: "calculator" }} active={at("calculator")}>
        {t("nav.calculator")}
      </NavLink>
      <NavLink to={{ name: "send" }} active={at("send", "dispatch")}>
        {t("nav.send")}
      </NavLink>
      <NavLink to={{ name: "my-trades" }} active={at("my-trades", "my-trade")}>
        {t("nav.myTrades")}
      </NavLink>
      {user.role === "super_admin" && (
        <>
          <NavLink to={{ name: "broadcast-new" }} active={at("broadcast-new")}>
            {t("nav.broadcast")}
          </NavLink>
          <NavLink to={{ name: "broadcasts" }} active={at("broadcasts", "broadcast")}>
            {t("nav.history")}
          </NavLink>
        </>
      )}
      <NavLink to={{ name: "signals" }} active={at("signals")}>
        {t("nav.signals")}
      </NavLink>
      <NavLink to={{ name: "notifications" }} active={at("notifications")}>
        {t("nav.notifications")}
      </NavLink>
    </nav>
  );
}

function Page({ user }: { user: User }) {
  const route = useRoute();
  if (user.mfa_enrollment_required) return <p class="notice">{t("login.enrolmentRequired")}</p>;
  const superAdmin = user.role === "super_admin";
  switch (route.name) {
    case "accounts":
      return <AccountsPage />;
    case "account-new":
      return <AccountFormPage />;
    case "account-edit":
      return <AccountFormPage id={route.id} />;
    case "positions":
      return <PositionsPage accountId={route.id} />;
    case "calculator":
      return <CalculatorPage />;
    case "send":
      return <SendOrderPage />;
    case "broadcast-new":
      return superAdmin ? <BroadcastComposerPage /> : <AccountsPage />;
    case "broadcasts":
      return superAdmin ? <BroadcastHistoryPage /> : <AccountsPage />;
    case "broadcast":
      return superAdmin ? <BroadcastProgressPage id={route.id} /> : <AccountsPage />;
    case "dispatch":
      return <DispatchPage id={route.id} />;
    case "notifications":
      return <NotificationsPage />;
    case "my-trades":
      return <MyTradesPage />;
    case "my-trade":
      return <MyTradePage id={route.id} />;
    case "signals":
      return <SignalsPage superAdmin={superAdmin} />;
  }
}
