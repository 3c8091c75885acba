// Finds the harbor-emulator executable. A .cts file, so both builds (ESM and CommonJS) get
// a CommonJS `require` that resolves from this package's own node_modules, as esbuild does.
import fs = require("node:fs");

/** The per-platform packages and the `process.platform`-`process.arch` each serves. */
export const PLATFORM_PACKAGES: Readonly<Record<string, string>> = {
  "linux-x64": "harbor-emulator-linux-x64",
  "linux-arm64": "harbor-emulator-linux-arm64",
  "darwin-x64": "harbor-emulator-darwin-x64",
  "darwin-arm64": "harbor-emulator-darwin-arm64",
  "win32-x64": "harbor-emulator-win32-x64",
};

/** Set to an executable's path to use it instead of the per-platform package's. */
export const BINARY_ENV = "HARBOR_EMULATOR_BINARY";

export class BinaryNotFoundError extends Error {
  override name = "BinaryNotFoundError";
}

/** The path of the executable this install should run. Throws BinaryNotFoundError, whose
 * message says what to do, when there is none. */
export function binaryPath(): string {
  const override = process.env[BINARY_ENV];
  if (override) {
    if (!fs.existsSync(override)) {
      throw new BinaryNotFoundError(`${BINARY_ENV} is ${override}, which does not exist.`);
    }
    return override;
  }
  const platform = `${process.platform}-${process.arch}`;
  const pkg = PLATFORM_PACKAGES[platform];
  if (pkg === undefined) {
    throw new BinaryNotFoundError(
      `harbor-emulator has no binary for ${platform}. Build one from the Python package ` +
        `(scripts/build_binary) and set ${BINARY_ENV} to its path, or run ` +
        "`pip install harbor-emulator` and set it to the `harbor-emulator` on your PATH.",
    );
  }
  const exe = process.platform === "win32" ? "harbor-emulator.exe" : "harbor-emulator";
  try {
    return require.resolve(`${pkg}/bin/${exe}`);
  } catch {
    throw new BinaryNotFoundError(
      `The package ${pkg} is not installed, so there is no harbor-emulator binary for ` +
        `${platform}. It is an optional dependency of harbor-emulator: reinstall without ` +
        "--omit=optional / --no-optional (and, if your lockfile came from another platform, " +
        `run \`npm install ${pkg}\`), or set ${BINARY_ENV} to an executable.`,
    );
  }
}
