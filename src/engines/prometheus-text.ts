/**
 * A small parser for the Prometheus text exposition format (what vLLM's `/metrics` serves):
 * samples with their labels and values; comments, timestamps and malformed lines are skipped.
 * `sumMetrics` reads only the lines of the metrics it is asked for: a routine load check wants
 * three gauges out of a scrape that is mostly histogram buckets.
 */

/** One sample line. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;

/** Every sample in `text`. */
export function parsePrometheusText(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const rawLine of text.split('\n')) {
    const sample = parseSampleLine(rawLine);
    if (sample !== undefined) samples.push(sample);
  }
  return samples;
}

/**
 * For each name, the sum of its samples over all label sets (undefined when it has none): the same
 * as `sumSamples(parsePrometheusText(text), name)`, without splitting or parsing the other lines.
 */
export function sumMetrics<N extends string>(text: string, names: readonly N[]): Record<N, number | undefined> {
  const sums = {} as Record<N, number | undefined>;
  for (const name of names) {
    let total: number | undefined;
    for (let from = text.indexOf(name); from !== -1; from = text.indexOf(name, from + name.length)) {
      const start = text.lastIndexOf('\n', from - 1) + 1;
      // Only where the name starts its line (a comment or another metric's labels may mention it).
      if (start < from && text.slice(start, from).trim() !== '') continue;
      const end = text.indexOf('\n', from);
      const sample = parseSampleLine(text.slice(start, end === -1 ? text.length : end));
      if (sample?.name === name) total = (total ?? 0) + sample.value;
    }
    sums[name] = total;
  }
  return sums;
}

/** Sum of `name` over all its label sets; undefined when no sample has that name. */
export function sumSamples(samples: readonly PromSample[], name: string): number | undefined {
  let total: number | undefined;
  for (const sample of samples) {
    if (sample.name === name) total = (total ?? 0) + sample.value;
  }
  return total;
}

/** One sample line, or undefined for a blank, comment or malformed line. */
function parseSampleLine(rawLine: string): PromSample | undefined {
  const line = rawLine.trim();
  if (line === '' || line.startsWith('#')) return undefined;
  const match = SAMPLE.exec(line);
  if (match === null) return undefined;
  const [, name, labelText, valueText] = match;
  if (name === undefined || valueText === undefined) return undefined;
  const labels = labelText === undefined ? {} : parseLabels(labelText);
  if (labels === undefined) return undefined;
  const value = parseValue(valueText);
  if (value === undefined) return undefined;
  return { name, labels, value };
}

function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const match = LABEL.exec(text);
    if (match === null) return text.slice(start).trim() === '' ? labels : undefined;
    const [, key, value] = match;
    if (key !== undefined && value !== undefined) labels[key] = unescapeLabel(value);
  }
  return labels;
}

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, ch: string) => (ch === 'n' ? '\n' : ch));
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}
