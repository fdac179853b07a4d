/**
 * `iommu-emu groups <scenario> [--json]` (README "Groups"): the IOMMU groups Linux would make of
 * the scenario's PCI topology (src/iommu/groups.ts), each with why its devices are together.
 */
import type { Command } from "commander";
import { InputError, quote } from "../errors.ts";
import { readTextFile } from "../io/input.ts";
import { parseScenario } from "../scenario.ts";
import { computeGroups, groupRules } from "../iommu/groups.ts";
import type { GroupRule, IommuGroup } from "../iommu/types.ts";
import { formatBdf } from "../trace/events.ts";
import { resolveScenarioArg } from "./examples.ts";

/** `--rule`'s value checked: one of groupRules. */
export function parseGroupRule(text: string): GroupRule {
  const rule = groupRules.find((r) => r === text);
  if (rule === undefined) throw new InputError(`--rule: expected ${groupRules.map((r) => quote(r)).join(" or ")} (the kernel rule that makes the IOMMU groups), got ${quote(text)}`);
  return rule;
}

/**
 * The groups of a scenario file by `rule`, else by the scenario's `groupRule`, else Linux 6.12's; a
 * scenario without `topology` is an InputError (there is nothing to group).
 */
export function groupsOfScenario(file: string, rule?: GroupRule): IommuGroup[] {
  const { scenario, located } = parseScenario(readTextFile(file, "a scenario (JSON)"), file);
  if (!scenario.topology) {
    const at = located.at.get("");
    throw new InputError(`(top level): no "topology" key: groups are computed from the scenario's PCI topology (README "Scenario format")`, file, at?.line, at?.column);
  }
  return computeGroups(scenario.topology, rule ?? scenario.groupRule);
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
    .option("--rule <rule>", `the kernel rule that makes the groups, over the scenario's groupRule: ${groupRules.join(" or ")} (default ${groupRules[0]})`)
    .action((scenario: string, opts: { json?: boolean; rule?: string }) => {
      const groups = groupsOfScenario(resolveScenarioArg(scenario), opts.rule === undefined ? undefined : parseGroupRule(opts.rule));
      process.stdout.write(opts.json ? groupsJson(groups) : formatGroups(groups));
    });
}
