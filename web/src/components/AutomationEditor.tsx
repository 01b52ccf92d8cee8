// The server-side rules of an open (breakeven after TP N, trailing stop): shown as they stand,
// replaced with PATCH /api/dispatches/{id}/automation or /api/broadcasts/{id}/automation, and
// removed with `{}`. The same fields set the rules when an order or a broadcast is sent.
import { useState } from "preact/hooks";
import { request } from "../api/client";
import type { Automation, Dispatch } from "../api/types";
import { t } from "../i18n";
import { ErrorBox, TextField, useAction } from "./forms";

export interface AutomationDraft {
  breakevenAfterTp: string;
  offsetPoints: string;
  trailing: boolean;
  startPoints: string;
  distancePoints: string;
  stepPoints: string;
}

export const NO_RULES: AutomationDraft = {
  breakevenAfterTp: "",
  offsetPoints: "0",
  trailing: false,
  startPoints: "",
  distancePoints: "",
  stepPoints: "1",
};

export function automationDraft(rules: Automation | null | undefined): AutomationDraft {
  if (!rules) return NO_RULES;
  return {
    breakevenAfterTp: rules.breakeven_after_tp != null ? String(rules.breakeven_after_tp) : "",
    offsetPoints: String(rules.breakeven_offset_points ?? 0),
    trailing: rules.trailing != null,
    startPoints: rules.trailing ? String(rules.trailing.start_points) : "",
    distancePoints: rules.trailing ? String(rules.trailing.distance_points) : "",
    stepPoints: rules.trailing ? String(rules.trailing.step_points) : "1",
  };
}

/** Whole numbers as the API takes them; anything else is sent as typed, for the server to refuse
 *  with the field named (never silently dropped). */
function whole(text: string): number | string {
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

/** The `automation` body for a draft: {} when it sets no rule. */
export function automationBody(draft: AutomationDraft): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (draft.breakevenAfterTp.trim()) {
    body.breakeven_after_tp = whole(draft.breakevenAfterTp);
    body.breakeven_offset_points = whole(draft.offsetPoints || "0");
  }
  if (draft.trailing) {
    body.trailing = {
      start_points: whole(draft.startPoints),
      distance_points: whole(draft.distancePoints),
      step_points: whole(draft.stepPoints || "1"),
    };
  }
  return body;
}

/** The rules in one line ("Breakeven after TP1 +10 points · trailing 200/300/50"). */
export function describeRules(rules: Automation | null | undefined): string {
  const parts: string[] = [];
  if (rules?.breakeven_after_tp != null) {
    parts.push(t("automation.describeBreakeven", { n: rules.breakeven_after_tp, offset: rules.breakeven_offset_points ?? 0 }));
  }
  if (rules?.trailing) {
    const { start_points, distance_points, step_points } = rules.trailing;
    parts.push(t("automation.describeTrailing", { start: start_points, distance: distance_points, step: step_points }));
  }
  return parts.length ? parts.join(" · ") : t("automation.none");
}

/** The rule fields, bound to a draft (the editor's and the order forms'). */
export function AutomationFields({ draft, set }: { draft: AutomationDraft; set: (next: AutomationDraft) => void }) {
  const field = (key: Exclude<keyof AutomationDraft, "trailing">) => ({
    name: `automation_${key}`,
    value: draft[key],
    inputMode: "numeric" as const,
    onChange: (value: string) => set({ ...draft, [key]: value }),
  });
  return (
    <div class="grid">
      <TextField label={t("automation.breakevenAfterTp")} hint={t("automation.breakevenHint")} {...field("breakevenAfterTp")} />
      <TextField label={t("automation.offsetPoints")} {...field("offsetPoints")} />
      <label class="check">
        <input type="checkbox" name="automation_trailing" checked={draft.trailing} onChange={(e) => set({ ...draft, trailing: (e.currentTarget as HTMLInputElement).checked })} />
        {t("automation.trailing")}
      </label>
      {draft.trailing && (
        <>
          <TextField label={t("automation.startPoints")} required {...field("startPoints")} />
          <TextField label={t("automation.distancePoints")} required {...field("distancePoints")} />
          <TextField label={t("automation.stepPoints")} {...field("stepPoints")} />
        </>
      )}
    </div>
  );
}

/** ``path``: /broadcasts/{id}/automation or /dispatches/{id}/automation. */
export function AutomationEditor({ path, current }: { path: string; current: Automation | null | undefined }) {
  const [rules, setRules] = useState(current ?? null);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(automationDraft(current));
  const action = useAction();
  const save = (body: Record<string, unknown>) =>
    void action.runTask(async () => {
      const after = (await request<Dispatch>("PATCH", path, { body })).body;
      setRules(after.automation ?? null);
      setDraft(automationDraft(after.automation));
      setEditing(false);
    });
  const hasRules = rules != null && Object.keys(rules).length > 0;
  return (
    <div class="automation" data-testid="automation" data-rules={JSON.stringify(rules ?? {})}>
      <h2>{t("automation.title")}</h2>
      <p data-testid="automation-rules">{describeRules(rules)}</p>
      {editing ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            save(automationBody(draft));
          }}
        >
          <AutomationFields draft={draft} set={setDraft} />
          <div class="actions">
            <button type="submit" disabled={action.busy}>
              {t("automation.save")}
            </button>
            <button type="button" class="link" onClick={() => (setEditing(false), setDraft(automationDraft(rules)))}>
              {t("trades.cancelEdit")}
            </button>
          </div>
        </form>
      ) : (
        <div class="actions">
          <button type="button" class="secondary" onClick={() => setEditing(true)}>
            {t("automation.edit")}
          </button>
          {hasRules && (
            <button type="button" class="secondary" disabled={action.busy} onClick={() => save({})}>
              {t("automation.remove")}
            </button>
          )}
        </div>
      )}
      <ErrorBox error={action.error} />
    </div>
  );
}
