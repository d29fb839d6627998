// Validates a Teams manifest.json with the official validator of @microsoft/app-manifest
// (AppManifestUtils.validateAgainstSchema: ajv, draft-04, the formats Microsoft enables), against the
// schema shipped inside that package for the manifest's own version. Offline: the schema is read from
// disk and passed in, so the package never falls back to fetching it.
// Usage: node validate_teams_manifest.js MANIFEST_JSON   -> prints a JSON array of errors; exit 0 if valid,
// 1 if invalid, 3 if the package or the schema is missing.
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const jsRequire = createRequire(path.resolve(__dirname, "..", "js", "package.json"));

async function main() {
  const manifest = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  let pkg, entry;
  try {
    entry = jsRequire.resolve("@microsoft/app-manifest");
    pkg = jsRequire("@microsoft/app-manifest");
  } catch (err) {
    console.error(`@microsoft/app-manifest is not installed in tests/js (run make install): ${err.message}`);
    process.exit(3);
  }
  const schemaFile = path.join(
    path.dirname(entry), "json-schemas", "teams", `v${manifest.manifestVersion}`, "MicrosoftTeams.schema.json");
  if (!fs.existsSync(schemaFile)) {
    console.error(`no schema for manifestVersion ${manifest.manifestVersion}: ${schemaFile} is missing`);
    process.exit(3);
  }
  // the same clean-up the package applies to its own local schemas (regex escapes ajv rejects)
  const raw = fs.readFileSync(schemaFile, "utf8").replace(/\\a/g, "\\u0007").replace(/\\v/g, "\\u000b");
  const errors = await pkg.AppManifestUtils.validateAgainstSchema(manifest, JSON.parse(raw));
  console.log(JSON.stringify({ schema: schemaFile, errors }));
  process.exit(errors.length === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(2);
});
