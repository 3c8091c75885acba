// Empties dist/ so a renamed source file never leaves a stale module in the tarball.
require("node:fs").rmSync(require("node:path").join(__dirname, "..", "dist"), { recursive: true, force: true });
