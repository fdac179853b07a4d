/**
 * `iommu-emu groups <scenario> [--json]` (README "Groups"): the IOMMU groups Linux would make of
 * the scenario's PCI topology (src/iommu/groups.ts), each with why its devices are together.
 */
import type { Command } from "commander";
import { InputError } from "../errors.ts";
import { readTextFile } from "../io/input.ts";
import { parseScenario } from "../scenario.ts";
import { computeGroups } from "../iommu/groups.ts";
import type { IommuGroup } from "../iommu/types.ts";
import { formatBdf } from "../trace/events.ts";
import { resolveScenarioArg } from "./examples.ts";

/** The groups of a scenario file; a scenario without `topology` is an InputError (there is nothing to group). */
export function groupsOfScenario(file: string): IommuGroup[] {
  const { scenario, located } = parseScenario(readTextFile(file, "a scenario (JSON)"), file);
  if (!scenario.topology) {
    const at = located.at.get("");
    throw new InputError(`(top level): no "topology" key: groups are computed from the scenario's PCI topology (README "Scenario format")`, file, at?.line, at?.column);
  }
  return computeGroups(scenario.topology);
}

/** The text `groups` prints: per group, a line with its id and devices, then why. */
export function formatGroups(groups: readonly IommuGroup[]): string {
  return groups.map((g) => `group ${g.id}: ${g.devices.map(formatBdf).join(" ")}\n  why: ${g.why}\n`).join("\n");
}

/** What `groups --json` prints: `{ "groups": [ { "id", "devices" (BDF strings), "why" } ] }`. */
export function groupsJson(groups: readonly IommuGroup[]): string {
  return JSON.stringify({ groups: groups.map((g) => ({ id: g.id, devices: g.devices.map(formatBdf), why: g.why })) }, null, 2) + "\n";
}

export function registerGroups(program: Command): void {
  program
    .command("groups")
    .argument("<scenario>", "scenario JSON file with a `topology`, or example:NAME for a bundled example")
    .option("--json", 'print { "groups": [ { "id", "devices", "why" } ] } instead of text')
    .action((scenario: string, opts: { json?: boolean }) => {
      const groups = groupsOfScenario(resolveScenarioArg(scenario));
      process.stdout.write(opts.json ? groupsJson(groups) : formatGroups(groups));
    });
}
