// How a walk uses the walk caches (paging-structure caches): resume below the deepest cached
// non-leaf entry, walk, then cache what the walk read. Installed as the architecture's cached-walk
// port (arch/ports.ts), which nested walks also use for their stage-2 translations. Without walk
// caches it is exactly walk(ws).
import { WalkState, W_OK } from "../arch/pagetable/walk-state";
import { walk } from "../arch/pagetable/walker";
import { walkCacheResume, walkCacheFill } from "../uarch/caches";
import { hintRecord } from "./prefetch";

/** Walks in progress: a nested walk's stage-2 walks run inside its first-stage walk. */
let depth: u32 = 0;

export function walkThroughCaches(ws: WalkState): u32 {
  walkCacheResume(ws);
  depth++;
  const f = walk(ws);
  depth--;
  ws.resumeLevel = -1;
  if (f == W_OK) {
    walkCacheFill(ws);
    if (depth == 0) hintRecord(ws);
  }
  return f;
}
