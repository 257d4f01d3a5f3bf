// The resolver's per-isolate answer cache: its memory bound counts what an entry really holds.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseMessage } from "../../src/gateway/dns/codec";
import { parseQuery } from "../../src/gateway/dns/messages";
import { answerCacheUsage, clearAnswerCache, MAX_CACHE_BYTES, resolveUpstream } from "../../src/gateway/upstream";
import { routeFetch } from "../support/fetch-router";
import { dnsQuery } from "../support/dns";

const UPSTREAM = "https://upstream.test/dns-query";

/** A 64 KB answer of as many A records as fit, each owned by a pointer to the question (16 octets a record). */
function wideAnswer(query: Uint8Array): Uint8Array {
  const m = parseMessage(query);
  if (!m.ok) throw new Error(m.error);
  const questionEnd = m.value.questions[0]!.end;
  const count = Math.floor((65535 - questionEnd) / 16);
  const out = new Uint8Array(questionEnd + count * 16);
  out.set(query.subarray(0, questionEnd));
  out.set([0x81, 0x80, 0, 1, count >> 8, count & 0xff, 0, 0, 0, 0], 2);
  for (let i = 0; i < count; i++) out.set([0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 192, 0, 2, i & 0xff], questionEnd + i * 16);
  return out;
}

let restore: () => void;
beforeEach(() => {
  clearAnswerCache();
  restore = routeFetch({
    "upstream.test": async (request) => new Response(wideAnswer(new Uint8Array(await request.arrayBuffer())), { headers: { "content-type": "application/dns-message" } }),
  });
});
afterEach(() => {
  restore();
  clearAnswerCache();
});

describe("the answer cache's memory bound", () => {
  it("counts each answer's parsed records, not only its octets: 64 KB answers of ~4,000 records fill it sooner", async () => {
    for (let i = 0; i < 40; i++) {
      const q = parseQuery(dnsQuery(`n${i}.wide.test`, { edns: false }));
      if (!q.ok) throw new Error(q.error);
      const answer = await resolveUpstream({ GATEWAY_UPSTREAM: UPSTREAM }, q.value);
      expect(answer.ok && answer.ttl).toBe(256);
    }
    const usage = answerCacheUsage();
    // Octets alone: 40 × 64 KB = 2.5 MB, all 40 kept, while their ~160,000 parsed records weigh far more.
    expect(usage.cost).toBeLessThanOrEqual(MAX_CACHE_BYTES);
    expect(usage.entries).toBeLessThan(40);
    expect(usage.cost / usage.entries).toBeGreaterThan(5 * 65535);
  });
});
