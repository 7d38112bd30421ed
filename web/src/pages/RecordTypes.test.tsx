import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { fakeService } from "../testing/service";
import { RecordTypeForm } from "./RecordTypes";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const CONTRACT = { type: "contract", declared: true, fields: { end_date: "date" }, records: 88, contacts: 60 };

describe("the record type form", () => {
  it("declares a new type's fields and their types", async () => {
    const requests = fakeService(201, {});
    const done = vi.fn();
    render(<RecordTypeForm initial={{ type: "", declared: false, fields: {}, records: 0, contacts: 0 }} onDone={done} />);
    fireEvent.change(screen.getByLabelText("Record type name"), { target: { value: "order" } });
    fireEvent.click(screen.getByText("+ field"));
    fireEvent.change(screen.getByLabelText("Field 1 name"), { target: { value: "total" } });
    fireEvent.change(screen.getByLabelText("Field 1 type"), { target: { value: "number" } });
    fireEvent.click(screen.getByText("+ field"));
    fireEvent.change(screen.getByLabelText("Field 2 name"), { target: { value: "placed_at" } });
    fireEvent.change(screen.getByLabelText("Field 2 type"), { target: { value: "date" } });
    fireEvent.click(screen.getByText("Save record type"));
    await waitFor(() => expect(done).toHaveBeenCalledWith(true));
    expect(requests).toEqual([{ method: "PUT", url: "/api/record-types/order", body: { fields: { total: "number", placed_at: "date" } } }]);
  });

  it("shows the service's refusal under the field it names", async () => {
    fakeService(422, { error: { code: "invalid", message: "1 problem", details: [{ field: "fields.end_date", message: "88 stored records do not read as date" }] } });
    const done = vi.fn();
    render(<RecordTypeForm initial={CONTRACT} onDone={done} />);
    fireEvent.click(screen.getByText("Save record type"));
    const alert = await screen.findByText("88 stored records do not read as date");
    expect(alert.closest(".field")?.querySelector("input")?.value).toBe("end_date");
    expect(done).not.toHaveBeenCalled();
  });
});
