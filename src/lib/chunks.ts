/** D1 binds at most 100 parameters per statement; id lists are split to stay under it. */
export const IDS_PER_STATEMENT = 99;

/** Splits `items` into consecutive slices of at most `size`. */
export function chunks<T>(items: T[], size: number = IDS_PER_STATEMENT): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
