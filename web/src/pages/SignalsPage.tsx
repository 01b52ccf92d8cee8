// Signals: what a signal text would do (POST /api/signals/parse, anyone may try it), and for a
// super admin the webhook tokens TradingView posts with (POST /api/me/signal_token, shown once
// with the URL to call and an example alert message; listed and revoked at
// /api/me/signal_tokens). The token lives in this page's memory only: never stored, never logged.
import { useState } from "preact/hooks";
import { api } from "../api/client";
import type { SignalPreview, SignalToken, SignalTokenCreated } from "../api/types";
import { DataTable, ErrorBox, PageHead, Submit, TextField, useAction, useLoad } from "../components/forms";
import { FreshLogin } from "../components/FreshLogin";
import { formatTime, t } from "../i18n";

const EXAMPLE_ALERT = JSON.stringify({ action: "buy", symbol: "{{ticker}}", price: "{{close}}", sl: 2340, tp: [2355, 2360], risk: 1 });
const EXAMPLE_TEXT = "XAUUSD BUY NOW SL 2340 TP1 2355 TP2 2360 RISK 1%";

export function SignalsPage({ superAdmin }: { superAdmin: boolean }) {
  return (
    <section>
      <PageHead title={t("signals.title")} />
      {superAdmin && <SignalTokens />}
      <ParseBox />
    </section>
  );
}

function SignalTokens() {
  const list = useLoad(() => api.get<{ tokens: SignalToken[] }>("/me/signal_tokens").then((b) => b.tokens));
  const [name, setName] = useState("");
  const [symbols, setSymbols] = useState("");
  const [created, setCreated] = useState<SignalTokenCreated | null>(null);
  const create = useAction(async () => {
    setCreated(null);
    const body: Record<string, unknown> = { name: name.trim() };
    const only = symbols.split(/[\s,]+/).filter(Boolean);
    if (only.length) body.symbols = only;
    setCreated((await api.post<SignalTokenCreated>("/me/signal_token", body)).body);
    setName("");
    setSymbols("");
    list.reload();
  });
  const revoke = useAction();
  const revokeToken = (id: number) =>
    revoke.runTask(async () => {
      await api.delete(`/me/signal_tokens/${id}`);
      if (created?.id === id) setCreated(null);
      list.reload();
    });
  return (
    <>
      <form class="card" onSubmit={create.run} data-testid="signal-token-form">
        <h2>{t("signals.tokensTitle")}</h2>
        <p class="muted">{t("signals.tokensIntro")}</p>
        <div class="grid">
          <TextField label={t("signals.name")} name="token_name" required maxLength={100} value={name} onChange={setName} />
          <TextField label={t("signals.symbols")} name="token_symbols" hint={t("signals.symbolsHint")} value={symbols} onChange={setSymbols} />
        </div>
        <Submit action={create} label={t("signals.create")} />
      </form>
      <FreshLogin action={create} />
      {created && <CreatedToken created={created} onHide={() => setCreated(null)} />}
      <div class="card">
        <ErrorBox error={list.error} />
        <ErrorBox error={revoke.error} />
        {list.data?.length === 0 && <p class="empty">{t("signals.none")}</p>}
        {list.data && list.data.length > 0 && (
          <DataTable
            testId="signal-tokens"
            mark="token"
            columns={["signals.name", "signals.prefix", "signals.symbols", "history.created", "signals.lastUsed", "signals.state", ""]}
            rows={list.data}
            keyOf={(row) => row.id}
            cells={(row) => (
              <>
                <td>{row.name ?? "—"}</td>
                <td>
                  <code>{row.prefix}…</code>
                </td>
                <td>{row.symbols?.join(", ") ?? t("signals.anySymbol")}</td>
                <td>{formatTime(row.created_at)}</td>
                <td>{formatTime(row.last_used_at)}</td>
                <td data-field="state">{row.revoked_at ? t("signals.revokedAt", { time: formatTime(row.revoked_at) }) : t("signals.live")}</td>
                <td>
                  {!row.revoked_at && (
                    <button type="button" class="danger" disabled={revoke.busy} onClick={() => void revokeToken(row.id)}>
                      {t("signals.revoke")}
                    </button>
                  )}
                </td>
              </>
            )}
          />
        )}
      </div>
    </>
  );
}

function CreatedToken({ created, onHide }: { created: SignalTokenCreated; onHide: () => void }) {
  const url = location.origin + created.webhook_path;
  return (
    <div class="card notice" data-testid="signal-token-created" data-token-id={created.id}>
      <h2>{t("signals.createdTitle", { name: created.name ?? "" })}</h2>
      <p>{t("signals.shownOnce")}</p>
      <dl class="sub-state">
        <dt>{t("signals.token")}</dt>
        <dd>
          <code data-field="token">{created.token}</code>
        </dd>
        <dt>{t("signals.webhookUrl")}</dt>
        <dd>
          <code data-field="webhook-url">{url}</code>
        </dd>
        <dt>{t("signals.exampleAlert")}</dt>
        <dd>
          <pre data-field="example-alert">{EXAMPLE_ALERT}</pre>
          <small class="muted">{t("signals.exampleText", { text: EXAMPLE_TEXT })}</small>
        </dd>
      </dl>
      <button type="button" class="secondary" onClick={onHide}>
        {t("signals.hide")}
      </button>
    </div>
  );
}

function ParseBox() {
  const [text, setText] = useState(EXAMPLE_TEXT);
  const [preview, setPreview] = useState<SignalPreview | null>(null);
  const parse = useAction(async () => {
    setPreview(null);
    setPreview((await api.post<SignalPreview>("/signals/parse", { text })).body);
  });
  return (
    <form class="card" onSubmit={parse.run} data-testid="signal-parse">
      <h2>{t("signals.parseTitle")}</h2>
      <p class="muted">{t("signals.parseIntro")}</p>
      <label class="field">
        <span>{t("signals.text")}</span>
        <textarea name="signal_text" rows={3} maxLength={2000} value={text} onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} />
      </label>
      <Submit action={parse} label={t("signals.parse")} disabled={!text.trim()} />
      {preview && (
        <div data-testid="signal-preview">
          <p data-field="summary">
            <strong>{preview.summary}</strong>
          </p>
          <pre>{JSON.stringify(preview.parsed, null, 2)}</pre>
        </div>
      )}
    </form>
  );
}
