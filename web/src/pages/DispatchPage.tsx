// One of the caller's own dispatches (an order sent to their accounts): its targets, its rules
// and, once final, its results and P&L. The send page links here, so it can be found again.
import { api } from "../api/client";
import type { Dispatch } from "../api/types";
import { DispatchView } from "../components/DispatchView";
import { ErrorBox, useLoad } from "../components/forms";

export function DispatchPage({ id }: { id: number }) {
  const dispatch = useLoad(() => api.get<Dispatch>(`/dispatches/${id}?per_page=1000`), [id]);
  return (
    <section>
      <ErrorBox error={dispatch.error} />
      {dispatch.data && <DispatchView key={id} initial={dispatch.data} linkPositions own />}
    </section>
  );
}
