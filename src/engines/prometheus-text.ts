/**
 * A small parser for the Prometheus text exposition format (what vLLM's `/metrics` serves):
 * samples with their labels and values; comments, timestamps and malformed lines are skipped.
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
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (match === null) continue;
    const [, name, labelText, valueText] = match;
    if (name === undefined || valueText === undefined) continue;
    const labels = labelText === undefined ? {} : parseLabels(labelText);
    if (labels === undefined) continue;
    const value = parseValue(valueText);
    if (value === undefined) continue;
    samples.push({ name, labels, value });
  }
  return samples;
}

/** Sum of `name` over all its label sets; undefined when no sample has that name. */
export function sumSamples(samples: readonly PromSample[], name: string): number | undefined {
  let total: number | undefined;
  for (const sample of samples) {
    if (sample.name === name) total = (total ?? 0) + sample.value;
  }
  return total;
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
