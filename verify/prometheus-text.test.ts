import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parsePrometheusText } from './prometheus-text.js';

describe('parsePrometheusText', () => {
  test('reads samples, labels, escapes and timestamps; skips comments', () => {
    const { samples, unreadable } = parsePrometheusText(
      [
        '# HELP apiserver_storage_transformation_operations_total [ALPHA] Total number of transformations.',
        '# TYPE apiserver_storage_transformation_operations_total counter',
        'apiserver_storage_transformation_operations_total{resource="secrets",status="OK",transformation_type="to_storage",transformer_prefix="k8s:enc:kms:v2:kmslab:"} 3',
        'process_start_time_seconds 1.7e+09',
        'x{a="q\\"uote\\\\back\\nline"} 1 1700000000000',
        'y{a="1",} +Inf',
        '',
      ].join('\n'),
    );
    expect(unreadable).toBe(0);
    expect(samples[0]).toEqual({
      name: 'apiserver_storage_transformation_operations_total',
      labels: {
        resource: 'secrets',
        status: 'OK',
        transformation_type: 'to_storage',
        transformer_prefix: 'k8s:enc:kms:v2:kmslab:',
      },
      value: 3,
    });
    expect(samples[1]!.value).toBe(1.7e9);
    expect(samples[2]!.labels.a).toBe('q"uote\\back\nline');
    expect(samples[3]!.value).toBe(Infinity);
  });

  test('counts lines it cannot read instead of guessing', () => {
    const { samples, unreadable } = parsePrometheusText('ok 1\nbroken{a="1" 2\n{a="b"} 3\nno_value\nx 1 2 3\n');
    expect(samples.map((s) => s.name)).toEqual(['ok']);
    expect(unreadable).toBe(4);
  });

  test('any label value survives the exporter escaping it (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.double({ noNaN: true }), (a, b, v) => {
        const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
        const line = `m{a="${esc(a)}",__proto__="${esc(b)}"} ${v}`;
        const [sample] = parsePrometheusText(line).samples;
        expect(sample?.labels.a).toBe(a);
        expect(sample?.labels.__proto__).toBe(b);
        expect(Object.is(sample?.value, v === 0 ? 0 : v) || sample?.value === v).toBe(true);
      }),
    );
  });
});
