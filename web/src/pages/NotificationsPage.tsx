// The caller's notification settings (GET/PUT /api/me/notifications): the language messages
// come in, and up to one channel of each kind (Telegram, an HTTPS webhook, email), each with the
// events it receives. Secrets (the bot token, the webhook's signing key) go in and never come
// back: the server only says one is stored, and an empty field keeps it.
import { useState } from "preact/hooks";
import { request } from "../api/client";
import type { Channel, ChannelKind, NotificationSettings } from "../api/types";
import { ErrorBox, SelectField, Submit, TextField, useAction, useLoad } from "../components/forms";
import { t } from "../i18n";
import type { MessageKey } from "../i18n/en";

const KINDS: ChannelKind[] = ["telegram", "webhook", "email"];

interface ChannelDraft {
  on: boolean;
  enabled: boolean;
  allEvents: boolean;
  events: string[];
  /** chat id, URL or address. */
  target: string;
  /** A new bot token or signing key; empty keeps the stored one. */
  secret: string;
  hasSecret: boolean;
}

interface Draft {
  locale: "en" | "th";
  channels: Record<ChannelKind, ChannelDraft>;
}

const TARGET_FIELD = { telegram: "chat_id", webhook: "url", email: "address" } as const;
const SECRET_FIELD = { telegram: "bot_token", webhook: "secret" } as const;

function channelDraft(kind: ChannelKind, channel: Channel | undefined): ChannelDraft {
  return {
    on: channel != null,
    enabled: channel?.enabled ?? true,
    allEvents: channel?.events == null,
    events: channel?.events ?? [],
    target: (channel?.[TARGET_FIELD[kind]] as string | undefined) ?? "",
    secret: "",
    hasSecret: channel?.has_secret ?? false,
  };
}

export function settingsDraft(settings: NotificationSettings): Draft {
  const channels = Object.fromEntries(KINDS.map((kind) => [kind, channelDraft(kind, settings.channels[kind])]));
  return { locale: settings.locale, channels: channels as Draft["channels"] };
}

/** The PUT body: every channel that is on (a kind left out is removed), secrets only if typed. */
export function settingsBody(draft: Draft): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  for (const kind of KINDS) {
    const c = draft.channels[kind];
    if (!c.on) continue;
    const body: Record<string, unknown> = { enabled: c.enabled, events: c.allEvents ? null : c.events, [TARGET_FIELD[kind]]: c.target.trim() };
    if (kind !== "email" && c.secret) body[SECRET_FIELD[kind]] = c.secret;
    channels[kind] = body;
  }
  return { locale: draft.locale, channels };
}

export function NotificationsPage() {
  const [saved, setSaved] = useState<NotificationSettings | null>(null);
  const settings = useLoad(() => request<NotificationSettings>("GET", "/me/notifications").then((r) => r.body));
  // After a save the form starts again from what the server answered (secret fields empty).
  const current = saved ?? settings.data;
  if (!current) return <ErrorBox error={settings.error} />;
  return <NotificationsForm key={JSON.stringify(current)} settings={current} saved={saved !== null} onSaved={setSaved} />;
}

function NotificationsForm(props: { settings: NotificationSettings; saved: boolean; onSaved: (answer: NotificationSettings) => void }) {
  const { settings, saved } = props;
  const [draft, setDraft] = useState(() => settingsDraft(settings));
  const save = useAction(async () => {
    props.onSaved((await request<NotificationSettings>("PUT", "/me/notifications", { body: settingsBody(draft) })).body);
  });
  const setChannel = (kind: ChannelKind, patch: Partial<ChannelDraft>) =>
    setDraft({ ...draft, channels: { ...draft.channels, [kind]: { ...draft.channels[kind], ...patch } } });
  const locales: ["en" | "th", string][] = [
    ["en", "English"],
    ["th", "ไทย"],
  ];
  return (
    <form class="card narrow" data-testid="notifications-form" onSubmit={save.run}>
      <h1>{t("notify.title")}</h1>
      <p class="muted">{t("notify.intro")}</p>
      <SelectField label={t("notify.locale")} name="locale" value={draft.locale} options={locales} onChange={(locale) => setDraft({ ...draft, locale })} />
      {KINDS.map((kind) => (
        <ChannelFields key={kind} kind={kind} events={settings.events} draft={draft.channels[kind]} set={(patch) => setChannel(kind, patch)} />
      ))}
      {saved && !save.busy && !save.error && (
        <p class="notice" data-testid="saved">
          {t("notify.saved")}
        </p>
      )}
      <Submit action={save} label={t("notify.save")} />
    </form>
  );
}

function ChannelFields(props: { kind: ChannelKind; events: string[]; draft: ChannelDraft; set: (patch: Partial<ChannelDraft>) => void }) {
  const { kind, draft, set } = props;
  const toggleEvent = (event: string, on: boolean) => set({ events: on ? [...draft.events, event] : draft.events.filter((e) => e !== event) });
  return (
    <fieldset data-channel={kind} data-on={draft.on ? "true" : "false"}>
      <legend>
        <label class="check">
          <input type="checkbox" name={`${kind}_on`} checked={draft.on} onChange={(e) => set({ on: (e.currentTarget as HTMLInputElement).checked })} />
          {t(`notify.${kind}` as MessageKey)}
        </label>
      </legend>
      {draft.on && (
        <>
          <div class="grid">
            <TextField label={t(`notify.${kind}.target` as MessageKey)} name={`${kind}_${TARGET_FIELD[kind]}`} required value={draft.target} onChange={(target) => set({ target })} />
            {kind !== "email" && (
              <TextField
                label={t(`notify.${kind}.secret` as MessageKey)}
                name={`${kind}_${SECRET_FIELD[kind]}`}
                secret
                autoComplete="off"
                required={!draft.hasSecret}
                placeholder={draft.hasSecret ? t("notify.secretStored") : ""}
                hint={draft.hasSecret ? t("notify.secretKeep") : t(`notify.${kind}.secretHint` as MessageKey)}
                value={draft.secret}
                onChange={(secret) => set({ secret })}
              />
            )}
          </div>
          <label class="check">
            <input type="checkbox" name={`${kind}_enabled`} checked={draft.enabled} onChange={(e) => set({ enabled: (e.currentTarget as HTMLInputElement).checked })} />
            {t("notify.enabled")}
          </label>
          <label class="check">
            <input type="checkbox" name={`${kind}_all_events`} checked={draft.allEvents} onChange={(e) => set({ allEvents: (e.currentTarget as HTMLInputElement).checked })} />
            {t("notify.allEvents")}
          </label>
          {!draft.allEvents && (
            <div class="events">
              {props.events.map((event) => (
                <label class="check" key={event}>
                  <input type="checkbox" name={`${kind}_event`} value={event} checked={draft.events.includes(event)} onChange={(e) => toggleEvent(event, (e.currentTarget as HTMLInputElement).checked)} />
                  {eventName(event)}
                </label>
              ))}
            </div>
          )}
        </>
      )}
    </fieldset>
  );
}

function eventName(event: string): string {
  const key = `notify.event.${event}` as MessageKey;
  return t(key) === key ? event : t(key);
}
