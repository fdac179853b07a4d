// Timing events: what the functional path did for one request, in order, as small records the
// timing model (model.ts) turns into cycles afterwards (DESIGN §1, §6 item 7: translation yields
// actions; a separate model decides their time). Nothing is emitted when timing is off, so a
// functional run does no timing work at all.
//
//   event (u32) = type << 24 | a << 16 | b
//     EV_LOOKUP     a = cache id, b = 1 hit / 0 miss
//     EV_READ       a = stage (0 first, 1 second, 2 translation structure), b = spec level (1..5)
//     EV_WRITE      an accessed/dirty flag written back
//     EV_WALK       the request starts walking (needs a walker slot)
//     EV_LINK       SMMUv3: one crossing of the device-interface <-> SMMU link

export const EV_LOOKUP: u32 = 1;
export const EV_READ: u32 = 2;
export const EV_WRITE: u32 = 3;
export const EV_WALK: u32 = 4;
/** SMMUv3: one crossing of the device-interface <-> SMMU link (timing: linkLatencyCycles). */
export const EV_LINK: u32 = 5;

export const STAGE_STRUCT: u32 = 2;

const MAX_EVENTS: i32 = 256;

/** True while the timing model is on: the emit calls below record, otherwise they do nothing. */
export let timingOn: bool = false;

export function setTimingOn(on: bool): void {
  timingOn = on;
}

const events = new StaticArray<u32>(MAX_EVENTS);
export let eventCount: i32 = 0;

// @ts-ignore: decorator
@inline export function clearEvents(): void {
  eventCount = 0;
}

// @ts-ignore: decorator
@inline export function emit(type: u32, a: u32, b: u32): void {
  if (timingOn && eventCount < MAX_EVENTS) unchecked((events[eventCount++] = (type << 24) | (a << 16) | b));
}

// @ts-ignore: decorator
@inline export function eventAt(i: i32): u32 {
  return unchecked(events[i]);
}
