import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { fakeService } from "../testing/service";
import { useState } from "react";
import { SendRulesForm, type Rules } from "../components/SendRules";
import { PolicyForm } from "./Policy";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const WORKSPACE = {
  default_timezone: "Europe/Tallinn",
  channels: { email: { window: { start: "08:00", end: "21:00" } } },
  calendars: { shutdown: ["2026-12-24"] },
};

describe("the send policy form", () => {
  it("saves SMS hours, days, a cap, a throttle and a closed day as the policy file's JSON", async () => {
    const requests = fakeService(200, WORKSPACE);
    const saved = vi.fn();
    render(<PolicyForm initial={WORKSPACE} readOnly={false} onSaved={saved} />);

    fireEvent.click(screen.getByLabelText("SMS: only send between"));
    fireEvent.change(screen.getByLabelText("SMS window opens"), { target: { value: "10:00" } });
    fireEvent.click(within(screen.getByRole("group", { name: "SMS window days" })).getByLabelText("sun"));
    fireEvent.click(screen.getByLabelText("SMS: at most"));
    fireEvent.change(screen.getByLabelText("SMS cap: messages"), { target: { value: "2" } });
    fireEvent.change(screen.getByLabelText("SMS cap: when reached"), { target: { value: "defer" } });
    fireEvent.click(screen.getByLabelText("SMS: throttle to"));
    fireEvent.change(screen.getByLabelText("SMS throttle: messages"), { target: { value: "50" } });
    const holidays = screen.getByLabelText("SMS: no sends on (calendars)");
    fireEvent.change(holidays, { target: { value: "public, shutdown" } });
    fireEvent.blur(holidays);
    fireEvent.change(screen.getByLabelText("Calendar 1 dates"), { target: { value: "2026-12-24, 2026-12-31" } });
    fireEvent.click(screen.getByText("Save policy"));

    await waitFor(() => expect(saved).toHaveBeenCalled());
    expect(requests).toEqual([
      {
        method: "PUT",
        url: "/api/policy",
        body: {
          default_timezone: "Europe/Tallinn",
          channels: {
            email: { window: { start: "08:00", end: "21:00" } },
            sms: {
              window: { start: "10:00", end: "20:00", days: ["mon", "tue", "wed", "thu", "fri", "sat"] },
              cap: { max: 2, per: "7d", then: "defer" },
              throttle: { max: 50, per: "1s" },
              holidays: ["public", "shutdown"],
            },
          },
          calendars: { shutdown: ["2026-12-24", "2026-12-31"] },
        },
      },
    ]);
  });

  it("shows the service's refusal under the input it is about and keeps what was typed", async () => {
    fakeService(422, {
      error: { code: "invalid_policy", message: "The policy has 1 problem", details: [{ field: "channels.email.window.start", message: "'25:00' is not a time of day (HH:MM)" }] },
    });
    const saved = vi.fn();
    render(<PolicyForm initial={WORKSPACE} readOnly={false} onSaved={saved} />);
    fireEvent.change(screen.getByLabelText("E-mail window opens"), { target: { value: "25:00" } });
    fireEvent.click(screen.getByText("Save policy"));

    const alert = await screen.findByText("'25:00' is not a time of day (HH:MM)");
    expect(alert.closest(".field")?.querySelector("label")?.textContent).toBe("E-mail: only send between");
    expect((screen.getByLabelText("E-mail window opens") as HTMLInputElement).value).toBe("25:00");
    expect(saved).not.toHaveBeenCalled();
  });

  it("cannot be saved while the policy comes from a file", () => {
    render(<PolicyForm initial={WORKSPACE} readOnly onSaved={() => undefined} />);
    // Inside a disabled fieldset, every input and button is disabled.
    expect(screen.getByLabelText("Default time zone").matches(":disabled")).toBe(true);
    expect(screen.getByText("Save policy").matches(":disabled")).toBe(true);
  });
});

describe("a channel's send rules", () => {
  function Harness({ seen }: { seen: { rules?: Rules } }) {
    const [rules, setRules] = useState<Rules | undefined>({ pace: { days: 2 } });
    seen.rules = rules;
    return <SendRulesForm label="Push" value={rules} onChange={setRules} problem={() => undefined} />;
  }

  it("spreads sends over a span and, with its last rule removed, leaves the channel to the level above", () => {
    const seen: { rules?: Rules } = {};
    render(<Harness seen={seen} />);
    fireEvent.change(screen.getByLabelText("Push spread: how"), { target: { value: "over" } });
    fireEvent.change(screen.getByLabelText("Push spread: span"), { target: { value: "3d" } });
    expect(seen.rules).toEqual({ pace: { over: "3d" } });
    fireEvent.click(screen.getByLabelText("Push: spread sends over"));
    expect(seen.rules).toBeUndefined();
  });
});
