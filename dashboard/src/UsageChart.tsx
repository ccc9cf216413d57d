import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip } from 'chart.js';
import { useEffect, useRef, useState } from 'react';
import type { LedgerClient, UsageGrouping, UsageReport } from '../../client/src/index';
import { credits, errorText } from './format';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

/** Credits used over the last 30 days, by service or by day, from GET /api/credits/usage. */
export const UsageChart = ({ client, position }: { client: LedgerClient; position: number }) => {
  const [groupBy, setGroupBy] = useState<UsageGrouping>('service');
  const [report, setReport] = useState<UsageReport | undefined>(undefined);
  const [error, setError] = useState('');
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<'bar'> | undefined>(undefined);

  useEffect(() => {
    let active = true;
    client.getUsage({ groupBy, minPosition: position }).then(
      (next) => active && (setReport(next), setError('')),
      (caught: unknown) => active && setError(errorText(caught)),
    );
    return () => {
      active = false;
    };
  }, [client, groupBy, position]);

  useEffect(() => {
    if (canvas.current === null || report === undefined) return;
    const labels = report.items.map((item) => item.service ?? item.day ?? '');
    // Chart heights only: the amounts shown as text stay the service's exact strings.
    const values = report.items.map((item) => Number(item.credits));
    if (chart.current === undefined) {
      chart.current = new Chart(canvas.current, {
        type: 'bar',
        data: { labels, datasets: [{ label: 'Credits used', data: values, backgroundColor: '#3b5bdb' }] },
        options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
      });
    } else {
      chart.current.data.labels = labels;
      const dataset = chart.current.data.datasets[0];
      if (dataset !== undefined) dataset.data = values;
      chart.current.update();
    }
  }, [report]);

  useEffect(() => () => chart.current?.destroy(), []);

  return (
    <section className="card wide" aria-labelledby="usage-title">
      <h2 id="usage-title">Usage, last 30 days</h2>
      <fieldset className="toggle">
        <legend>Group by</legend>
        {(['service', 'day'] as const).map((option) => (
          <label key={option}>
            <input type="radio" name="usage-group" value={option} checked={groupBy === option} onChange={() => setGroupBy(option)} />
            {option}
          </label>
        ))}
      </fieldset>
      {error !== '' && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div className="chart">
        <canvas ref={canvas} role="img" aria-label={`Bar chart of credits used by ${groupBy}; the same numbers are in the table below`} data-testid="usage-chart" />
      </div>
      <div className="scroll">
        <table data-testid="usage-table">
          <caption className="hint">Total {report === undefined ? '…' : credits(report.totalCredits)} credits</caption>
          <thead>
            <tr>
              <th scope="col">{groupBy === 'service' ? 'Service' : 'Day'}</th>
              <th scope="col" className="number">
                Quantity
              </th>
              <th scope="col" className="number">
                Credits
              </th>
            </tr>
          </thead>
          <tbody>
            {report?.items.length === 0 && (
              <tr>
                <td colSpan={3}>Nothing used in this period.</td>
              </tr>
            )}
            {report?.items.map((item) => (
              <tr key={item.service ?? item.day}>
                <th scope="row">{item.service ?? item.day}</th>
                <td className="number">{item.quantity.toLocaleString('en-US')}</td>
                <td className="number">{credits(item.credits)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
};
