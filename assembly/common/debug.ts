// DEBUG is true in the debug build (assertions on) and false in the release build (-O3, noAssert),
// so `if (DEBUG) assert(...)` checks internal invariants in tests and costs nothing in release.
export const DEBUG: bool = !ASC_NO_ASSERT;
