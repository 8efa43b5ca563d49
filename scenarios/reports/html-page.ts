/** esc makes text safe inside HTML and SVG. */
export const esc = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);

/** htmlPage wraps a report body in one self-contained page: inline CSS, no script, nothing fetched. */
export function htmlPage(title: string, body: string, width = 1150): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px;margin:0 0 4px}.passed{color:#238b45}.failed{color:#cb181d}.skipped{color:#777}
.meta{color:#555;margin-bottom:12px}.label{font-size:11px;fill:#444}.lane{fill:#f7f7f7}.grid{stroke:#e0e0e0}
.legend span{margin-right:12px;white-space:nowrap}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
table{border-collapse:collapse;margin-top:16px;max-width:${width}px}td{border-top:1px solid #ddd;padding:6px 8px;vertical-align:top}
tr.violated td:first-child,tr.failed td:first-child{color:#cb181d;font-weight:bold}tr.holds td:first-child,tr.passed td:first-child{color:#238b45}
pre{font-size:11px;background:#fff5f0;padding:6px;overflow-x:auto}
</style></head><body>
${body}
</body></html>
`;
}

/** clockTime renders a duration as 45 s, 2:30, 1:05:00 or 26 h: readable at every scale a run comes in. */
export function clockTime(ms: number): string {
  const s = Math.round(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)}:${pad(s % 60)}`;
  if (s < 36_000) return `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  return `${Math.round(s / 3600)} h`;
}
