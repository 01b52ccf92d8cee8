import { t } from "../i18n";
import type { MessageKey } from "../i18n/en";

/** A connection, row or dispatch status as a coloured word (the class names the status). */
export function StatusBadge({ status }: { status: string }) {
  const key = `status.${status}` as MessageKey;
  return (
    <span class={`badge badge-${status}`} data-status={status}>
      {t(key) === key ? status : t(key)}
    </span>
  );
}
