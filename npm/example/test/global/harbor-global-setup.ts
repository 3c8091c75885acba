// Vitest globalSetup: one emulator for the whole run, its URL handed to the tests.
import { startEmulator } from "harbor-emulator";
import type { TestProject } from "vitest/node";

export default async function setup(project: TestProject) {
  const harbor = await startEmulator();
  project.provide("harborUrl", harbor.url);
  return () => harbor.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    harborUrl: string;
  }
}
