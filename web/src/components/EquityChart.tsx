// An account's balance and equity over time (TradingView's lightweight-charts), from
// GET /api/accounts/{id}/equity?from&to -> {"points": [{"time": iso, "balance", "equity"}]}.
// The session keeper records that history; until it has points (or on a server without the
// route, 404), the chart shows its empty state. The chart library is loaded only when there is
// something to draw, so it does not weigh on the first paint.
import type { IChartApi, UTCTimestamp } from "lightweight-charts";
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api/client";
import { ApiError } from "../api/http";
import type { EquityPoint } from "../api/types";
import { t } from "../i18n";

const DAYS = 7;

export function EquityChart({ accountId }: { accountId: number }) {
  const [points, setPoints] = useState<EquityPoint[] | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    const to = new Date();
    const from = new Date(to.getTime() - DAYS * 86_400_000);
    const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
    api.get<{ points: EquityPoint[] }>(`/accounts/${accountId}/equity?${query}`).then(
      (body) => setPoints(body.points),
      (error: unknown) => (error instanceof ApiError && error.status === 404 ? setPoints([]) : setFailed(true)),
    );
  }, [accountId]);
  if (failed) return <p class="muted">{t("equity.failed")}</p>;
  if (points === null) return <p class="muted">{t("app.loading")}</p>;
  if (points.length === 0) {
    return (
      <p class="empty" data-testid="equity-empty">
        {t("equity.empty")}
      </p>
    );
  }
  return <Chart points={points} />;
}

/** Seconds since the epoch, ascending and unique, as the chart wants its times. */
export function seriesOf(points: EquityPoint[], field: "balance" | "equity") {
  const byTime = new Map<number, number>();
  for (const point of points) byTime.set(Math.floor(Date.parse(point.time) / 1000), Number(point[field]));
  return [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({ time: time as UTCTimestamp, value }));
}

function Chart({ points }: { points: EquityPoint[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let chart: IChartApi | undefined;
    let live = true;
    void import("lightweight-charts").then(({ createChart, LineSeries }) => {
      if (!live || !box.current) return;
      chart = createChart(box.current, {
        height: 260,
        autoSize: true,
        // The library's own logo comes with an inline <style>, which the CSP refuses: the
        // attribution its licence asks for is the link below the chart instead.
        layout: { background: { color: "#ffffff" }, textColor: "#243b53", attributionLogo: false },
      });
      chart.addSeries(LineSeries, { color: "#829ab1", lineWidth: 2, title: t("equity.balance") }).setData(seriesOf(points, "balance"));
      chart.addSeries(LineSeries, { color: "#d69e2e", lineWidth: 2, title: t("equity.equity") }).setData(seriesOf(points, "equity"));
      chart.timeScale().fitContent();
    });
    return () => {
      live = false;
      chart?.remove();
    };
  }, [points]);
  return (
    <figure class="chart-box">
      <div class="chart" ref={box} data-testid="equity-chart" />
      <figcaption class="muted small">
        {t("equity.attribution")}{" "}
        <a href="https://www.tradingview.com/" target="_blank" rel="noopener noreferrer">
          TradingView
        </a>
      </figcaption>
    </figure>
  );
}
