// The language toggle: one message catalogue per language (en.ts, th.ts); Thai must have every
// key English has (the type checker holds it to that).
import { createStore } from "../store";
import { en, type MessageKey } from "./en";
import { th } from "./th";

export type Locale = "en" | "th";
const CATALOGUES: Record<Locale, Record<MessageKey, string>> = { en, th };
const STORAGE_KEY = "mt5.locale"; // a preference, not a secret

function initialLocale(): Locale {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === "en" || saved === "th") return saved;
  return navigator.language.toLowerCase().startsWith("th") ? "th" : "en";
}

export const locale = createStore<Locale>(initialLocale());

export function setLocale(next: Locale): void {
  localStorage.setItem(STORAGE_KEY, next);
  document.documentElement.lang = next;
  locale.set(next);
}

/** The message in the current language, with {name} placeholders filled in. */
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = CATALOGUES[locale.get()][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`));
}

/** A message for an error code when the catalogue has one, else the server's own message. */
export function errorText(code: string, fallback: string): string {
  const key = `error.${code}` as MessageKey;
  return key in en ? t(key) : fallback;
}

// Building a DateTimeFormat costs far more than using one: a table of 1000 rows would pay it
// 1000 times, so there is one per language.
const timeFormats = new Map<Locale, Intl.DateTimeFormat>();

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const current = locale.get();
  let format = timeFormats.get(current);
  if (!format) {
    format = new Intl.DateTimeFormat(current === "th" ? "th-TH" : "en-GB", { dateStyle: "medium", timeStyle: "medium" });
    timeFormats.set(current, format);
  }
  return format.format(new Date(iso));
}

document.documentElement.lang = locale.get();
