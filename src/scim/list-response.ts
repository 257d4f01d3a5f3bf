/** The RFC 7644 §3.4.2 ListResponse envelope, shared by `/Users`, `/Groups`, `/.search` and discovery. */

import { LIST_RESPONSE_SCHEMA } from "./registry";

/** RFC 7644 §3.4.2 ListResponse; key order follows the RFC's examples. */
export interface ListResponse<T> {
  schemas: [typeof LIST_RESPONSE_SCHEMA];
  totalResults: number;
  startIndex: number;
  itemsPerPage: number;
  Resources: T[];
}

/**
 * Build a ListResponse. `itemsPerPage` is the number of resources in this page (RFC 7644 §3.4.2), so it
 * defaults to `resources.length`. `Resources` is always present, even empty: the RFC only requires it when
 * `totalResults` is non-zero, and an always-present array spares clients a special case.
 */
export function listResponse<T>(
  resources: T[],
  totalResults: number,
  startIndex = 1,
  itemsPerPage: number = resources.length,
): ListResponse<T> {
  return { schemas: [LIST_RESPONSE_SCHEMA], totalResults, startIndex, itemsPerPage, Resources: resources };
}
