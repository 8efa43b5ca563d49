/**
 * failingChecks reads the body of a verbose health endpoint (`/readyz?verbose`, `/livez?verbose`, `/healthz?verbose`)
 * and returns the names of the checks it marks failed (`[-]kms-providers failed: reason withheld` → kms-providers).
 */
export function failingChecks(body: string): string[] {
  return body
    .split('\n')
    .map((line) => /^\[-\](\S+) failed\b/.exec(line.trim())?.[1])
    .filter((name): name is string => name !== undefined);
}
