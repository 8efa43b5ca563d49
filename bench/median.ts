/** median of a non-empty list (the upper middle one for an even count), the statistic every bench reports. */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
