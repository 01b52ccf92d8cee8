// Up to three take profits, each a price and its share of the volume (the shares add to 100).
import { t } from "../i18n";
import { TextField } from "./forms";

export interface TakeProfitDraft {
  price: string;
  share_percent: string;
}

export const MAX_TAKE_PROFITS = 3;

export function TakeProfits({ value, onChange }: { value: TakeProfitDraft[]; onChange: (next: TakeProfitDraft[]) => void }) {
  const update = (index: number, patch: Partial<TakeProfitDraft>) =>
    onChange(value.map((tp, i) => (i === index ? { ...tp, ...patch } : tp)));
  const add = () => {
    const share = String(Math.floor(100 / (value.length + 1)));
    const next = [...value.map((tp) => ({ ...tp, share_percent: share })), { price: "", share_percent: share }];
    next[next.length - 1].share_percent = String(100 - Number(share) * value.length);
    onChange(next);
  };
  return (
    <fieldset class="take-profits">
      <legend>{t("trade.takeProfits")}</legend>
      {value.map((tp, index) => (
        <div class="row" key={index}>
          <TextField label={t("trade.tpPrice", { n: index + 1 })} name={`tp${index + 1}`} inputMode="decimal" value={tp.price} onChange={(price) => update(index, { price })} />
          <TextField label={t("trade.tpShare")} name={`tp${index + 1}_share`} inputMode="decimal" value={tp.share_percent} onChange={(share_percent) => update(index, { share_percent })} />
          <button type="button" class="link" onClick={() => onChange(value.filter((_, i) => i !== index))}>
            {t("trade.removeTp")}
          </button>
        </div>
      ))}
      {value.length < MAX_TAKE_PROFITS && (
        <button type="button" class="secondary" onClick={add}>
          {t("trade.addTp")}
        </button>
      )}
    </fieldset>
  );
}

/** The take profits for a request: empty rows left out. */
export function takeProfitsBody(value: TakeProfitDraft[]): TakeProfitDraft[] {
  return value.filter((tp) => tp.price.trim() !== "").map((tp) => ({ price: tp.price.trim(), share_percent: tp.share_percent.trim() }));
}
