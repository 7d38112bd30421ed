import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import type { Problem } from "../api/types";
import { Inspector } from "./Inspector";
import type { AnyNode } from "./model";

afterEach(cleanup);

function inspect(initial: Record<string, unknown>, problems: Problem[] = []) {
  const seen: { node?: AnyNode; renamed?: [string, string] } = {};
  function Harness() {
    const [node, setNode] = useState(initial as AnyNode);
    seen.node = node;
    return (
      <Inspector
        node={node}
        problems={problems}
        onChange={setNode}
        onRename={(from, to) => {
          seen.renamed = [from, to];
          return to === "taken" ? "Another node is already called taken." : null;
        }}
      />
    );
  }
  render(<Harness />);
  return seen;
}

describe("the inspector", () => {
  it("edits an email's subject and body", () => {
    const seen = inspect({ id: "hello", type: "send_email", subject: "", html: "" });
    fireEvent.change(screen.getByLabelText("Subject"), { target: { value: "Hi {{contact.first_name}}" } });
    fireEvent.change(screen.getByLabelText("Body (HTML)"), { target: { value: "<p>Welcome</p>" } });
    expect(seen.node).toMatchObject({ id: "hello", type: "send_email", subject: "Hi {{contact.first_name}}", html: "<p>Welcome</p>" });
  });

  it("shows the service's problem under the field it is about", () => {
    inspect({ id: "hello", type: "send_email", subject: "", html: "" }, [{ node: "hello", field: "subject", message: "must not be empty" }]);
    const subject = screen.getByLabelText("Subject");
    expect(subject.getAttribute("aria-describedby")).toBeTruthy();
    expect(document.getElementById(subject.getAttribute("aria-describedby")!)!.textContent).toBe("must not be empty");
  });

  it("lists problems about no field at the top", () => {
    inspect({ id: "read", type: "wait_for_event", event: "opened", timeout: "2h" }, [{ node: "read", message: "has no outgoing edge" }]);
    expect(screen.getByLabelText("Problems on this node").textContent).toContain("has no outgoing edge");
  });

  it("takes a wait's duration as people write it", () => {
    const seen = inspect({ id: "pause", type: "wait", duration: "1d" });
    fireEvent.change(screen.getByLabelText("Wait for"), { target: { value: "2h 30m" } });
    expect(seen.node?.duration).toBe("2h 30m");
  });

  it("gives a send its own window on chosen days", () => {
    const seen = inspect({ id: "nudge", type: "send_sms", text: "Hi" });
    fireEvent.click(screen.getByLabelText("Own send window"));
    fireEvent.change(screen.getByLabelText("Window opens"), { target: { value: "10:00" } });
    fireEvent.click(screen.getByLabelText("sat"));
    expect(seen.node?.window).toEqual({ start: "10:00", end: "20:00", days: ["sat"] });
  });

  it("adds an arm to a split and shows each arm's share", () => {
    const seen = inspect({ id: "ab", type: "split", arms: [{ name: "a", weight: 50 }, { name: "b", weight: 50 }] });
    fireEvent.click(screen.getByText("+ arm"));
    expect(seen.node?.arms).toEqual([{ name: "a", weight: 50 }, { name: "b", weight: 50 }, { name: "c", weight: 50 }]);
    expect(screen.getAllByText("33%")).toHaveLength(3);
  });

  it("schedules an audience every day at 10:00 in each contact's own time", () => {
    const seen = inspect({ id: "daily", type: "segment_entry", segments: ["Recent interest"] });
    fireEvent.click(screen.getByLabelText(/Repeat on a schedule/));
    expect(seen.node?.schedule).toEqual({ rrule: "FREQ=DAILY", at: "10:00", timezone: "contact" });
    fireEvent.change(screen.getByLabelText("Common schedules"), { target: { value: "FREQ=MONTHLY;BYMONTHDAY=5" } });
    fireEvent.change(screen.getByLabelText("Skip days of (calendars)"), { target: { value: "public" } });
    expect(seen.node?.schedule).toEqual({ rrule: "FREQ=MONTHLY;BYMONTHDAY=5", at: "10:00", timezone: "contact", skip: ["public"] });
  });

  it("replaces the old single list of an audience with the list of lists", () => {
    const seen = inspect({ id: "all", type: "segment_entry", list: "newsletter" });
    fireEvent.change(screen.getByLabelText("Lists"), { target: { value: "newsletter, customers" } });
    expect(seen.node).toEqual({ id: "all", type: "segment_entry", lists: ["newsletter", "customers"] });
  });

  it("refuses to rename a node to an id another node has", () => {
    const seen = inspect({ id: "done", type: "exit" });
    const id = screen.getByLabelText("Node id");
    fireEvent.change(id, { target: { value: "taken" } });
    fireEvent.blur(id);
    expect(seen.renamed).toEqual(["done", "taken"]);
    expect(screen.getByText("Another node is already called taken.")).toBeTruthy();
    expect((id as HTMLInputElement).value).toBe("done");
  });
});

describe("the webhook form", () => {
  it("adds a header by name and value, and removes it", () => {
    const seen = inspect({ id: "notify", type: "webhook", url: "https://example.com/hook", method: "POST" });
    fireEvent.click(screen.getByText("+ header"));
    fireEvent.change(screen.getByLabelText("Header 1 name"), { target: { value: "X-Shop" } });
    fireEvent.change(screen.getByLabelText("Header 1 value"), { target: { value: "{{contact.id}}" } });
    expect(seen.node?.headers).toEqual({ "X-Shop": "{{contact.id}}" });
    fireEvent.click(screen.getByLabelText("Remove header X-Shop"));
    expect(seen.node?.headers).toBeUndefined();
  });
});
