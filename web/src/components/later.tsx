// Places kept for what the server cannot do yet. Each renders nothing today (nothing is faked);
// when its API lands, the component gets its body here and every page that shows it already
// has it in the right spot. (Trade management started here and now lives in trades.tsx; results in Results.tsx.)

/** The broadcast composer's dry run: each target's size and checks before sending. */
export function DryRunPreview(_props: { body: unknown }) {
  return null;
}
