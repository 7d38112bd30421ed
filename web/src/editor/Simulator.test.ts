import { describe, expect, it } from "vitest";
import { asSample, describe as say, durationMs, readLines } from "./Simulator";

describe("the simulator panel", () => {
  it("takes a stored contact as a sample with its active tags, lists and fields", () => {
    const sample = asSample({
      id: "ann",
      email: "ann@example.com",
      phone: null,
      timezone: "Europe/Tallinn",
      fields: { first_name: "Ann" },
      tags: [{ tag: "pricing", active: true }, { tag: "trial", active: false }],
      lists: [{ list: "customers" }],
    });
    expect(sample).toEqual({ id: "ann", email: "ann@example.com", timezone: "Europe/Tallinn", tags: ["pricing"], lists: ["customers"], first_name: "Ann" });
  });

  it("reads events' “after” as people write durations", () => {
    expect(durationMs("30m")).toBe(30 * 60_000);
    expect(durationMs("1h 30m")).toBe(90 * 60_000);
    expect(durationMs("soon")).toBeNull();
  });

  it("reads contacts as a JSON array or one object per line, naming the line that is not JSON", () => {
    expect(readLines('[{"id": "a"}]', "contacts")).toEqual([{ id: "a" }]);
    expect(readLines('{"id": "a"}\n{"id": "b"}', "contacts")).toEqual([{ id: "a" }, { id: "b" }]);
    expect(() => readLines('{"id": "a"}\n{id}', "contacts")).toThrow(/contacts, line 2/);
  });

  it("says what happened in words", () => {
    expect(say({ at: "2026-12-07T10:00:00Z", action: "sent", channel: "sms", to: "+3725550001" })).toBe("sms sent to +3725550001");
    expect(say({ at: "2026-12-07T10:00:00Z", action: "branched", edge: "timeout" })).toBe("took “timeout”");
  });
});
