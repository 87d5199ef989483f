import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import App from "../App.svelte";
import { FakeIpc, makeItem } from "../lib/fake-ipc";
import { setIpc } from "../lib/ipc";
import ConnectModel from "./ConnectModel.svelte";
import SettingsDialog from "./SettingsDialog.svelte";

// jsdom has no <dialog> behaviour.
HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
  this.open = true;
};

const workspace = {
  info: { root: "/code/demo", name: "demo", git: null },
  settled: [],
  project: { id: 1, path: "/code/demo", name: "demo", opened_at: 0 },
  session: {
    id: 1,
    project_id: 1,
    title: "t",
    slot: "fast" as const,
    agent: null,
    created_at: 0,
    updated_at: 0,
  },
  items: [makeItem({ id: 1, role: "user", text: "hard question" })],
};

describe("Settings", () => {
  it("saves a key to the keychain, tests the connection, and saves the slots", async () => {
    const fake = new FakeIpc();
    setIpc(fake);
    const onsaved = vi.fn();
    render(SettingsDialog, { onclose: () => {}, onsaved });
    const provider = (await screen.findByTestId("fast-provider")) as HTMLSelectElement;
    await fireEvent.change(provider, { target: { value: "cerebras" } });
    expect((screen.getByTestId("fast-model") as HTMLInputElement).value).toBe("gpt-oss-120b");
    expect(screen.getByTestId("fast-key-source").textContent).toBe("not set");

    const key = screen.getByLabelText("Fast API key");
    await fireEvent.input(key, { target: { value: "csk-123" } });
    await fireEvent.click(screen.getAllByText("Save key")[0]!);
    await waitFor(() =>
      expect(screen.getByTestId("fast-key-source").textContent).toBe("in the system keychain"),
    );
    expect(fake.keysSaved).toEqual([["cerebras", "csk-123", false]]);
    // The key is not kept in the page once saved.
    expect((key as HTMLInputElement).value).toBe("");

    await fireEvent.click(screen.getByTestId("fast-test"));
    await waitFor(() =>
      expect(screen.getByTestId("fast-result").textContent).toContain("gpt-oss-120b answered"),
    );
    expect(fake.tests[0]![0]).toEqual({ provider: "cerebras", model: "gpt-oss-120b" });

    await fireEvent.click(screen.getByTestId("settings-save"));
    await waitFor(() => expect(onsaved).toHaveBeenCalled());
    expect(fake.saved[0]!.fast).toEqual({ provider: "cerebras", model: "gpt-oss-120b" });
    expect(fake.saved[0]!.deep).toBeNull();
  });

  it("offers plain-text storage only when there is no keychain, and only when ticked", async () => {
    const fake = new FakeIpc();
    fake.settings = {
      ...fake.settings,
      fast: { provider: "cerebras", model: "x" },
      keychain_problem: "no D-Bus session",
    };
    setIpc(fake);
    render(SettingsDialog, { onclose: () => {}, onsaved: () => {} });
    expect(await screen.findByText(/No system keychain is available here/)).toBeTruthy();
    await fireEvent.input(screen.getByLabelText("Fast API key"), { target: { value: "k" } });
    const save = screen.getAllByText("Save key")[0] as HTMLButtonElement;
    expect(save.disabled).toBe(true);
    await fireEvent.click(screen.getByLabelText(/store in plain text/));
    expect(save.disabled).toBe(false);
    await fireEvent.click(save);
    await waitFor(() => expect(fake.keysSaved).toEqual([["cerebras", "k", true]]));
  });
});

describe("First run", () => {
  it("lists what it found and uses it in one click", async () => {
    const fake = new FakeIpc();
    fake.detected = [
      {
        provider: "ollama",
        name: "Ollama",
        reason: "answering at http://127.0.0.1:11434/v1",
        model: "qwen3-coder",
        models: ["qwen3-coder"],
      },
    ];
    setIpc(fake);
    const onready = vi.fn();
    render(ConnectModel, { onsettings: () => {}, onready });
    await fireEvent.click(await screen.findByTestId("use-ollama"));
    await waitFor(() => expect(onready).toHaveBeenCalled());
    expect(onready.mock.calls[0]![0].fast.model).toBe("qwen3-coder");
  });

  it("shows the connect view when a project is open but no model is", async () => {
    const fake = new FakeIpc();
    fake.snapshotValue = { ...fake.snapshotValue, workspace, fast: null };
    setIpc(fake);
    render(App);
    expect(await screen.findByTestId("connect")).toBeTruthy();
    expect(await screen.findByText(/No API keys in the usual environment variables/)).toBeTruthy();
  });
});

describe("Escalate", () => {
  it("is offered when a deep model is set, and moves the session to it", async () => {
    const fake = new FakeIpc();
    fake.snapshotValue = {
      ...fake.snapshotValue,
      workspace,
      deep: { ...fake.snapshotValue.fast!, provider: "openai", model: "gpt-5.3-codex" },
    };
    setIpc(fake);
    render(App);
    await fireEvent.click(await screen.findByTestId("escalate"));
    expect(fake.escalations).toBe(1);
    await waitFor(() =>
      expect(screen.getByTestId("active-model").textContent).toContain("gpt-5.3-codex (deep)"),
    );
    expect(screen.queryByTestId("escalate")).toBeNull();
  });
});

describe("Retry", () => {
  it("is offered on a failed last answer and answers again", async () => {
    const fake = new FakeIpc();
    fake.snapshotValue = {
      ...fake.snapshotValue,
      workspace: {
        ...workspace,
        items: [
          ...workspace.items,
          makeItem({ id: 2, text: "half", status: "failed", error: "The connection closed" }),
        ],
      },
    };
    setIpc(fake);
    render(App);
    await fireEvent.click(await screen.findByTestId("retry"));
    expect(fake.retries).toBe(1);
    await waitFor(() => expect(screen.queryByTestId("retry")).toBeNull());
  });
});

describe("Quick prompt shortcut", () => {
  it("sets a new shortcut and reports one that is taken", async () => {
    const fake = new FakeIpc();
    setIpc(fake);
    render(SettingsDialog, { onclose: () => {}, onsaved: () => {} });
    const input = (await screen.findByTestId("quick-shortcut")) as HTMLInputElement;
    expect(input.value).toBe("CommandOrControl+Shift+Space");
    await fireEvent.input(input, { target: { value: "Ctrl+Alt+K" } });
    await fireEvent.click(screen.getByTestId("quick-shortcut-save"));
    expect(await screen.findByText("Ctrl+Alt+K opens the quick prompt.")).toBeTruthy();
    expect(fake.settings.quick_shortcut).toBe("Ctrl+Alt+K");
    await fireEvent.input(input, { target: { value: "Ctrl+Shift+Taken" } });
    await fireEvent.click(screen.getByTestId("quick-shortcut-save"));
    expect(await screen.findByText(/is taken by another program/)).toBeTruthy();
    expect(fake.settings.quick_shortcut).toBe("Ctrl+Alt+K");
  });
});
