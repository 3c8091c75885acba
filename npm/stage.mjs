// Lays out one npm package to pack, for scripts/build_npm:
//   node npm/stage.mjs main     <out-dir> <version>
//   node npm/stage.mjs platform <out-dir> <version> <os-cpu> <build>
// <build> is the one-dir build's folder (its executable and _internal/ go into bin/), or a
// one-file executable.
// The main package's package.json gets the release version and one optionalDependency
// per platform package at that same version: npm installs the one whose os/cpu match.
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const mainSource = join(here, "harbor-emulator");
const [kind, out, version, platform, build] = process.argv.slice(2);
const source = JSON.parse(readFileSync(join(mainSource, "package.json"), "utf8"));
const PLATFORMS = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "win32-x64"];

function write(dir, pkg, readme) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(join(dir, "README.md"), readme);
}

// npm's provenance check wants `repository` to name the repository that built the package;
// in GitHub Actions that is $GITHUB_REPOSITORY.
const repository = process.env.GITHUB_REPOSITORY
  ? { type: "git", url: `git+https://github.com/${process.env.GITHUB_REPOSITORY}.git` }
  : source.repository;
const common = { version, license: source.license, repository };

if (kind === "main") {
  const dir = join(out, "harbor-emulator");
  const { scripts, devDependencies, ...rest } = source;
  const pkg = {
    ...rest,
    ...common,
    optionalDependencies: Object.fromEntries(PLATFORMS.map((p) => [`harbor-emulator-${p}`, version])),
  };
  write(dir, pkg, readFileSync(join(mainSource, "README.md"), "utf8"));
  for (const part of ["bin", "dist"]) cpSync(join(mainSource, part), join(dir, part), { recursive: true });
  console.log(dir);
} else if (kind === "platform") {
  if (!PLATFORMS.includes(platform)) throw new Error(`unknown platform ${platform}; one of ${PLATFORMS}`);
  const [os, cpu] = platform.split("-");
  const name = `harbor-emulator-${platform}`;
  const dir = join(out, name);
  const exe = os === "win32" ? "harbor-emulator.exe" : "harbor-emulator";
  write(
    dir,
    {
      name,
      ...common,
      description: `The harbor-emulator executable for ${platform}; installed by the harbor-emulator package.`,
      os: [os],
      cpu: [cpu],
      // A PyInstaller build links glibc: on musl (Alpine) npm skips it rather than install
      // an executable that cannot start.
      ...(os === "linux" ? { libc: ["glibc"] } : {}),
      files: ["bin"],
      // Yarn PnP: an executable must sit on disk, not inside a zip.
      preferUnplugged: true,
    },
    `# ${name}\n\nThe \`harbor-emulator\` executable for ${platform}. Install \`harbor-emulator\`, ` +
      "not this package: it picks the one for your platform.\n",
  );
  if (statSync(build).isDirectory()) {
    // npm pack leaves symbolic links out: copy what they point at (PyInstaller makes some
    // on macOS).
    cpSync(build, join(dir, "bin"), { recursive: true, dereference: true });
  } else {
    mkdirSync(join(dir, "bin"));
    copyFileSync(build, join(dir, "bin", exe));
  }
  chmodSync(join(dir, "bin", exe), 0o755);
  console.log(dir);
} else {
  throw new Error("usage: stage.mjs main|platform <out-dir> <version> [<os-cpu> <build>]");
}
