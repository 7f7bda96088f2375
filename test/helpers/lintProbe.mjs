// Lints texts as if they were given files of the project, with the project's ESLint config, outside Jest (whose
// module system cannot load the config's ESM). Input on stdin: [{ file, text }]; output: one array of
// { ruleId, message } lists, in order.
import { Buffer } from 'node:buffer';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const probes = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const eslint = new ESLint({ cwd: root });
const out = [];
for (const { file, text } of probes) {
  const [result] = await eslint.lintText(text, { filePath: path.join(root, file) });
  out.push((result?.messages ?? []).map((m) => ({ ruleId: m.ruleId, message: m.message })));
}
process.stdout.write(JSON.stringify(out));
