import { render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import App from "./App.svelte";
import { FakeIpc, makeItem } from "./lib/fake-ipc";
import { setIpc } from "./lib/ipc";

describe("App", () => {
  it("welcomes with no project", async () => {
    setIpc(new FakeIpc());
    render(App);
    expect(await screen.findByTestId("welcome")).toBeTruthy();
    expect(screen.getByTestId("review-pane")).toBeTruthy();
  });

  it("shows the project, its branch, its tree and the conversation", async () => {
    const fake = new FakeIpc();
    fake.snapshotValue = {
      ...fake.snapshotValue,
      workspace: {
        info: {
          root: "/code/demo",
          name: "demo",
          git: { branch: "main", detached: false, unborn: false },
        },
        settled: [],
        project: { id: 1, path: "/code/demo", name: "demo", opened_at: 0 },
        session: {
          id: 1,
          project_id: 1,
          title: "Hello",
          slot: "fast",
          agent: null,
          created_at: 0,
          updated_at: 0,
        },
        items: [
          makeItem({ id: 1, role: "user", text: "hi" }),
          makeItem({
            id: 2,
            text: "<img src=x onerror=alert(1)>",
            status: "interrupted",
            model: "m",
            provider: "p",
          }),
        ],
      },
    };
    fake.dirs[""] = [
      { name: "src", path: "src", is_dir: true },
      { name: "Cargo.toml", path: "Cargo.toml", is_dir: false },
    ];
    setIpc(fake);
    const { container } = render(App);
    expect((await screen.findByTestId("project-name")).textContent).toBe("demo");
    expect(screen.getByTestId("git-branch").textContent).toContain("main");
    await waitFor(() => expect(screen.getByText("Cargo.toml")).toBeTruthy());
    // Model output is text: markup in it is shown, never parsed.
    const answer = screen.getByTestId("message-assistant");
    expect(answer.querySelector("img")).toBeNull();
    expect(answer.textContent).toContain("<img src=x onerror=alert(1)>");
    expect(answer.textContent).toContain("Interrupted");
    expect(container.querySelector(".title")?.textContent).toBe("Hello");
  });

  it("shows a notice from the Rust side", async () => {
    const fake = new FakeIpc();
    fake.snapshotValue = {
      ...fake.snapshotValue,
      notice: { code: "not_a_folder", message: "/x is not a folder" },
    };
    setIpc(fake);
    render(App);
    expect((await screen.findByTestId("notice")).textContent).toContain("/x is not a folder");
    expect(screen.getByTestId("notice").getAttribute("role")).toBe("alert");
  });

  it("tells of writes finished after a stop as news, not as an alarm", async () => {
    const fake = new FakeIpc();
    fake.snapshotValue = {
      ...fake.snapshotValue,
      notice: { code: "settled", message: "Flint stopped while writing files last time" },
    };
    setIpc(fake);
    render(App);
    const notice = await screen.findByTestId("notice");
    expect(notice.getAttribute("role")).toBe("status");
    expect(notice.classList.contains("info")).toBe(true);
  });
});

describe("Errors by code", () => {
  it("offers Settings for what is fixed there, and reads unknown rejections as other", async () => {
    const { asError, fixedInSettings } = await import("./lib/ipc");
    expect(fixedInSettings("bad_key")).toBe(true);
    expect(fixedInSettings("no_model")).toBe(true);
    expect(fixedInSettings("network")).toBe(false);
    expect(asError(new Error("boom"))).toEqual({ code: "other", message: "boom" });
    expect(asError({ code: "bad_key", message: "no" }).code).toBe("bad_key");
  });
});

describe("Dropping files", () => {
  it("attaches files dropped on the composer and opens anything dropped elsewhere", async () => {
    const fake = new FakeIpc();
    fake.snapshotValue = {
      ...fake.snapshotValue,
      workspace: {
        info: { root: "/code/demo", name: "demo", git: null },
        project: { id: 1, path: "/code/demo", name: "demo", opened_at: 0 },
        session: null,
        items: [],
        settled: [],
      },
    };
    setIpc(fake);
    render(App);
    const box = (await screen.findByTestId("composer")) as HTMLTextAreaElement;
    await waitFor(() => expect(fake.dropListeners.length).toBe(1));

    document.elementFromPoint = () => box;
    fake.dropListeners[0]!({ paths: ["/code/demo/src/a.rs", "/elsewhere/b.rs"], x: 10, y: 10 });
    await waitFor(() => expect(box.value).toBe("@src/a.rs "));
    expect((await screen.findByTestId("notice")).textContent).toContain(
      "left out: /elsewhere/b.rs",
    );

    document.elementFromPoint = () => document.body;
    fake.dropListeners[0]!({ paths: ["/code/other"], x: 10, y: 10 });
    await waitFor(() => expect(fake.droppedOpened).toEqual([["/code/other"]]));
  });

  it("opens a file dropped on the window in its folder and attaches it", async () => {
    const fake = new FakeIpc();
    fake.snapshotValue = {
      ...fake.snapshotValue,
      workspace: {
        info: { root: "/code/demo", name: "demo", git: null },
        project: { id: 1, path: "/code/demo", name: "demo", opened_at: 0 },
        session: null,
        items: [],
        settled: [],
      },
    };
    setIpc(fake);
    render(App);
    const box = (await screen.findByTestId("composer")) as HTMLTextAreaElement;
    await waitFor(() => expect(fake.dropListeners.length).toBe(1));
    document.elementFromPoint = () => document.body;
    fake.dropListeners[0]!({ paths: ["/code/demo/README.md"], x: 10, y: 10 });
    await waitFor(() => expect(fake.droppedOpened).toEqual([["/code/demo/README.md"]]));
    await waitFor(() => expect(box.value).toBe("@README.md "));
  });
});

describe("Keyboard shortcuts", () => {
  it("opens the sheet with ? outside a text field", async () => {
    HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
      this.open = true;
    };
    setIpc(new FakeIpc());
    render(App);
    await screen.findByTestId("welcome");
    document.body.dispatchEvent(new KeyboardEvent("keydown", { key: "?", bubbles: true }));
    expect(await screen.findByTestId("shortcut-sheet")).toBeTruthy();
    expect(screen.getByText("Apply the accepted hunks")).toBeTruthy();
  });
});
