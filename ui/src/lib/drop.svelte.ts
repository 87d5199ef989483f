// Files dropped on the composer, waiting to be added to the prompt as @mentions.
// (The native drop reaches the app as one window-level event; App decides where it
// landed and puts composer drops here.)
export const dropInbox = $state<{ mentions: string[] }>({ mentions: [] });

/** Paths inside `root` as project-relative mentions; the rest are reported back. */
export function toMentions(
  paths: string[],
  root: string,
): { mentions: string[]; outside: string[] } {
  const base = root.endsWith("/") ? root : `${root}/`;
  const mentions: string[] = [];
  const outside: string[] = [];
  for (const p of paths) {
    const norm = p.replace(/\\/g, "/");
    if (norm.startsWith(base)) mentions.push(norm.slice(base.length));
    else outside.push(p);
  }
  return { mentions, outside };
}
