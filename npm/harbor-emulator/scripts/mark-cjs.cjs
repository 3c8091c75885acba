// The package is "type": "module"; dist/cjs/*.js are CommonJS and need the nearest
// package.json to say so, for node and for TypeScript's reading of dist/cjs/*.d.ts alike.
const fs = require("node:fs");
const path = require("node:path");
fs.writeFileSync(path.join(__dirname, "..", "dist", "cjs", "package.json"), '{"type": "commonjs"}\n');
