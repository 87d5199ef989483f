import { describe, expect, it } from "vitest";
import { toMentions } from "./drop.svelte";

describe("toMentions", () => {
  it("keeps files inside the project as relative mentions", () => {
    expect(
      toMentions(["/code/app/src/a.rs", "/etc/passwd", "/code/application/x"], "/code/app"),
    ).toEqual({
      mentions: ["src/a.rs"],
      outside: ["/etc/passwd", "/code/application/x"],
    });
    expect(toMentions(["C:\\code\\app\\b.ts"], "C:/code/app").mentions).toEqual(["b.ts"]);
  });
});
