import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { useState } from "react";
import type { Condition } from "../api/types";
import { ConditionBuilder, parseScalar } from "./ConditionBuilder";

afterEach(cleanup);

/** The builder with its state, and the last condition it produced. */
function Harness({ initial, seen }: { initial: Condition; seen: { value?: Condition } }) {
  const [value, setValue] = useState(initial);
  seen.value = value;
  return <ConditionBuilder value={value} onChange={setValue} />;
}

function build(initial: Condition) {
  const seen: { value?: Condition } = {};
  render(<Harness initial={initial} seen={seen} />);
  return seen;
}

describe("the condition builder", () => {
  it("turns “tagged pricing in the last 7 days, not in customers” into the API's condition", () => {
    const seen = build({ all: [{ has_tag: "" }] } as Condition);
    fireEvent.change(screen.getAllByLabelText("Condition type")[1], { target: { value: "tag" } });
    fireEvent.change(screen.getByLabelText("Tag"), { target: { value: "pricing" } });
    fireEvent.click(screen.getByText("+ condition"));
    fireEvent.change(screen.getAllByLabelText("Condition type")[2], { target: { value: "not" } });
    fireEvent.change(screen.getAllByLabelText("Condition type")[3], { target: { value: "in_list" } });
    fireEvent.change(screen.getByLabelText("List"), { target: { value: "customers" } });
    expect(seen.value).toEqual({
      all: [{ tag: { name: "pricing", last_added: { within: "7d" } } }, { not: { in_list: "customers" } }],
    });
  });

  it("offers every form of the condition language", () => {
    build({ has_tag: "vip" } as Condition);
    const options = within(screen.getByLabelText("Condition type")).getAllByRole("option").map((o) => o.getAttribute("value"));
    expect(options).toEqual(["all", "any", "not", "has_tag", "in_list", "tag", "list", "field", "message", "records", "segment"]);
  });

  it("drops the value of a field test that only asks whether the field is set", () => {
    const seen = build({ field: { path: "contact.country", op: "eq", value: "EE" } } as Condition);
    fireEvent.change(screen.getByLabelText("Comparison"), { target: { value: "exists" } });
    expect(seen.value).toEqual({ field: { path: "contact.country", op: "exists" } });
    expect(screen.queryByLabelText("Value")).toBeNull();
  });

  it("reads numbers as numbers and lists for “is one of”", () => {
    const seen = build({ field: { path: "orders", op: "in", value: [] } } as Condition);
    fireEvent.change(screen.getByLabelText("Value"), { target: { value: "1, 2, gold" } });
    expect(seen.value).toEqual({ field: { path: "orders", op: "in", value: [1, 2, "gold"] } });
    expect(parseScalar("3.5")).toBe(3.5);
    expect(parseScalar("true")).toBe(true);
  });

  it("tests a tag's count and expiry, and removes a test set back to any", () => {
    const seen = build({ tag: { name: "pricing" } } as Condition);
    fireEvent.change(screen.getByLabelText("Times added: test"), { target: { value: "gte" } });
    fireEvent.change(screen.getByLabelText("Times added: number"), { target: { value: "3" } });
    fireEvent.change(screen.getByLabelText("Expires: when"), { target: { value: "within_next" } });
    fireEvent.change(screen.getByLabelText("Expires: span or date"), { target: { value: "3d" } });
    expect(seen.value).toEqual({ tag: { name: "pricing", count: { gte: 3 }, expires: { within_next: "3d" } } });
    fireEvent.change(screen.getByLabelText("Times added: test"), { target: { value: "" } });
    expect(seen.value).toEqual({ tag: { name: "pricing", expires: { within_next: "3d" } } });
  });

  it("tests related records by their own fields", () => {
    const seen = build({ records: { type: "contract" } } as Condition);
    fireEvent.change(screen.getByLabelText("Records that"), { target: { value: "any" } });
    expect(seen.value).toEqual({ records: { type: "contract", any: { field: { path: "status", op: "eq", value: "active" } } } });
    expect((screen.getByLabelText("Field") as HTMLInputElement).placeholder).toContain("status");
  });

  it("removes a condition from a group", () => {
    const seen = build({ any: [{ has_tag: "a" }, { has_tag: "b" }] } as Condition);
    fireEvent.click(screen.getAllByLabelText("Remove condition")[0]);
    expect(seen.value).toEqual({ any: [{ has_tag: "b" }] });
  });
});
