/** The RFC 7644 §3.4.2 ListResponse envelope, shared by `/Users`, `/Groups`, `/.search` and discovery. */

import { LIST_RESPONSE_SCHEMA } from "./registry";

/** RFC 7644 §3.4.2 ListResponse (plus RFC 9865 §2 cursors); key order follows the RFCs' examples. */
export interface ListResponse<T> {
  schemas: [typeof LIST_RESPONSE_SCHEMA];
  totalResults: number;
  /** Index paging only: a cursor-paged response has no index (RFC 9865 §2 examples carry none). */
  startIndex?: number;
  itemsPerPage: number;
  /** RFC 9865 §2: present on every cursor page but the last. */
  nextCursor?: string;
  /** RFC 9865 §2: optional, never on the first page. */
  previousCursor?: string;
  Resources: T[];
}

/** The cursors of one cursor-paged response (RFC 9865 §2). */
export interface PageCursors {
  nextCursor?: string;
  previousCursor?: string;
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

/** Build a cursor-paged ListResponse (RFC 9865 §2): no `startIndex`; each cursor only when given. */
export function cursorListResponse<T>(resources: T[], totalResults: number, cursors: PageCursors): ListResponse<T> {
  return {
    schemas: [LIST_RESPONSE_SCHEMA],
    totalResults,
    itemsPerPage: resources.length,
    ...(cursors.previousCursor !== undefined ? { previousCursor: cursors.previousCursor } : {}),
    ...(cursors.nextCursor !== undefined ? { nextCursor: cursors.nextCursor } : {}),
    Resources: resources,
  };
}
